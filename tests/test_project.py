"""The project's own files agree with each other: README and guide, params.yaml, dvc.yaml."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from ganops.dotted import flatten
from ganops.params import load_params
from ganops.recipes import load_recipe
from tests.helpers import ROOT


def _dvc_yaml() -> dict[str, Any]:
    return dict(YAML(typ="safe", pure=True).load((ROOT / "dvc.yaml").read_text()))


KEY = r"`(?:task|[a-z_0-9]+\.[a-z_0-9]+)`"  # a section's key, or the top-level `task`
# The README and the user guide: every page a command or an override may be shown on.
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _param_table_rows() -> dict[str, str]:
    """The rows of the guide's Parameters table: key -> default, as written."""
    rows = {}
    for line in (ROOT / "docs" / "parameters.md").read_text().splitlines():
        match = re.match(rf"\| ({KEY}(?:, {KEY})*) \| ([^|]+) \|", line)
        if match:
            keys = re.findall(r"`([^`]+)`", match.group(1))
            defaults = [d.strip().strip("`") for d in match.group(2).split(",")]
            rows.update(zip(keys, defaults, strict=True))
    return rows


def test_parameters_page_documents_every_param_with_its_default() -> None:
    """docs/parameters.md names every key ganops.config defines (load_params fills in any that
    params.yaml leaves out), none that is gone, each with params.yaml's value."""
    params = flatten(load_params(ROOT / "params.yaml"))
    rows = _param_table_rows()
    assert set(rows) == set(params)
    for key, value in params.items():
        shown = "null" if value is None else str(value)
        if isinstance(value, bool):
            shown = shown.lower()  # as YAML spells it
        if value == "":
            shown = "''"  # an empty string, as YAML spells it
        assert rows[key] == shown or float(rows[key]) == value, key


def _shown_overrides() -> list[tuple[str, list[str], bool]]:
    """Every set of overrides the README and the guide show, as (page, overrides, queued):
    the `-S` values of each `dvc exp run` command on any page, and each inline
    `key=value ...` span (the tables of variations). The inline spans of benchmarks.md are
    left out: each is a change to its table row's base configuration, not to params.yaml."""
    sets = []
    for page in PAGES:
        text = page.read_text()
        for block in re.findall(r"```bash\n(.*?)```", text, re.S):
            for command in block.replace("\\\n", " ").splitlines():
                words = shlex.split(command, comments=True)
                if words[:3] == ["ganops", "recipe", "run"]:  # the recipe's dvc exp run
                    words = load_recipe(ROOT, words[3]).command(words[4:])
                if words[:3] == ["dvc", "exp", "run"]:
                    overrides = [
                        words[i + 1] for i, w in enumerate(words) if w in ("-S", "--set-param")
                    ]
                    sets.append((page.name, overrides, "--queue" in words))
        if page.name != "benchmarks.md":
            spans = re.findall(r"`([a-z_]+\.[a-z_0-9]+=[^`]*)`", text)
            sets += [(page.name, span.split(), False) for span in spans]
    return [shown for shown in sets if shown[1]]


@pytest.mark.parametrize(
    ("page", "overrides", "queued"),
    _shown_overrides(),
    ids=[f"{page}: {' '.join(overrides)}" for page, overrides, _ in _shown_overrides()],
)
def test_shown_overrides_work_with_dvc_exp_run(
    page: str, overrides: list[str], queued: bool, tmp_path: Path
) -> None:
    """Each is applied the way `dvc exp run -S` applies it, and the result validates: no
    typo, no combination the config refuses, and no sweep (an unquoted comma, a `range`)
    outside `--queue`, which DVC refuses; a queued sweep validates every run it expands to."""
    from dvc.utils.hydra import apply_overrides, get_hydra_sweeps, to_hydra_overrides

    sweep = any(override.is_sweep_override() for override in to_hydra_overrides(overrides))
    assert queued or not sweep, f"{page}: a sweep without --queue, which DVC refuses"
    runs = get_hydra_sweeps({"params.yaml": overrides}) if sweep else [{"params.yaml": overrides}]
    for run in runs:
        path = tmp_path / "params.yaml"
        shutil.copy(ROOT / "params.yaml", path)
        apply_overrides(path, run["params.yaml"])
        load_params(path)


def test_stages_are_python_scripts_with_their_deps() -> None:
    stages = _dvc_yaml()["stages"]
    assert list(stages) == [
        "fetch", "preprocess", "train_evaluator", "train", "sample", "evaluate", "downstream",
    ]  # fmt: skip
    for name, stage in stages.items():
        assert stage["cmd"].startswith(f"python pipeline/{name}.py")
        assert f"pipeline/{name}.py" in stage["deps"]
        for dep in stage["deps"]:
            if "${" not in dep:
                assert (ROOT / dep).exists(), dep


def test_stage_params_are_sections_of_params_yaml() -> None:
    sections = set(load_params(ROOT / "params.yaml").model_dump())
    for stage in _dvc_yaml()["stages"].values():
        for entry in stage.get("params", []):
            assert entry.split(".")[0] in sections
    assert "sample" not in _dvc_yaml()["stages"]["train"]["params"]  # sampling never retrains
    assert "downstream" not in _dvc_yaml()["stages"]["evaluate"]["params"]


def test_mlflow_files_are_ignored_and_never_dvc_paths() -> None:
    ignored = (ROOT / ".gitignore").read_text().split()
    assert {"mlflow.db", "mlruns/", "mlartifacts/"} <= set(ignored)
    text = (ROOT / "dvc.yaml").read_text()
    assert "mlflow.db" not in text and "mlruns" not in text and "mlartifacts" not in text


def test_development_tree_names_every_module() -> None:
    """The guide's Development tree is how a newcomer finds their way: every module and
    sub-package of src/ganops is named in it, and it names none that is gone."""
    page = (ROOT / "docs" / "development.md").read_text()
    section = page[page.index("# Development") :]
    tree = section[section.index("```") + 3 : section.index("```", section.index("```") + 3)]
    words = set(re.findall(r"[\w.]+/?", tree))
    package = ROOT / "src" / "ganops"
    modules = {p.name for p in package.glob("*.py") if p.name != "__init__.py"}
    subpackages = {p.name + "/" for p in package.iterdir() if (p / "__init__.py").is_file()}
    inner = {
        p.stem
        for sub in subpackages
        for p in (package / sub).glob("*.py")
        if p.name != "__init__.py"
    }
    named = {w.rstrip(",;:") for w in words} | {w.rstrip(",;:").removesuffix(".py") for w in words}
    assert sorted((modules | subpackages | inner) - named) == []  # each file or package named
    listed = {w for w in named if w.endswith(".py") and w[0].isalpha()}
    assert sorted(listed - modules) == []


def _installed_packages() -> list[str]:
    """The packages tools/system-deps.sh installs: the first word of each line of its list."""
    script = (ROOT / "tools" / "system-deps.sh").read_text()
    listing = re.search(r'^PACKAGES="\n(.*?)^"', script, re.MULTILINE | re.DOTALL)
    assert listing, "tools/system-deps.sh: no PACKAGES list"
    return [line.split()[0] for line in listing.group(1).splitlines() if line.strip()]


def test_readme_lists_the_system_packages_make_test_installs() -> None:
    readme = (ROOT / "README.md").read_text()
    stated = re.search(r"\*\*system packages: ([^*]+)\*\*", readme)
    assert stated, "README: no **system packages: ...** line in the Quickstart"
    assert [name.strip() for name in stated.group(1).split(",")] == _installed_packages()
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^test: system-deps\b", makefile, re.MULTILINE)
    assert "tools/system-deps.sh" in makefile


def test_missing_system_packages_are_named_in_one_line(tmp_path: Path) -> None:
    """Without apt-get, the script names what is missing and how to install it, and goes on
    (the tests that need the packages then fail with the same line)."""
    bin_dir = tmp_path / "bin"  # a PATH with bash and id but no chromium and no apt-get
    bin_dir.mkdir()
    for tool in ("bash", "id"):
        (bin_dir / tool).symlink_to(shutil.which(tool) or f"/bin/{tool}")
    done = subprocess.run(
        [str(bin_dir / "bash"), str(ROOT / "tools" / "system-deps.sh")],
        env={"PATH": str(bin_dir)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0
    line = (
        "missing system packages: chromium chromium-driver shellcheck qemu-user "
        "(install them: sudo "
    )
    assert done.stderr.strip().startswith(line)
    assert len(done.stderr.strip().splitlines()) == 1
    walkthrough = (ROOT / "tools" / "walkthrough.py").read_text()
    assert '"missing system packages: chromium chromium-driver "' in walkthrough

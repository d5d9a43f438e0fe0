"""Every stage of dvc.yaml lists, among its deps, all the package code its script runs.

DVC reruns a stage only when one of its deps changes, so a module the stage script imports
(directly or not) but that no dep covers lets `dvc repro` keep a stale output after a code
change. The imports are read with `ast`, never executed, so the check needs no torch or data.
"""

from __future__ import annotations

import ast
import functools
import operator
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "ganops"
CODE_DIRS = ("src/", "pipeline/")  # deps elsewhere are data, not code


def interpolate(text: str, context: dict[str, Any]) -> str:
    """`text` with each `${a.b}` replaced by `context["a"]["b"]`, as DVC does with `vars`."""
    return re.sub(
        r"\$\{\s*([\w.]+)\s*\}",
        lambda m: str(functools.reduce(operator.getitem, m.group(1).split("."), context)),
        text,
    )


def load_stages(root: Path) -> dict[str, dict[str, Any]]:
    """The stages of `root/dvc.yaml`, with their `cmd` and `deps` interpolated from `vars`."""
    doc = YAML(typ="safe", pure=True).load((root / "dvc.yaml").read_text())
    context: dict[str, Any] = {}
    for entry in doc.get("vars", []):
        if isinstance(entry, dict):  # a string entry would name a params file: none here
            context.update(entry)
    return {
        name: {
            "cmd": interpolate(stage["cmd"], context),
            "deps": [interpolate(str(dep), context) for dep in stage.get("deps", [])],
        }
        for name, stage in doc["stages"].items()
    }


def stage_script(cmd: str) -> str:
    """The script of a `python pipeline/<name>.py ...` command (possibly folded on lines)."""
    match = re.search(r"\bpython\S*\s+(\S+\.py)\b", cmd)
    if match is None:
        raise ValueError(f"no `python <script>.py` in the stage command {cmd!r}")
    return match.group(1)


def module_file(src: Path, module: str) -> Path | None:
    """The file of a dotted module name under `src`: `a/b.py` or `a/b/__init__.py`."""
    base = src.joinpath(*module.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def package_of(path: Path, src: Path) -> str | None:
    """The package a file's relative imports start from; None for a script outside `src`."""
    if not path.is_relative_to(src):
        return None
    return ".".join(path.relative_to(src).parent.parts)


def _is_type_checking(test: ast.expr) -> bool:
    """Whether an `if` test is `TYPE_CHECKING` or `typing.TYPE_CHECKING`."""
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def run_imports(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement under `node` that can run, in functions too.

    The body of `if TYPE_CHECKING:` never runs, so its imports are skipped (its `else` runs).
    """
    if isinstance(node, ast.Import | ast.ImportFrom):
        yield node
        return
    if isinstance(node, ast.If) and _is_type_checking(node.test):
        children: list[ast.stmt] | Iterator[ast.AST] = node.orelse
    else:
        children = ast.iter_child_nodes(node)
    for child in children:
        yield from run_imports(child)


def imported_modules(node: ast.Import | ast.ImportFrom, package: str | None, src: Path) -> set[str]:
    """The modules an import statement loads (any package); `from m import x` loads m.x too
    when m/x is a module file, else x is just a name in m."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names}
    base = node.module or ""
    if node.level:
        if package is None:
            raise ValueError(f"relative import at line {node.lineno} outside a package")
        parts = package.split(".")
        if node.level > len(parts):
            raise ValueError(f"relative import at line {node.lineno} goes above {package}")
        base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
    submodules = {f"{base}.{alias.name}" for alias in node.names}
    return {base} | {name for name in submodules if module_file(src, name) is not None}


def files_run(root: Path, script: str) -> set[str]:
    """The script and every package file it runs, transitively, as paths relative to `root`.

    Importing `ganops.a.b` runs `ganops/__init__.py` and `ganops/a/__init__.py` as well.
    """
    src = root / "src"
    todo, seen = [root / script], set[Path]()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in run_imports(tree):
            for module in imported_modules(node, package_of(path, src), src):
                parts = module.split(".")
                if parts[0] != PACKAGE:
                    continue
                for depth in range(1, len(parts) + 1):
                    file = module_file(src, ".".join(parts[:depth]))
                    if file is None:  # a broken import: say so rather than miss code
                        where = f"{path.relative_to(root)}:{node.lineno}"
                        raise ValueError(f"{where} imports {module}: no such file in src/")
                    todo.append(file)
    return {path.relative_to(root).as_posix() for path in seen}


def uncovered(root: Path, script: str, deps: list[str]) -> list[str]:
    """The files `script` runs that no code dep equals or contains (as a directory)."""
    code = [dep.rstrip("/") for dep in deps if dep.startswith(CODE_DIRS)]
    return sorted(
        file
        for file in files_run(root, script)
        if not any(file == dep or file.startswith(dep + "/") for dep in code)
    )


def check_project(root: Path) -> dict[str, list[str]]:
    """For each stage of `root/dvc.yaml`, the sorted files its script runs but its deps miss."""
    return {
        name: uncovered(root, stage_script(stage["cmd"]), stage["deps"])
        for name, stage in load_stages(root).items()
    }


def test_every_module_a_stage_runs_is_one_of_its_deps() -> None:
    report = check_project(ROOT)
    problems = [f"  {stage}: {file}" for stage, files in report.items() for file in files]
    assert not problems, (
        "stages run package code that none of their deps covers, so `dvc repro` would not "
        "rerun them when it changes; add these to the stage's deps in dvc.yaml:\n"
        + "\n".join(problems)
    )


FAKE_FILES = {
    "src/ganops/__init__.py": "",
    # b is imported inside a function (it runs when called); c only for the type checker
    "src/ganops/a.py": (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from ganops import c\n"
        "def f():\n    import ganops.b\n"
    ),
    "src/ganops/b.py": "",
    "src/ganops/c.py": "",
    "src/ganops/e.py": "",  # reached only through sub/d.py, so only if d is seen as a module
    "src/ganops/sub/__init__.py": "NAME = 1\n",
    "src/ganops/sub/d.py": "from ganops.sub import NAME\nimport ganops.e\n",  # NAME: a name
    "pipeline/stage.py": "import ganops.a\nfrom ganops.sub import d\n",
}
FAKE_DVC_YAML = """\
vars:
  - paths:
      data: data/in
stages:
  stage:
    cmd: >-
      python pipeline/stage.py
      --data ${paths.data}
    deps:
      - pipeline/stage.py
      - src/ganops/a.py
      - src/ganops/sub
      - ${paths.data}
"""


def test_checker_flags_a_missing_dep(tmp_path: Path) -> None:
    for name, text in FAKE_FILES.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    (tmp_path / "dvc.yaml").write_text(FAKE_DVC_YAML)
    # __init__.py runs with any ganops import; c.py never runs; sub/ covers sub/d.py
    missing = ["src/ganops/__init__.py", "src/ganops/b.py", "src/ganops/e.py"]
    assert check_project(tmp_path) == {"stage": missing}

    fixed = FAKE_DVC_YAML + "".join(f"      - {file}\n" for file in missing)
    (tmp_path / "dvc.yaml").write_text(fixed)
    assert check_project(tmp_path) == {"stage": []}


# the train stage's deps before the fix, copied from dvc.yaml
OLD_TRAIN_DEPS = [
    "pipeline/train.py",
    "src/ganops/data/dataset.py",
    "src/ganops/models",
    "src/ganops/losses.py",
    "src/ganops/training",
    "src/ganops/sampling.py",
    "src/ganops/metrics",
    "${paths.processed}",
    "${paths.evaluator}",
]


def test_checker_flags_the_old_train_deps() -> None:
    assert "src/ganops/augment.py" in uncovered(ROOT, "pipeline/train.py", OLD_TRAIN_DEPS)


def test_dvc_lock_hashes_each_code_folder_as_git_holds_it() -> None:
    """A code folder's hash in dvc.lock counts the files git tracks there and nothing else:
    Python's bytecode (`__pycache__`, which .dvcignore leaves out) in it would make a fresh
    clone, which has none, see every stage as changed."""
    lock = YAML(typ="safe", pure=True).load((ROOT / "dvc.lock").read_text())
    tracked = subprocess.run(
        ["git", "ls-files", "src", "pipeline"], cwd=ROOT, capture_output=True, text=True,
        check=True,
    ).stdout.split()  # fmt: skip
    counted = 0
    for name, stage in lock["stages"].items():
        for dep in stage.get("deps", []):
            if dep["path"].startswith(CODE_DIRS) and dep["md5"].endswith(".dir"):
                files = [path for path in tracked if path.startswith(dep["path"] + "/")]
                assert dep["nfiles"] == len(files), (name, dep["path"], dep["nfiles"], files)
                counted += 1
    assert counted > 10  # the check read the folders it is about

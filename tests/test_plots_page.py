"""`make plots`: dvc plots show's page with Vega inlined, drawn in headless Chromium cut off
from the network: every chart drawn and titled once, every picture of dvc.yaml loaded."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from ruamel.yaml import YAML

from ganops.plots import arms_png, class_histogram_png, neighbour_sheet, per_class_png
from ganops.sampling import READABLE_PX, make_grid, save_png
from tests.helpers import ROOT, load_script
from tests.pipeline.repo import VENV, env

plots_page = load_script("tools", "plots_page")


def _top_level_plots() -> tuple[dict[str, str], list[str]]:
    """dvc.yaml's Vega plots (id -> title) and its pictures (paths)."""
    entries = YAML(typ="safe").load((ROOT / "dvc.yaml").read_text())["plots"]
    charts = {name: props["title"] for e in entries if isinstance(e, dict)
              for name, props in e.items()}  # fmt: skip
    pictures = [entry for entry in entries if isinstance(entry, str)]
    return charts, pictures


def test_every_chart_has_a_title_and_every_picture_a_place() -> None:
    charts, pictures = _top_level_plots()
    assert all(title.strip() for title in charts.values())
    assert len(set(charts.values())) == len(charts)  # no two charts alike
    for name in ("grid.png", "interpolation.png", "nearest_neighbours.png",
                 "class_histogram.png", "per_class.png", "arms.png"):  # fmt: skip
        assert any(path.endswith(name) for path in pictures), name
    # a stage-level plot is drawn again, untitled, beside the top-level one of its file
    stages = YAML(typ="safe").load((ROOT / "dvc.yaml").read_text())["stages"]
    assert [name for name, stage in stages.items() if "plots" in stage] == []


def test_the_committed_template_inlines_the_locked_versions() -> None:
    assert plots_page.template_versions() == plots_page.versions()
    text = plots_page.TEMPLATE.read_text()
    assert "{plot_divs}" in text and "{scripts}" not in text  # DVC's CDN tags never go in
    assert "<script src" not in text and "cdn.jsdelivr" not in text


def test_the_template_holds_each_library_and_its_licence(tmp_path: Path) -> None:
    """Built from a stand-in node_modules: each library inline in the order it needs,
    a `</script` inside one cannot end its element, the licences are kept."""
    for name, build in plots_page.LIBRARIES.items():
        package = tmp_path / name
        (package / build).parent.mkdir(parents=True)
        (package / build).write_text(f"var {name.replace('-', '_')} = '</script>';")
        (package / "package.json").write_text(f'{{"version": "1.2.3", "license": "BSD-{name}"}}')
        (package / "LICENSE").write_text(f"Copyright {name}")
    page = plots_page.build_template(tmp_path)
    loads = [page.index(f"var {name.replace('-', '_')} =") for name in plots_page.LIBRARIES]
    assert loads == sorted(loads)
    assert page.count("</script>") == page.count("<script>")
    assert all(f"Copyright {name}" in page for name in plots_page.LIBRARIES)
    assert "vega@1.2.3 vega-lite@1.2.3 vega-embed@1.2.3" in page
    shutil.rmtree(tmp_path / "vega-lite")
    with pytest.raises(plots_page.PlotsPageError, match=r"vega-lite.*npm ci"):
        plots_page.build_template(tmp_path)


def _workspace(repo: Path) -> None:
    """A DVC workspace with this project's dvc.yaml and Makefile, the template, and a file
    at every plot's path: the training curves' heads from git, the rest as the stages make
    them (small)."""
    repo.mkdir()
    for name in ("dvc.yaml", "Makefile", "tools/plots_template.html"):
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, repo / name)
    subprocess.run([sys.executable, "-m", "dvc", "init", "--no-scm", "-q"], cwd=repo,
                   check=True, env=env())  # fmt: skip
    for name in ("history.tsv", "fid.tsv"):
        rows = (ROOT / "data" / "train" / name).read_text().splitlines()[:40]
        (repo / "data" / "train").mkdir(parents=True, exist_ok=True)
        (repo / "data" / "train" / name).write_text("\n".join(rows) + "\n")
    rng = np.random.default_rng(0)
    digits = rng.integers(0, 256, (20, 1, 28, 28), dtype=np.uint8)
    share = np.full(10, 0.1)
    names = tuple(str(k) for k in range(10))
    files: dict[str, bytes | np.ndarray | str] = {
        "data/eval/plots/class_histogram.tsv": "class\tgenerated\treal\n"
        + "".join(f"{k}\t0.1\t0.1\n" for k in range(10)),
        "data/eval/plots/class_histogram.png": class_histogram_png(names, share, share),
        "data/eval/plots/per_class.tsv": "class\tdiversity\taccuracy\n"
        + "".join(f"{k}\t0.9\t0.95\n" for k in range(10)),
        "data/eval/plots/per_class.png": per_class_png(names, {"diversity": share}),
        "data/eval/plots/nearest_neighbours.png": neighbour_sheet(digits[:4], digits[4:8]),
        "data/downstream/plots/accuracy.tsv": "arm\taccuracy_mean\nreal\t0.98\n",
        "data/downstream/plots/arms.png": arms_png({"real": [0.98, 0.97]}, "accuracy"),
        "data/samples/grid.png": make_grid(digits, columns=2, min_side=READABLE_PX),
        "data/samples/interpolation.png": make_grid(digits, columns=10, min_side=READABLE_PX),
    }
    for name, content in files.items():
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(content)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            save_png(path, content)


@pytest.mark.slow
def test_make_plots_draws_every_chart_with_no_network(tmp_path: Path) -> None:
    charts, pictures = _top_level_plots()
    repo = tmp_path / "project"
    _workspace(repo)
    make = ["make", "--no-print-directory", "plots", f"VENV={VENV}", "-o", f"{VENV}/.installed"]
    done = subprocess.run(make, cwd=repo, env=env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    page = repo / "dvc_plots" / "index.html"
    # DVC's own page, for contrast: the same browser cannot fetch its Vega from the CDN
    default = subprocess.run(
        [sys.executable, "-m", "dvc", "plots", "show", "--out", "default"],
        cwd=repo, env=env(), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert default.returncode == 0, default.stderr
    with plots_page.offline_browser() as chrome:
        seen = plots_page.render(chrome, page, len(charts))
        chrome.save_screenshot(str(tmp_path / "plots.png"))
        online_only = plots_page.render(chrome, repo / "default" / "index.html", 1, timeout_s=10)
    assert seen["failed"] == []
    assert seen["charts"] == len(charts) == 7
    assert sorted(seen["titles"]) == sorted(charts.values())  # each titled, none twice
    shown = [picture["src"] for picture in seen["pictures"]]
    assert len(shown) == len(pictures)
    for path in pictures:  # DVC copies each picture beside the page, named by its path
        assert sum(src.endswith(path.replace("/", "_")) for src in shown) == 1, (path, shown)
    assert all(picture["loaded"] for picture in seen["pictures"])
    assert online_only["charts"] == 0 and online_only["titles"] == []
    assert Image.open(tmp_path / "plots.png").size[0] > 0

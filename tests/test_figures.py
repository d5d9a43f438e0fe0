"""The default's figures that the README and the guide quote are the recorded ones
(tools/figures.py writes them from data/eval/metrics.json)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.helpers import ROOT, load_script

figures = load_script("tools", "figures")


def test_every_quoted_figure_of_the_default_is_the_recorded_one() -> None:
    assert figures.stale_blocks(ROOT) == []
    quoted = {page: (ROOT / page).read_text() for page in figures.PAGES}
    for name in figures.BLOCKS:  # every block is quoted somewhere
        assert any(f"<!-- figures:{name} -->" in text for text in quoted.values()), name


def _copy(tmp_path: Path) -> Path:
    for name in (*figures.PAGES, figures.EVAL):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, tmp_path / name)
    return tmp_path


def test_a_page_that_drifts_from_the_record_is_named_and_rewritten(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    scores = json.loads((root / figures.EVAL).read_text())
    scores["fid"] = 9.876
    (root / figures.EVAL).write_text(json.dumps(scores))
    stale = ["README.md: readme-scores", "docs/benchmarks.md: default-scores"]
    assert figures.stale_blocks(root) == stale
    assert figures.main(["--check", "--root", str(root)]) == 1
    figures.main(["--write", "--root", str(root)])
    assert figures.stale_blocks(root) == []
    assert "`fid` is 9.88 against" in (root / "README.md").read_text()
    assert "| fid | 9.88 | 0.46 |" in (root / "docs/benchmarks.md").read_text()


def test_a_figure_the_record_lacks_is_a_one_line_error(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    scores = json.loads((root / figures.EVAL).read_text())
    del scores["cas"]
    (root / figures.EVAL).write_text(json.dumps(scores))
    missing = r"^data/eval/metrics.json: no 'cas', which a page quotes$"
    with pytest.raises(SystemExit, match=missing):
        figures.stale_blocks(root)

"""The UI walkthrough in a real browser (headless Chromium) on a temporary store: what a
person would check on the pages, not only that screenshots exist."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from ganops.config import Params
from ganops.sampling import READABLE_PX, make_grid
from ganops.tracking import open_run
from tests.helpers import ROOT, free_port

pytestmark = pytest.mark.slow


def _two_runs(params: Params, root: Path) -> list[str]:
    """Two finished runs with step metrics, a grid at each of three steps and a dataset."""
    names = []
    rng = np.random.default_rng(0)
    for run_number in range(2):
        with open_run(params.tracking, params, root=root) as run:
            run.log_dataset("mnist-5k", f"digest{run_number}", "test digits", {"train_images": 4})
            for step in (10, 20, 30):
                run.log_metrics(step, {"loss_d": 1.0 / step, "loss_g": 0.5 + run_number})
                images = rng.integers(0, 256, (16, 1, 28, 28), dtype=np.uint8)
                run.log_grid(step, make_grid(images, min_side=READABLE_PX))
            run.log_summary({"fid": 30.0 - run_number}, step=30)
        names.append(run.client.get_run(run.run_id).info.run_name)
    return names


def test_the_walkthrough_shows_runs_grid_and_comparison(
    mlflow_store: str, tiny_params: Callable[..., Params], workdir: Path
) -> None:
    names = _two_runs(tiny_params(), workdir)
    out = workdir / "ui"
    done = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "walkthrough.py"), "--store", mlflow_store,
         "--out", str(out), "--port", str(free_port())],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads((out / "walkthrough.json").read_text())
    for page in ("runs", "grid", "grid_full", "compare"):
        assert (out / f"{page}.png").read_bytes()[:4] == b"\x89PNG"

    runs = seen["runs"]  # the experiment's link opens its training runs, not the GenAI overview
    assert "/runs" in runs["url"] and "overview" not in runs["url"]
    assert all(name in runs["text"] for name in names)
    assert "mnist-5k" in runs["text"]  # the Dataset column

    grid = seen["grid"]  # the newest run's page, its sample grid on show
    assert names[1] in grid["text"] and "samples" in grid["text"]
    assert grid["images"] >= 1 and "No image logged" not in grid["text"]
    assert seen["grid_full"]["images"] >= 2  # the thumbnail and the grid at full size

    compare = seen["compare"]
    assert "Comparing 2 Runs" in compare["text"]
    assert all(name in compare["text"] for name in names)

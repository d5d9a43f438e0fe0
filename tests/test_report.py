"""The report's pieces without DVC runs: verdicts, rendering, revisions, paths."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ganops.errors import ConfigError, DataError
from ganops.metrics.directions import judge
from ganops.report import Comparison, PipelinePaths, Side, render, resolve_revision
from tests.helpers import ROOT


@pytest.mark.parametrize(
    ("key", "old", "new", "verdict"),
    [
        ("fid", 30.0, 20.0, "better"),
        ("fid", 20.0, 30.0, "worse"),
        ("kid_mean", 0.01, 0.01, "same"),
        ("precision", 0.5, 0.6, "better"),
        ("classes_covered", 10, 9, "worse"),
        ("nn_distance_ratio", 0.5, 1.2, "better"),  # 0.2 from 1 beats 0.5 from 1
        ("nn_distance_ratio", 1.1, 0.7, "worse"),
        ("accuracy", 0.98, 0.97, "worse"),
        ("real_floor.fid", 1.0, 2.0, ""),  # a yardstick, not a result
        ("loss_d", 0.5, 0.6, ""),  # no better direction for a GAN's losses
    ],
)
def test_verdicts_follow_each_metrics_direction(
    key: str, old: float, new: float, verdict: str
) -> None:
    assert judge(key, old, new) == verdict


def _side(label: str, commit: str, grid: bytes | None, **run: object) -> Side:
    return Side(label, commit, dict(run), grid, "" if grid else "not in DVC's cache or remote")


def test_render_shows_params_metrics_time_grids_and_runs() -> None:
    comparison = Comparison(
        baseline=_side("main", "a" * 40, None, run_id="r1", train_time_s=100.0,
                       tracking_uri="sqlite:////x/mlflow.db"),
        workspace=_side("workspace", "b" * 40, b"png", run_id="r2", train_time_s=130.5,
                        tracking_uri="http://127.0.0.1:5000", experiment_id="7"),
        params={"train.epochs": (2, 3)},
        metrics=[
            ("data/eval/metrics.json", "fid", 40.0, 30.0),
            ("data/eval/metrics.json", "recall", 0.5, 0.4),
            ("data/eval/metrics.json", "real_floor.fid", 0.5, 0.5),
            ("data/train/metrics.json", "published_step", None, 93),
        ],
    )  # fmt: skip
    report = render(comparison)
    assert "against baseline `main` (`aaaaaaaaaaaa`)" in report
    assert "| `train.epochs` | 2 | 3 |" in report
    assert "| `data/eval/metrics.json` | `fid` | 40 | 30 | -10 | better |" in report
    assert "| `data/eval/metrics.json` | `recall` | 0.5 | 0.4 | -0.1 | worse |" in report
    assert "| `real_floor.fid` | 0.5 | 0.5 | 0 |  |" in report
    assert "| `published_step` | \N{EN DASH} | 93 | new |  |" in report
    assert "100.0 s → 130.5 s (+30.5 s)" in report
    assert (
        "| unavailable (not in DVC's cache or remote) | ![workspace grid](grid_workspace.png) |"
        in report
    )
    assert "- baseline: run `r1` in `sqlite:////x/mlflow.db`" in report
    assert "- workspace: [run `r2`](http://127.0.0.1:5000/#/experiments/7/runs/r2)" in report


def test_a_portable_store_is_named_as_the_repositorys_own() -> None:
    side = _side("HEAD", "c" * 40, b"png", run_id="r3", tracking_uri="sqlite:///mlflow.db")
    report = render(Comparison(baseline=side, workspace=side, params={}))
    assert "- baseline: run `r3` in the repository's local store `mlflow.db`" in report


def test_render_with_nothing_changed() -> None:
    side = _side("HEAD", "c" * 40, b"png")
    report = render(Comparison(baseline=side, workspace=side, params={}))
    assert "No params changed." in report and "No metrics on either side." in report
    assert "Out of date" not in report
    stale = render(Comparison(baseline=side, workspace=side, params={}, stale=["train"]))
    assert "**Out of date:** the workspace's train results" in stale


def test_metrics_are_ordered_headline_first() -> None:
    from ganops.report import _metric_order

    keys = ["real_floor.fid", "num_samples", "recall", "fid", "kid_std"]
    assert sorted(keys, key=_metric_order) == [
        "fid", "recall", "kid_std", "num_samples", "real_floor.fid",
    ]  # fmt: skip


def test_revisions_resolve_and_unknown_ones_are_one_line(tmp_path: Path) -> None:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True,
                              text=True).stdout.strip()  # fmt: skip

    git("init", "-q", "-b", "main")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "x")
    head = git("rev-parse", "HEAD")
    git("update-ref", "refs/exps/ab/cdef/tidy-lark", head)  # how DVC stores an experiment
    assert resolve_revision(tmp_path, "main") == head
    assert resolve_revision(tmp_path, "tidy-lark") == head
    with pytest.raises(ConfigError, match=r"^--baseline: 'nope' is neither a git revision"):
        resolve_revision(tmp_path, "nope")


def test_paths_come_from_dvc_yaml(tmp_path: Path) -> None:
    paths = PipelinePaths.from_dvc_yaml(ROOT)
    assert (paths.grid, paths.run_record) == ("data/samples/grid.png", "data/train/run.json")
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    with pytest.raises(DataError, match=r"no vars\.paths"):
        PipelinePaths.from_dvc_yaml(tmp_path)

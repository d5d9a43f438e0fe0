"""The report's pieces without DVC runs: verdicts, rendering, revisions, paths."""

from __future__ import annotations

import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path

import pytest

from ganops.errors import ConfigError, DataError
from ganops.metrics.directions import Estimate, SeedSpread, judge, judge_with_noise
from ganops.noise import (
    RecordedSpread,
    other_seeds,
    recipe_hash,
    sweep_values,
    usable_spread,
)
from ganops.params import parse_params
from ganops.report import (
    Comparison,
    PipelinePaths,
    Side,
    local_store_holds,
    render,
    resolve_revision,
)
from tests.helpers import ROOT, write_params


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
        spread=RecordedSpread({"fid": 1.0, "recall": 0.01}, 3, "2026-11-23"),
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


@pytest.mark.parametrize(
    ("old", "new", "spread", "verdict"),
    [
        # one seed a side: the recorded spread of 3 seeds, Welch's df 4: 2.776 x sqrt(2) x 1.06
        ([27.8], [26.5], 1.06, "within noise"),
        ([27.8], [100.0], 1.06, "worse"),
        ([27.8], [20.0], 1.06, "better"),
        ([27.8], [26.5], None, "better (noise unknown)"),
        ([27.0, 28.0, 29.0], [25.0, 25.2, 24.8], None, "better"),  # means with their errors
        ([27.0, 28.0, 29.0], [27.5, 28.5, 26.5], None, "within noise"),
        ([27.0, 28.0, 29.0], [26.0], 1.06, "within noise"),  # a mean against one seed
        ([27.8], [27.8], 1.06, "same"),
        ([27.8], [26.5], 0.0, "better (noise unknown)"),  # a recorded spread of 0 judges nothing
        ([27.8, 27.8], [26.5, 26.5], None, "better (noise unknown)"),  # nor seeds that never move
        # two seeds a side: 2 FID is beyond two standard errors (1.41) but not beyond
        # Welch's t(2) = 4.30 of them (3.04)
        ([27.8, 28.8], [25.8, 26.8], None, "within noise"),
    ],
)
def test_verdicts_tell_a_change_from_noise(
    old: list[float], new: list[float], spread: float | None, verdict: str
) -> None:
    recorded = None if spread is None else SeedSpread(spread, 3)
    assert judge_with_noise("fid", Estimate.of(old), Estimate.of(new), recorded) == verdict


def test_a_report_with_seed_sweeps_compares_means() -> None:
    side = _side("HEAD", "c" * 40, b"png")
    sweeps = {
        "baseline": {"data/eval/metrics.json": {"fid": [30.0, 31.0, 29.0]}},
        "workspace": {"data/eval/metrics.json": {"fid": [20.0, 21.0, 19.0]}},
    }
    comparison = Comparison(
        baseline=side, workspace=side, params={},
        metrics=[("data/eval/metrics.json", "fid", 30.0, 20.0)], seeds=sweeps,
    )  # fmt: skip
    report = render(comparison)
    assert "| `fid` | 30 ± 0.58 (3 seeds) | 20 ± 0.58 (3 seeds) | -10 | better |" in report
    assert "Seeds a side: baseline 3, workspace 3." in report


def _revision(seed: int, fid: float, lr: float = 2e-4) -> dict[str, object]:
    params = {"train": {"seed": seed, "lr": lr}, "data": {"source": "mnist-5k"}}
    return {
        "params": {"params.yaml": {"data": params}},
        "metrics": {"data/eval/metrics.json": {"data": {"fid": fid, "real_floor": {"fid": 0.4}}}},
    }


def test_a_seed_sweep_is_read_from_dvc_exp_show() -> None:
    """`dvc exp show --json`: the workspace and a commit with its experiments; only those
    that differ from the reference in train.seed alone count, one per seed."""
    entries = [
        {"rev": "workspace", "data": _revision(0, 27.0)},
        {
            "rev": "abc",
            "data": _revision(0, 27.0),
            "experiments": [
                {"name": "s1", "revs": [{"rev": "1", "data": _revision(1, 28.0)}]},
                {"name": "s2", "revs": [{"rev": "2", "data": _revision(2, 29.0)}]},
                {"name": "other-lr", "revs": [{"rev": "3", "data": _revision(1, 50.0, 1e-3)}]},
                {"name": "failed", "revs": [{"rev": "4", "data": None, "error": {"msg": "x"}}]},
            ],
        },
    ]
    reference = {"train.seed": 0, "train.lr": 2e-4, "data.source": "mnist-5k"}
    values = sweep_values(entries, reference)
    assert values == {
        "data/eval/metrics.json": {"fid": [27.0, 28.0, 29.0], "real_floor.fid": [0.4, 0.4, 0.4]}
    }


@pytest.mark.parametrize(
    ("own", "count", "queued"),
    [(0, 3, "1,2"), (1, 3, "0,2"), (5, 3, "0,1"), (0, 2, "1"), (0, 1, "")],
)
def test_a_seed_sweep_queues_only_the_seeds_the_workspace_lacks(
    tmp_path: Path, own: int, count: int, queued: str
) -> None:
    """The workspace's own run is one of the sweep's seeds: queueing it again would train it
    twice (the train stage's persistent checkpoints keep it out of DVC's run cache)."""
    params = write_params(tmp_path / "params.yaml", {"train": {"seed": own}})
    assert other_seeds(params, count) == queued


@pytest.mark.parametrize(
    ("old", "new", "explained", "advice"),
    [
        ("cpu, 2 threads", "cpu, 8 threads", True, "`OMP_NUM_THREADS=2 dvc repro`"),
        ("cpu, AVX-512", "cpu, 2 threads", True, None),  # before the pins held across makers
        ("cpu, 2 threads", "cpu, 2 threads, kernels unpinned", True, None),
        ("cpu, 2 threads", "cuda", True, None),
        ("cpu, 2 threads", "cpu, 2 threads", False, None),  # a difference is the code's or params'
        ("", "cpu, 2 threads", False, None),  # a record from before the field: nothing to say
    ],
)
def test_other_hardware_is_named_as_a_cause_of_other_bytes(
    old: str, new: str, explained: bool, advice: str | None
) -> None:
    metrics = [("data/eval/metrics.json", "fid", 4.0, 3.5)]
    report = render(
        Comparison(
            baseline=_side("main", "a" * 40, None, run_id="r1", hardware=old),
            workspace=_side("workspace", "b" * 40, None, run_id="r2", hardware=new),
            params={},
            metrics=metrics,
        )
    )
    line = f"**Other hardware:** the baseline trained on `{old}`, the workspace on `{new}`."
    assert (line in report) is explained
    assert ("the number of threads torch splits its sums over" in report) is explained
    assert ("OMP_NUM_THREADS" in report) is (advice is not None)
    if advice:
        assert f"{advice} trains with the baseline's threads" in report


def test_a_recorded_spread_is_used_only_for_the_params_it_was_measured_on() -> None:
    default = parse_params({})
    recorded = RecordedSpread({"fid": 1.0}, 3, "2026-11-26", recipe_hash(default))
    assert usable_spread(recorded, default) == (recorded, "")
    other_seed = parse_params({"train": {"seed": 7}})  # a sweep's runs share the record
    assert usable_spread(recorded, other_seed) == (recorded, "")
    changed = parse_params({"train": {"lr": 1e-3}})
    spread, why = usable_spread(recorded, changed)
    assert spread is None
    assert why == (
        f"it was measured on params `{recipe_hash(default)}`, the baseline's are "
        f"`{recipe_hash(changed)}`"
    )
    unnamed = RecordedSpread({"fid": 1.0}, 3, "2026-11-23")  # a record from before the hash
    assert usable_spread(unnamed, default)[0] is None
    assert usable_spread(recorded, None) == (
        None,
        f"it was measured on params `{recipe_hash(default)}`, the baseline's are unreadable",
    )
    assert usable_spread(None, default) == (None, "")


def test_a_stale_spread_makes_one_seed_verdicts_say_the_noise_is_unknown() -> None:
    side = _side("main", "a" * 40, b"png")
    comparison = Comparison(
        baseline=side,
        workspace=side,
        params={},
        metrics=[("data/eval/metrics.json", "fid", 3.51, 4.9)],
        stale_spread="it was measured on params `aaaa`, the baseline's are `bbbb`",
    )
    report = render(comparison)
    assert "| `fid` | 3.51 | 4.9 | +1.39 | worse (noise unknown) |" in report
    assert "is stale (it was measured on params `aaaa`, the baseline's are `bbbb`)" in report


def test_a_run_the_local_store_does_not_hold_is_named_so(tmp_path: Path) -> None:
    store = tmp_path / "mlflow.db"
    with closing(sqlite3.connect(store)) as db:
        db.execute("CREATE TABLE runs (run_uuid TEXT)")
        db.execute("INSERT INTO runs VALUES ('here')")
        db.commit()
    local = {"tracking_uri": "sqlite:///mlflow.db"}
    assert local_store_holds(tmp_path, {**local, "run_id": "here"}) is True
    assert local_store_holds(tmp_path, {**local, "run_id": "elsewhere"}) is False
    assert local_store_holds(tmp_path / "none", {**local, "run_id": "here"}) is False
    assert local_store_holds(tmp_path, {"run_id": "x", "tracking_uri": "http://h"}) is None
    away = Side("HEAD", "c" * 40, {**local, "run_id": "elsewhere"}, b"png", in_store=False)
    report = render(Comparison(baseline=away, workspace=away, params={}))
    assert (
        "- baseline: run `elsewhere`, not in the repository's local store `mlflow.db` here "
        "(logged on another machine)" in report
    )

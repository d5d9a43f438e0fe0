"""End to end: what CI does on a pull request (`make retrain`), `ganops report` against a
commit and an experiment, and a DVC remote round trip, in a temporary git repository."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest

from ganops.noise import recipe_hash
from ganops.params import load_params
from tests.helpers import train_record, write_params
from tests.pipeline.repo import CHEAP, dvc, env, make, make_repo, runs, sh

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A repo whose last commit holds a finished tiny run; its commit id. The run is the
    cheap one (no downstream classifiers, which would train four times here: the baseline,
    the workspace, a seed and an experiment); what the report compares is the same kind."""
    repo = make_repo(tmp_path_factory.mktemp("retrain"), CHEAP)
    dvc(repo, "repro")
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "commit", "-qm", "baseline results")
    return repo, sh(repo, "git", "rev-parse", "HEAD").stdout.strip()


def _metric_row(report: str, key: str) -> list[str]:
    """The cells of the report's metrics row for `key` (in data/eval/metrics.json)."""
    for line in report.splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if len(cells) == 6 and cells[0] == "`data/eval/metrics.json`" and cells[1] == f"`{key}`":
            return cells
    raise AssertionError(f"no row for {key} in:\n{report}")


def test_make_retrain_reports_against_the_baseline(baseline: tuple[Path, str]) -> None:
    repo, commit = baseline
    base_run = train_record(repo / "data/train/run.json")["run_id"]
    measured_on = recipe_hash(load_params(repo / "params.yaml"))  # the baseline's params
    write_params(repo / "params.yaml", CHEAP | {"train": {"epochs": 3}})
    spread = {"fid": {"std": 5.0}, "precision": {"std": 0.02}}
    record = {
        "recorded": "by this test", "seeds": [0, 1, 2], "metrics": spread,
        "params_hash": measured_on,
    }  # fmt: skip
    (repo / "docs").mkdir(exist_ok=True)
    (repo / "docs" / "seed_spread.json").write_text(json.dumps(record))

    done = make(repo, "retrain", f"BASE={commit}", "SEEDS=2")  # the workspace: 2 seeds

    output = done.stdout + done.stderr
    assert "no DVC remote configured: nothing to pull" in output
    assert "Running stage 'train'" in output
    # the workspace's run is seed 0; only seed 1 is queued, not seed 0 a second time
    assert output.count("for future execution.") == 1, output
    report = (repo / "data/report/report.md").read_text()
    assert report in done.stdout  # printed as well as written
    assert "| `train.epochs` | 2 | 3 |" in report
    assert "train.lr" not in report.split("### Metrics")[0]  # only what changed
    assert "Out of date" not in report

    old = json.loads(sh(repo, "git", "show", f"{commit}:data/eval/metrics.json").stdout)
    _, _, old_cell, new_cell, change, verdict = _metric_row(report, "fid")
    assert float(old_cell) == pytest.approx(old["fid"], rel=1e-3)
    found = re.fullmatch(r"(\S+) ± (\S+) \(2 seeds\)", new_cell)  # seeds 0 and 1, the mean
    assert found, new_cell
    mean, stderr = float(found[1]), float(found[2])
    rounding = 10 ** (math.floor(math.log10(abs(mean))) - 3)  # the cell's 4 significant digits
    assert abs(float(change) - (mean - old["fid"])) <= rounding + 1e-3 * abs(float(change))
    band = 2 * (stderr**2 + 5.0**2) ** 0.5  # the baseline's one seed takes the recorded 5.0
    expected = "better" if mean < old["fid"] else "worse"
    if abs(abs(mean - old["fid"]) - band) > 0.05 * band:  # the cells are rounded
        assert verdict == (expected if abs(mean - old["fid"]) > band else "within noise")
    assert _metric_row(report, "precision")[5] in ("better", "worse", "same", "within noise")
    assert "Seeds a side: baseline 1, workspace 2." in report
    assert "recorded in `docs/seed_spread.json` (by this test, 3 seeds)" in report
    assert _metric_row(report, "real_floor.fid")[5] == ""  # a yardstick: no verdict

    assert re.search(r"\d+\.\d s → \d+\.\d s \([+-]\d+\.\d s\)", report)  # training time
    for name in ("grid_baseline.png", "grid_workspace.png"):  # the baseline's from DVC's cache
        assert f"]({name})" in report
        assert (repo / "data/report" / name).read_bytes()[:4] == b"\x89PNG"
    new_run = train_record(repo / "data/train/run.json")["run_id"]
    assert f"baseline: run `{base_run}`" in report and f"workspace: run `{new_run}`" in report
    assert {r.info.run_id for r in runs(repo)} >= {base_run, new_run}

    # the registry's champion: no version had it, so the workspace's takes it whatever the
    # verdict, which the line repeats from the report
    promoted = sh(repo, sys.executable, "-m", "ganops.cli", "promote", "--baseline", commit)
    assert promoted.stdout.startswith("ganops-generator@champion is now version ")
    assert f"(had none): fid {verdict} against {commit}" in promoted.stdout
    client = mlflow.MlflowClient(f"sqlite:///{repo / 'mlflow.db'}")
    assert client.get_model_version_by_alias("ganops-generator", "champion").run_id == new_run


def test_report_says_when_the_baseline_grid_is_unavailable(baseline: tuple[Path, str]) -> None:
    repo, commit = baseline
    cache = repo / ".dvc" / "cache"
    shutil.move(cache, repo / "cache-aside")
    try:
        sh(repo, sys.executable, "-m", "ganops.cli", "report", "--baseline", commit, "-q",
           "--out", "elsewhere/report.md")  # fmt: skip
    finally:
        shutil.move(repo / "cache-aside", cache)
    report = (repo / "elsewhere/report.md").read_text()
    assert "| unavailable (" in report
    assert not (repo / "elsewhere/grid_baseline.png").exists()


def test_a_baseline_that_is_not_a_revision_is_one_line(baseline: tuple[Path, str]) -> None:
    repo, _ = baseline
    done = subprocess.run(
        [sys.executable, "-m", "ganops.cli", "report", "--baseline", "no-such-branch"],
        cwd=repo, env=env(), capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "ganops report: error: --baseline: 'no-such-branch' is neither a git revision "
        "nor a DVC experiment"
    )


def test_report_against_an_experiment(baseline: tuple[Path, str]) -> None:
    repo, _ = baseline
    sh(repo, "git", "checkout", "-q", "--", "params.yaml")
    dvc(repo, "exp", "run", "-n", "slow-lr", "-S", "train.lr=0.0001")
    shown = json.loads(dvc(repo, "exp", "show", "--json").stdout)
    experiments = [exp for commit in shown for exp in (commit.get("experiments") or [])]
    (slow_lr,) = [exp for exp in experiments if exp.get("name") == "slow-lr"]
    record = slow_lr["revs"][0]["data"]["metrics"]["data/train/run.json"]["data"]
    by_name = {r.data.tags.get("dvc.exp_name"): r.info.run_id for r in runs(repo)}
    hashes = {r.info.run_id: r.data.tags["params.hash"] for r in runs(repo)}
    # `dvc exp show` has what the params determine, not the run id: the report finds the run
    # by its params hash
    assert "run_id" not in record and record["params_hash"] == hashes[by_name["slow-lr"]]

    dvc(repo, "exp", "apply", "slow-lr")
    sh(repo, "git", "checkout", "-q", "--", "params.yaml")  # workspace params: the default lr again
    done = sh(repo, sys.executable, "-m", "ganops.cli", "report", "--baseline", "slow-lr")
    assert "| `train.lr` | 0.0001 | 0.0005 |" in done.stdout
    # the workspace holds slow-lr's outputs under other params: the report says so
    assert "**Out of date:** the workspace's train" in done.stdout
    assert f"baseline: run `{by_name['slow-lr']}`" in done.stdout


def test_remote_round_trip_leaves_nothing_to_do(baseline: tuple[Path, str], tmp_path: Path) -> None:
    repo, _ = baseline
    sh(repo, "git", "checkout", "-q", "-f", "main")
    dvc(repo, "checkout", "--force")
    dvc(repo, "remote", "add", "-d", "storage", str(tmp_path / "remote"))
    make(repo, "push")
    sh(repo, "git", "commit", "-qam", "a DVC remote")

    clone = tmp_path / "clone"
    sh(tmp_path, "git", "clone", "-q", str(repo), str(clone))
    make(clone, "pull")
    done = dvc(clone, "repro")
    assert "Data and pipelines are up to date." in done.stdout
    for path in ("data/models/model.pt", "data/samples/grid.png"):
        assert (clone / path).read_bytes() == (repo / path).read_bytes()
    assert not (clone / "mlflow.db").exists()  # nothing ran

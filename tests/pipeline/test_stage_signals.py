"""SIGTERM and SIGINT to the real stage scripts, each started as dvc repro starts it, in a tiny
workspace with its own MLflow store: a stage stopped while its MLflow run is open marks it
KILLED, says so in one line, exits 130, and leaves what it and the earlier stages wrote.
SIGINT goes to the stage's whole process group, as a terminal's Ctrl-C does: its worker
processes get it too, and print nothing of their own."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import mlflow
import pytest

from tests.helpers import (
    ROOT,
    STAGE_ARGS,
    TRAINING_S,
    clean_env,
    run_stages_in,
    write_params,
)

pytestmark = pytest.mark.slow

# What keeps each stage's run open for seconds rather than a fraction of one, so that the
# signal lands while it is open (the store is polled until the run shows RUNNING).
SLOW: dict[str, dict[str, Any]] = {
    "sample": {"sample": {"num_samples": 20_000}},
    "evaluate": {"eval": {"cas_epochs": 10}},
    "downstream": {"downstream": {"seeds": 3, "steps": 600, "workers": 2}},
    "train": {"train": {"epochs": 4, "batch_size": 50}, "run": {"checkpoint_every": 10}},
}
STOPS = (signal.SIGTERM, signal.SIGINT)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, prepared: Path, evaluator_file: Path) -> Path:
    """A workspace through every stage after the evaluator, with the tiny params."""
    base = tmp_path_factory.mktemp("signals") / "base"
    shutil.copytree(prepared / "processed", base / "data" / "processed")
    (base / "data" / "models").mkdir()
    shutil.copy2(evaluator_file, base / "data" / "models" / "evaluator.pt")
    run_stages_in(base, ("train", "sample", "evaluate", "downstream"))
    return base


def _store(work: Path) -> str:
    return f"sqlite:///{work / 'mlflow.db'}"


def _start(work: Path, stage: str) -> subprocess.Popen[str]:
    # SIGINT as a terminal's Ctrl-C finds it: not ignored, whatever this test runner inherited
    return subprocess.Popen(
        [sys.executable, str(ROOT / "pipeline" / f"{stage}.py"), *STAGE_ARGS[stage]],
        cwd=work,
        env={**clean_env(), "MLFLOW_TRACKING_URI": _store(work), "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )


def _status(uri: str, run_id: str) -> str:
    try:
        return str(mlflow.MlflowClient(uri).get_run(run_id).info.status)
    except mlflow.exceptions.MlflowException:  # "database is locked" while the stage writes
        return ""


def _only_run(uri: str) -> mlflow.entities.Run:
    client = mlflow.MlflowClient(uri)
    (run,) = client.search_runs([e.experiment_id for e in client.search_experiments()])
    return run


def _wait_until_running(uri: str, run_id: str, process: subprocess.Popen[str]) -> None:
    """Return once the stage has (re)opened the run `run_id`."""
    deadline = time.monotonic() + TRAINING_S
    while time.monotonic() < deadline:
        assert process.poll() is None, f"ended before it was stopped:\n{process.communicate()[0]}"
        if _status(uri, run_id) == "RUNNING":
            return
        time.sleep(0.02)
    raise AssertionError(f"the run did not open within {TRAINING_S} s")


def _workers(process: subprocess.Popen[str]) -> int:
    """How many spawned worker processes (`multiprocessing`'s) the stage has now."""
    count = 0
    for entry in Path("/proc").iterdir():
        try:
            parent = (entry / "stat").read_text().rsplit(")", 1)[1].split()[1]
            command = (entry / "cmdline").read_bytes()
        except (OSError, IndexError):
            continue  # not a process, or one that ended
        count += parent == str(process.pid) and b"spawn_main" in command
    return count


def _wait_for_workers(process: subprocess.Popen[str], count: int) -> None:
    deadline = time.monotonic() + TRAINING_S
    while _workers(process) < count:
        assert time.monotonic() < deadline, f"no {count} workers within {TRAINING_S} s"
        assert process.poll() is None, f"ended before it was stopped:\n{process.communicate()[0]}"
        time.sleep(0.05)


def _stop(process: subprocess.Popen[str], stop: signal.Signals) -> list[str]:
    if stop == signal.SIGINT:
        os.killpg(process.pid, stop)  # Ctrl-C: the stage and every worker it started
    else:
        process.send_signal(stop)
    output, _ = process.communicate(timeout=TRAINING_S)
    assert process.returncode == 130, output
    assert "Traceback" not in output, output
    return output.strip().splitlines()


def _partial_files(work: Path) -> list[Path]:
    """What an interrupted atomic write would leave: its temporary files and folders."""
    return sorted(path for path in (work / "data").rglob(".*.tmp"))


def _logged(uri: str, run_id: str) -> dict[str, int]:
    """How many values each metric of the run holds."""
    client = mlflow.MlflowClient(uri)
    keys = client.get_run(run_id).data.metrics
    return {key: len(client.get_metric_history(run_id, key)) for key in keys}


@pytest.mark.parametrize("stop", STOPS, ids=lambda s: s.name)
@pytest.mark.parametrize("stage", ["sample", "evaluate", "downstream"])
def test_a_stage_stopped_while_its_run_is_open_marks_it_killed(
    trained: Path, tmp_path: Path, stage: str, stop: signal.Signals
) -> None:
    work = tmp_path / "work"
    shutil.copytree(trained, work)
    uri = _store(work)
    run_id = _only_run(uri).info.run_id
    before = _logged(uri, run_id)
    write_params(work / "params.yaml", SLOW[stage])

    process = _start(work, stage)
    _wait_until_running(uri, run_id, process)
    if stage == "downstream":  # its classifiers in two processes, stopped at their work
        _wait_for_workers(process, 2)
        time.sleep(1)
    lines = _stop(process, stop)

    said = f"{stage}: interrupted (stopped by {stop.name}); MLflow run {run_id} marked KILLED"
    assert lines[-1] == said, lines
    assert _only_run(uri).info.status == "KILLED", lines
    logged = _logged(uri, run_id)
    assert all(logged.get(key, 0) >= count for key, count in before.items()), (before, logged)
    assert _partial_files(work) == []
    if stop == signal.SIGINT:
        return  # the rerun is the same after either signal: once is enough
    # the stage runs again (with the quick params) into the same run, which ends FINISHED
    write_params(work / "params.yaml")
    process = _start(work, stage)
    output, _ = process.communicate(timeout=TRAINING_S)
    assert process.returncode == 0, output
    assert _only_run(uri).info.status == "FINISHED"


def test_train_stopped_by_sigint_checkpoints_marks_the_run_killed_and_resumes(
    trained: Path, tmp_path: Path
) -> None:
    """SIGINT, as SIGTERM in test_faults.py (which also checks the exact resume)."""
    stop = signal.SIGINT
    work = tmp_path / "work"
    work.mkdir()
    shutil.copytree(trained / "data" / "processed", work / "data" / "processed")
    shutil.copytree(trained / "data" / "models", work / "data" / "models")
    (work / "data" / "models" / "model.pt").unlink()
    write_params(work / "params.yaml", SLOW["train"])
    uri = _store(work)

    process = _start(work, "train")
    deadline = time.monotonic() + TRAINING_S
    while not (work / "data" / "checkpoints" / "last.pt").exists():
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()[0]
        time.sleep(0.02)
    lines = _stop(process, stop)

    run = _only_run(uri)
    assert run.info.status == "KILLED"
    assert lines[-1].startswith(f"train: interrupted (stopped by {stop.name} at step ")
    assert lines[-1].endswith(f"); MLflow run {run.info.run_id} marked KILLED")
    assert _partial_files(work) == []
    process = _start(work, "train")
    output, _ = process.communicate(timeout=TRAINING_S)
    assert process.returncode == 0, output
    assert _only_run(uri).info.status == "FINISHED"  # the same run, resumed and finished


def _catches_sigterm(pid: int) -> bool:
    """Whether process `pid` has a handler for SIGTERM (its stage is running, not importing)."""
    status = Path(f"/proc/{pid}/status").read_text()
    mask = next(line for line in status.splitlines() if line.startswith("SigCgt:")).split()[1]
    caught = int(mask, 16)
    return bool(caught >> (signal.SIGTERM - 1) & 1)


@pytest.mark.parametrize("stop", STOPS, ids=lambda s: s.name)
def test_train_evaluator_stopped_writes_nothing(
    trained: Path, tmp_path: Path, stop: signal.Signals
) -> None:
    """train_evaluator opens no MLflow run: stopped, it says so and writes no evaluator."""
    work = tmp_path / "work"
    work.mkdir()
    shutil.copytree(trained / "data" / "processed", work / "data" / "processed")
    write_params(work / "params.yaml", {"evaluator": {"epochs": 50}})

    process = _start(work, "train_evaluator")
    deadline = time.monotonic() + TRAINING_S
    while not _catches_sigterm(process.pid):
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()[0]
        time.sleep(0.02)
    time.sleep(1.0)  # into the training
    lines = _stop(process, stop)

    assert lines[-1] == f"train_evaluator: interrupted (stopped by {stop.name})"
    assert not (work / "data" / "models" / "evaluator.pt").exists()
    assert _partial_files(work) == []
    assert not (work / "mlflow.db").exists()

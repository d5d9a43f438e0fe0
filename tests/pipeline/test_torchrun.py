"""Data-parallel training through torchrun: two Gloo processes on CPU, launched the way
`dvc repro` does with `run.nproc: 2` (the stage reruns itself under torchrun)."""

from __future__ import annotations

import csv
import os
import random
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import mlflow
import pytest
import torch

from ganops.artifacts import load_generator
from ganops.runs.distributed import weights_digest
from tests.helpers import TRAINING_S, processes_in, train_stage, write_params

pytestmark = pytest.mark.slow

EPOCHS, BATCH = 2, 100  # 4,000 training images: 40 steps an epoch, 50 images per rank a step
DIGESTS = re.compile(r"rank (\d)/2 weights: generator sha256 (\w+), discriminator sha256 (\w+)")


def _workspace(work: Path, prepared: Path, evaluator_file: Path) -> str:
    """A workspace with the processed data, an evaluator and 2-process params; its store."""
    shutil.copytree(prepared / "processed", work / "data" / "processed")
    (work / "data" / "models").mkdir()
    shutil.copy2(evaluator_file, work / "data" / "models" / "evaluator.pt")
    # no moving average: the ranks' digests are of the live weights, which the stage then
    # publishes as they are
    train = {"epochs": EPOCHS, "batch_size": BATCH, "ema_kimg": 0}
    write_params(
        work / "params.yaml", {"train": train, "run": {"nproc": 2, "checkpoint_every": 10}}
    )
    return f"sqlite:///{work / 'mlflow.db'}"


@pytest.fixture(scope="module")
def uninterrupted(
    prepared: Path, evaluator_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, str, str]:
    """One whole 2-process run: its workspace, store and output."""
    work = tmp_path_factory.mktemp("torchrun") / "w"
    uri = _workspace(work, prepared, evaluator_file)
    process = train_stage(work, uri)
    output, _ = process.communicate(timeout=TRAINING_S)
    assert process.returncode == 0, output
    return work, uri, output


@pytest.fixture
def reference(uninterrupted: tuple[Path, str, str]) -> bytes:
    """The generator file an uninterrupted 2-process run publishes."""
    return (uninterrupted[0] / "data" / "models" / "model.pt").read_bytes()


def test_two_gloo_ranks_train_as_one_and_only_rank_0_writes(
    uninterrupted: tuple[Path, str, str],
) -> None:
    work, uri, output = uninterrupted
    assert "launching 2 training processes" in output

    # both ranks end with identical weights, and rank 0 published them
    digests = {int(rank): (g, d) for rank, g, d in DIGESTS.findall(output)}
    assert set(digests) == {0, 1}, output
    assert digests[0] == digests[1]
    generator, _ = load_generator(work / "data" / "models" / "model.pt")
    assert weights_digest(generator) == digests[0][0]

    # one MLflow run, from rank 0 only: every step once, the world size recorded
    client = mlflow.MlflowClient(uri)
    (run,) = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert run.info.status == "FINISHED"
    assert run.data.params["run.nproc"] == "2"
    assert run.data.tags["ganops.world_size"] == "2"
    total = EPOCHS * 4000 // BATCH
    steps = [m.step for m in client.get_metric_history(run.info.run_id, "train/loss_d")]
    assert sorted(steps) == list(range(1, total + 1))
    with (work / "data" / "train" / "history.tsv").open() as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    assert [int(row["step"]) for row in rows] == list(range(1, total + 1))
    assert output.count("epoch 2/2") == 1  # progress is logged by rank 0 alone


def test_a_killed_stage_takes_its_ranks_with_it_and_the_rerun_resumes_exactly(
    reference: bytes, tmp_path: Path, prepared: Path, evaluator_file: Path
) -> None:
    """kill -9 of the stage's process group (a CI timeout) used to leave torchrun's ranks,
    which start sessions of their own, training on as orphans."""
    work = tmp_path / "w"
    uri, stage = _training_in(work, prepared, evaluator_file, seed=2026)
    os.killpg(stage.pid, signal.SIGKILL)
    stage.wait(timeout=30)
    deadline = time.monotonic() + 10  # the ranks poll for their launcher every second
    while processes_in(work) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert processes_in(work) == [], "ranks outlived their launcher"
    _rerun_resumes_exactly(work, uri, reference)


def _training_in(
    work: Path, prepared: Path, evaluator_file: Path, seed: int
) -> tuple[str, subprocess.Popen[str]]:
    """A 2-process stage in the background in a new workspace, a seeded-random moment past
    its first checkpoint (step 10); the store and the stage."""
    uri = _workspace(work, prepared, evaluator_file)
    stage = train_stage(work, uri, background=True)
    deadline = time.monotonic() + TRAINING_S
    while not (work / "data" / "checkpoints" / "last.pt").exists():
        log = (work / "stage.log").read_text()
        assert stage.poll() is None and time.monotonic() < deadline, log
        time.sleep(0.2)
    time.sleep(random.Random(seed).uniform(0.0, 1.0))
    return uri, stage


def _the_run(uri: str) -> mlflow.entities.Run:
    client = mlflow.MlflowClient(uri)
    (run,) = client.search_runs([e.experiment_id for e in client.search_experiments()])
    return run


def _rerun_resumes_exactly(work: Path, uri: str, reference: bytes) -> mlflow.entities.Run:
    """Run the stage again: it resumes from the checkpoint into the same run, ends with the
    uninterrupted run's generator and logs every step once; the finished run."""
    checkpoint = work / "data" / "checkpoints" / "last.pt"
    stopped_at = torch.load(checkpoint, weights_only=True)["state"]["step"]
    rerun = train_stage(work, uri)
    output, _ = rerun.communicate(timeout=TRAINING_S)
    assert rerun.returncode == 0, output
    assert f"at step {stopped_at}/" in output  # resumed, not "that run already finished"
    assert (work / "data" / "models" / "model.pt").read_bytes() == reference
    run = _the_run(uri)
    assert run.info.status == "FINISHED"
    total = EPOCHS * 4000 // BATCH
    client = mlflow.MlflowClient(uri)
    steps = [m.step for m in client.get_metric_history(run.info.run_id, "train/loss_d")]
    assert sorted(steps) == list(range(1, total + 1))  # every step once
    return run


def _rank_pid(work: Path, rank: int) -> int:
    """The pid of training rank `rank` of the stage working in `work`."""
    for pid in processes_in(work):
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"RANK={rank}".encode() in environ:
            return pid
    raise AssertionError(f"no rank {rank} among {processes_in(work)}")


def test_a_killed_rank_stops_the_stage_and_the_rerun_resumes_exactly(
    reference: bytes, tmp_path: Path, prepared: Path, evaluator_file: Path
) -> None:
    """kill -9 of one rank (an out-of-memory kill): the stage must not hang on the dead peer."""
    work = tmp_path / "w"
    uri, stage = _training_in(work, prepared, evaluator_file, seed=16)
    os.kill(_rank_pid(work, 1), signal.SIGKILL)
    # rank 0's next collective fails at once on the closed connection; were it stuck,
    # torchrun (which checks its ranks every 0.1 s) would SIGTERM it, then SIGKILL it after
    # its 30 s shutdown timeout: the stage ends within about 30 s whatever rank 0 does
    assert stage.wait(timeout=60) == 1
    log = (work / "stage.log").read_text()
    assert "train: error: torchrun with 2 training processes failed" in log
    assert processes_in(work) == []
    assert _the_run(uri).info.status == "FAILED"  # rank 0 saw the broken collective

    run = _rerun_resumes_exactly(work, uri, reference)
    assert "error" not in run.data.tags  # it failed, then finished: the error is set aside
    assert "ganops.previous_error" in run.data.tags


def test_sigterm_to_the_launcher_checkpoints_and_ends_the_run_killed(
    reference: bytes, tmp_path: Path, prepared: Path, evaluator_file: Path
) -> None:
    """`kill PID` of the stage: torchrun passes SIGTERM to the ranks, which stop together."""
    work = tmp_path / "w"
    uri, stage = _training_in(work, prepared, evaluator_file, seed=130)
    checkpoint = work / "data" / "checkpoints" / "last.pt"
    stage.send_signal(signal.SIGTERM)
    assert stage.wait(timeout=60) == 130
    log = (work / "stage.log").read_text()
    assert "train: interrupted (torchrun's 2 training processes stopped by SIGTERM)" in log
    stopped = {int(step) for step in re.findall(r"stopped by SIGTERM at step (\d+)", log)}
    assert len(stopped) == 1, log  # both ranks stopped after the same step
    assert torch.load(checkpoint, weights_only=True)["state"]["step"] == stopped.pop()
    assert processes_in(work) == []
    assert _the_run(uri).info.status == "KILLED"

    _rerun_resumes_exactly(work, uri, reference)


# Started before the stage by Python itself (PYTHONPATH), in every process; in rank 1 alone
# it makes the 15th training step raise, as a bug or a bad device on one rank would.
FAULT = """
import os
if os.environ.get("RANK") == "1":
    import ganops.gan.loop as loop
    step, calls = loop.train_step, []
    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 15:
            raise ValueError("injected fault in rank 1 at its step 15")
        return step(*args, **kwargs)
    loop.train_step = failing
"""


def test_a_rank_that_raises_fails_the_run_with_its_reason(
    tmp_path: Path, prepared: Path, evaluator_file: Path
) -> None:
    work = tmp_path / "w"
    uri = _workspace(work, prepared, evaluator_file)
    (tmp_path / "fault").mkdir()
    (tmp_path / "fault" / "sitecustomize.py").write_text(FAULT)
    stage = train_stage(work, uri, env={"PYTHONPATH": str(tmp_path / "fault")})
    output, _ = stage.communicate(timeout=TRAINING_S)
    assert stage.returncode == 1, output
    reason = "rank 1 raised ValueError: injected fault in rank 1 at its step 15"
    assert f"first reported: {reason}" in output  # the launcher's one line
    run = _the_run(uri)
    assert run.info.status == "FAILED"
    # rank 0 only saw its collective break; what it records is rank 1's reason
    assert run.data.tags["error"] == f"PeerFailed: {reason}"


def test_a_second_training_in_a_busy_workspace_is_refused(
    tmp_path: Path, prepared: Path, evaluator_file: Path
) -> None:
    work = tmp_path / "w"
    uri = _workspace(work, prepared, evaluator_file)
    long_run = {"epochs": 100, "batch_size": BATCH}  # still training when asked
    write_params(work / "params.yaml", {"train": long_run, "run": {"nproc": 2}})
    first = train_stage(work, uri, background=True)
    try:
        lock = work / "data" / "checkpoints" / ".training.lock"
        deadline = time.monotonic() + TRAINING_S
        while not (lock.exists() and lock.read_text()):
            assert first.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        second = train_stage(work, uri)
        output, _ = second.communicate(timeout=TRAINING_S)
        assert second.returncode == 1, output
        assert "another training is running here (pid " in output
        assert first.poll() is None  # the first trains on, untouched
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=30)

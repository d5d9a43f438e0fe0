"""Training that survives faults, with the real stage in a subprocess: SIGKILL and resume,
SIGTERM, and a real `mlflow server` on 127.0.0.1 that goes away and comes back (on SQLite, and
the team's on PostgreSQL, which stays up)."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow
import pytest
import torch

from tests.helpers import (
    ROOT,
    STAGE_ARGS,
    TEAM_START_S,
    TRAINING_S,
    answers_ok,
    assert_every_step_once,
    free_port,
    last_green,
    load_script,
    run_step,
    team_server_command,
    wait_for_answer,
    write_params,
)

pytestmark = pytest.mark.slow

# Long enough to be interrupted several times (a few seconds), small enough to stay cheap.
FAULT_PARAMS: dict[str, Any] = {
    "model": {"width": 4},
    "train": {"epochs": 4, "batch_size": 50, "eval_every": 2},
    "run": {"checkpoint_every": 10},
}
CHECKPOINT = Path("data/checkpoints/last.pt")
GENERATOR = Path("data/models/model.pt")


def _workspace(base: Path, prepared: Path, evaluator_file: Path, **run: Any) -> Path:
    work = base
    work.mkdir(parents=True)
    shutil.copytree(prepared / "processed", work / "data" / "processed")
    (work / "data" / "models").mkdir()
    shutil.copy2(evaluator_file, work / "data" / "models" / "evaluator.pt")
    overrides = {**FAULT_PARAMS, "run": {**FAULT_PARAMS["run"], **run}}
    write_params(work / "params.yaml", overrides)
    return work


def _env(uri: str) -> dict[str, str]:
    env = dict(os.environ, MLFLOW_TRACKING_URI=uri, PYTHONUNBUFFERED="1")
    env.pop("DVC_EXP_NAME", None)
    return env


def _start_training(work: Path, uri: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "pipeline" / "train.py"), *STAGE_ARGS["train"]],
        cwd=work, env=_env(uri), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def _checkpoint_step(work: Path) -> int:
    payload = torch.load(work / CHECKPOINT, map_location="cpu", weights_only=True)
    return int(payload["state"]["step"])


def _wait_for_checkpoint(work: Path, process: subprocess.Popen[str], after: int) -> int:
    """Wait until the checkpoint holds a step beyond `after`; return that step."""
    deadline = time.time() + TRAINING_S
    while time.time() < deadline:
        assert process.poll() is None, process.communicate()[0]
        if (work / CHECKPOINT).exists():
            try:
                step = _checkpoint_step(work)
            except Exception:  # mid-rename on a slow filesystem: look again
                step = after
            if step > after:
                return step
        time.sleep(0.02)
    raise AssertionError(f"no new checkpoint within {TRAINING_S} s")


def _sqlite(work: Path) -> str:
    return f"sqlite:///{work / 'mlflow.db'}"


def _single_run(uri: str) -> mlflow.entities.Run:
    client = mlflow.MlflowClient(uri)
    experiments = [e.experiment_id for e in client.search_experiments()]
    (run,) = client.search_runs(experiments)
    return run


@pytest.fixture(scope="module")
def reference(
    tmp_path_factory: pytest.TempPathFactory, prepared: Path, evaluator_file: Path
) -> tuple[bytes, float]:
    """The generator of an uninterrupted run, and how long that run took."""
    work = _workspace(tmp_path_factory.mktemp("reference") / "w", prepared, evaluator_file)
    started = time.time()
    process = _start_training(work, _sqlite(work))
    output, _ = process.communicate(timeout=TRAINING_S)
    assert process.returncode == 0, output
    return (work / GENERATOR).read_bytes(), time.time() - started


def test_sigkill_three_times_and_sigterm_then_resume_is_bitwise_identical(
    reference: tuple[bytes, float], tmp_path: Path, prepared: Path, evaluator_file: Path
) -> None:
    expected, _ = reference
    work = _workspace(tmp_path / "w", prepared, evaluator_file)
    uri, rng = _sqlite(work), random.Random(2026)
    step = 0
    for _ in range(3):
        process = _start_training(work, uri)
        step = _wait_for_checkpoint(work, process, after=step)
        time.sleep(rng.uniform(0.0, 0.4))  # somewhere between two checkpoints
        assert process.poll() is None, "the run ended before it could be killed"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        step = _checkpoint_step(work)

    # SIGTERM: the current step is finished and checkpointed, the run marked KILLED
    process = _start_training(work, uri)
    _wait_for_checkpoint(work, process, after=step)
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=TRAINING_S)
    assert process.returncode == 130, output
    stopped_at = _checkpoint_step(work)
    assert f"train: interrupted (stopped by SIGTERM at step {stopped_at})" in output
    assert _single_run(uri).info.status == "KILLED"

    process = _start_training(work, uri)
    output, _ = process.communicate(timeout=TRAINING_S)
    assert process.returncode == 0, output
    assert f"at step {stopped_at}/" in output  # "resuming run ... at step N/320"
    assert (work / GENERATOR).read_bytes() == expected
    run = _single_run(uri)
    assert run.info.status == "FINISHED"
    assert_every_step_once(uri, run.info.run_id, total_steps=4 * 80, epochs=4)


class Server:
    """A real `mlflow server` on 127.0.0.1 that can be stopped and started again."""

    def __init__(self, base: Path) -> None:
        self.base, self.port = base, free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [
            sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1",
            "--port", str(self.port), "--workers", "1",
            "--backend-store-uri", f"sqlite:///{self.base / 'server.db'}",
            "--artifacts-destination", str(self.base / "server-artifacts"),
        ]  # fmt: skip
        log = (self.base / "server.log").open("ab")
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                        start_new_session=True)  # fmt: skip
        health = answers_ok(self.uri + "/health")
        wait_for_answer("mlflow server", health, self.process, self.base / "server.log")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=60)


class TeamStack:
    """The team server (`make server`: PostgreSQL behind `mlflow server`), whose MLflow
    server stops and starts again while its PostgreSQL runs on."""

    def __init__(self, base: Path) -> None:
        self.state, self.port, self.pg_port = base / "team", free_port(), free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.tool = load_script("tools", "team_server")

    def start(self) -> None:  # PostgreSQL too the first time; after, it is kept
        ports = ("--port", str(self.port), "--pg-port", str(self.pg_port))
        step = "team server start"
        done, _ = run_step(step, team_server_command(self.state, "start", *ports), TEAM_START_S)
        assert done.returncode == 0, f"{done.stdout}{done.stderr}\n{last_green(step)}"

    def stop(self) -> None:  # the MLflow server only
        assert self.tool.stop_mlflow(self.state)

    def close(self) -> None:
        subprocess.run(team_server_command(self.state, "stop"), capture_output=True, timeout=300)


@pytest.fixture(params=["sqlite", "postgres"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server | TeamStack]:
    """A tracking server to lose and get back: on SQLite, or the team's on PostgreSQL."""
    running = Server(tmp_path) if request.param == "sqlite" else TeamStack(tmp_path)
    try:
        running.start()
        yield running
    finally:
        if isinstance(running, Server):
            running.stop()
        else:
            running.close()


def test_server_lost_mid_run_then_back_loses_nothing(
    reference: tuple[bytes, float],
    server: Server | TeamStack,
    tmp_path: Path,
    prepared: Path,
    evaluator_file: Path,
) -> None:
    expected, _ = reference
    work = _workspace(tmp_path / "w", prepared, evaluator_file, checkpoint_every=0)
    process = _start_training(work, server.uri)
    step = _wait_for_checkpoint(work, process, after=0)  # epoch 1 delivered
    server.stop()
    _wait_for_checkpoint(work, process, after=step)  # epoch 2 buffered, training went on
    os.kill(process.pid, signal.SIGSTOP)  # hold training while the server comes back
    try:
        server.start()
    finally:
        os.kill(process.pid, signal.SIGCONT)
    output, _ = process.communicate(timeout=TRAINING_S)
    assert process.returncode == 0, output
    assert "unreachable" in output and "is back" in output
    assert (work / GENERATOR).read_bytes() == expected
    run = _single_run(server.uri)
    assert run.info.status == "FINISHED"
    assert_every_step_once(server.uri, run.info.run_id, total_steps=4 * 80, epochs=4)
    assert not (work / "mlflow.db").exists()  # nothing needed the local store


def test_server_down_at_the_start_is_a_clear_error(
    tmp_path: Path, prepared: Path, evaluator_file: Path
) -> None:
    work = _workspace(tmp_path / "w", prepared, evaluator_file)
    uri = f"http://127.0.0.1:{free_port()}"
    process = _start_training(work, uri)
    output, _ = process.communicate(timeout=TRAINING_S)
    assert process.returncode == 1
    (line,) = [line for line in output.splitlines() if line.startswith("train: error: ")]
    assert line.startswith(f"train: error: MLflow store {uri} refused the run: ")
    assert line.endswith("tracking.local_fallback: true logs to the local store")
    assert "Traceback" not in output
    assert not (work / GENERATOR).exists() and not (work / CHECKPOINT).exists()

    fallback = {"train": {"epochs": 1}, "tracking": {"local_fallback": True}}
    write_params(work / "params.yaml", {**FAULT_PARAMS, **fallback})
    process = _start_training(work, uri)
    output, _ = process.communicate(timeout=TRAINING_S)
    assert process.returncode == 0, output
    assert "logging this run to the local store" in output
    run = _single_run(_sqlite(work))
    assert run.info.status == "FINISHED" and run.data.params["tracking.local_fallback"] == "True"

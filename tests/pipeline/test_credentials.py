"""A password given in the tracking URI (`http://user:password@host`, a form MLflow takes)
or in `MLFLOW_TRACKING_PASSWORD` reaches no output: the real train stage in a subprocess
against a real closed port on 127.0.0.1 (refused at the start) and a real `mlflow server`
killed (SIGKILL, its whole process group) after the first epoch and never restarted (lost
mid-run: the run ends in the local store). Everything the stage wrote, its stdout and stderr
and every file under its workspace (the local MLflow store's database included), is searched
for the password."""

from __future__ import annotations

import os
import secrets
import signal
from pathlib import Path

import pytest

from tests.helpers import TRAINING_S, free_port
from tests.pipeline.test_faults import (
    GENERATOR,
    Server,
    _start_training,
    _wait_for_checkpoint,
    _workspace,
)

pytestmark = pytest.mark.slow

SECRET = f"pw-{secrets.token_hex(8)}"  # new each session: found anywhere, it leaked there


def _with_password(uri: str) -> str:
    return uri.replace("http://", f"http://admin:{SECRET}@")


def _leaks(output: str, work: Path) -> list[str]:
    """Where the password is: `output`, or the files under `work`."""
    found = ["output"] if SECRET in output else []
    for path in work.rglob("*"):
        if path.is_file() and SECRET.encode() in path.read_bytes():
            found.append(str(path.relative_to(work)))
    return found


@pytest.fixture(autouse=True)
def _password_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """MLflow's own variables for basic auth, as a team member sets them."""
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", SECRET)


def test_a_refused_server_prints_no_password(
    tmp_path: Path, prepared: Path, evaluator_file: Path
) -> None:
    work = _workspace(tmp_path / "w", prepared, evaluator_file)
    uri = f"http://127.0.0.1:{free_port()}"  # nothing listens: connection refused
    process = _start_training(work, _with_password(uri))
    output, _ = process.communicate(timeout=TRAINING_S)
    assert process.returncode == 1, output
    (line,) = [line for line in output.splitlines() if line.startswith("train: error: ")]
    assert line.startswith(f"train: error: MLflow store {uri} refused the run: ")
    assert _leaks(output, work) == [], output


def test_a_server_lost_mid_run_prints_and_records_no_password(
    tmp_path: Path, prepared: Path, evaluator_file: Path
) -> None:
    server = Server(tmp_path)
    server.start()
    work = _workspace(tmp_path / "w", prepared, evaluator_file, checkpoint_every=0)
    try:
        process = _start_training(work, _with_password(server.uri))
        _wait_for_checkpoint(work, process, after=0)  # epoch 1 delivered
        assert server.process is not None
        os.killpg(server.process.pid, signal.SIGKILL)  # gone for good
        server.process.wait(timeout=60)
        output, _ = process.communicate(timeout=TRAINING_S)
    finally:
        server.stop()
    assert process.returncode == 0, output
    assert "unreachable" in output and "written to the local store" in output
    assert (work / GENERATOR).exists()
    assert _leaks(output, work) == [], output

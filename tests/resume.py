"""The SIGKILL half of every task's exact-resume test: the train stage killed as soon as it
has written a resume checkpoint, before the end of its run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from tests.helpers import ROOT, STAGE_ARGS, TRAINING_S

CHECKPOINT = Path("data/checkpoints/last.pt")
MODEL = Path("data/models/model.pt")


def checkpoint_step(path: Path = CHECKPOINT) -> int:
    """The step of the resume checkpoint at `path`; 0 while there is none."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # absent, or mid-rename: not a checkpoint yet
        return 0
    return int(payload["state"]["step"])


def train_killed_after_a_checkpoint() -> tuple[list[str], dict[str, str], int]:
    """In this workspace, the train stage started afresh (its checkpoint removed first) and
    killed with SIGKILL once a checkpoint past step 0 is on disk. The stage's command and
    environment, to run it again, and the step of the checkpoint it left."""
    CHECKPOINT.unlink(missing_ok=True)
    command = [sys.executable, str(ROOT / "pipeline" / "train.py"), *STAGE_ARGS["train"]]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.time() + TRAINING_S
    while checkpoint_step() == 0:
        assert process.poll() is None, process.communicate()[0]
        assert time.time() < deadline, f"no checkpoint within {TRAINING_S} s"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    return command, env, checkpoint_step()


def killed_then_resumed() -> tuple[int, str]:
    """In this workspace, the train stage run afresh (its model and checkpoint removed),
    killed with SIGKILL once it has a checkpoint and before it writes its model, then run
    again to the end, which must resume from that checkpoint. The step it was killed at
    and what the second run logged."""
    MODEL.unlink()
    command, env, killed_at = train_killed_after_a_checkpoint()
    assert not MODEL.exists()  # killed before the end
    rerun = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert rerun.returncode == 0, rerun.stderr
    assert f"at step {killed_at}" in rerun.stderr  # it resumed, not restarted
    return killed_at, rerun.stderr


def logged_steps() -> list[int]:
    """The steps of this workspace's train history, in the order they were logged."""
    history = Path("data/train/history.tsv").read_text().splitlines()
    return [int(line.split("\t")[0]) for line in history[1:]]

"""One training a workspace: the checkpoint directory's lock, and that a killed holder
leaves none behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ganops.runs.lock import LOCK_FILE, WorkspaceBusy, hold_checkpoints

HOLD = (
    "import sys, time; from pathlib import Path; "
    "from ganops.runs.lock import hold_checkpoints\n"
    "with hold_checkpoints(Path(sys.argv[1])):\n"
    "    print('held', flush=True); time.sleep(600)"
)


def _holder(checkpoints: Path) -> subprocess.Popen[str]:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(checkpoints)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    return holder


def test_a_live_holder_is_refused_and_a_killed_one_leaves_no_stale_lock(tmp_path: Path) -> None:
    checkpoints = tmp_path / "checkpoints"
    holder = _holder(checkpoints)
    try:
        started = time.monotonic()
        with (
            pytest.raises(
                WorkspaceBusy, match=rf"another training is running here \(pid {holder.pid} on "
            ),
            hold_checkpoints(checkpoints, wait_s=0.5),
        ):
            pass
        assert time.monotonic() - started >= 0.5  # it waited for a dying run first
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with hold_checkpoints(checkpoints, wait_s=0.0):  # kill -9 released it
        assert f"pid {os.getpid()} " in (checkpoints / LOCK_FILE).read_text()
    with hold_checkpoints(checkpoints, wait_s=0.0):  # and leaving the block does too
        pass

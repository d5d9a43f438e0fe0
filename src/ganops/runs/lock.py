"""One training at a time in a workspace: a lock on its checkpoint directory.

An `flock` belongs to the open file, so the kernel releases it when its holder dies, even by
`kill -9`: a killed run never leaves a stale lock behind, and a live one is never ignored.
"""

from __future__ import annotations

import fcntl
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ganops.errors import GanopsError

LOCK_FILE = ".training.lock"  # in .dvcignore: not part of the checkpoints DVC tracks


class WorkspaceBusy(GanopsError):
    """Another live training holds the checkpoint directory."""


@contextmanager
def hold_checkpoints(checkpoints: Path, wait_s: float = 10.0) -> Iterator[None]:
    """Hold `checkpoints` for the block; wait up to `wait_s` (the ranks of a run just killed
    take a moment to die), then a one-line `WorkspaceBusy` naming the holder."""
    checkpoints.mkdir(parents=True, exist_ok=True)
    with (checkpoints / LOCK_FILE).open("a+", encoding="utf-8") as handle:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    handle.seek(0)
                    holder = handle.read().strip() or "another process"
                    raise WorkspaceBusy(
                        f"{checkpoints}: another training is running here ({holder}); "
                        "wait for it to finish or stop it, then run the stage again"
                    ) from None
                time.sleep(0.2)
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)

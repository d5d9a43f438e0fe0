"""Stopping cleanly on SIGINT/SIGTERM: the loop finishes its step, saves, then stops."""

from __future__ import annotations

import logging
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

log = logging.getLogger(__name__)


class TrainingStopped(KeyboardInterrupt):
    """SIGINT or SIGTERM asked the loop to stop; a checkpoint was saved first."""


class StopRequest:
    """Set by a signal handler; the training loop checks it after every step."""

    def __init__(self) -> None:
        self.signal_name = ""

    @property
    def requested(self) -> bool:
        return bool(self.signal_name)

    def request(self, signum: int, frame: FrameType | None = None) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: stop now, without saving
        self.signal_name = signal.Signals(signum).name
        log.warning("%s received: saving a checkpoint at the end of this step", self.signal_name)


@contextmanager
def stop_on_signals() -> Iterator[StopRequest]:
    """Within the block, SIGINT and SIGTERM set the yielded `StopRequest` instead of killing."""
    stop = StopRequest()
    previous = {sig: signal.signal(sig, stop.request) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

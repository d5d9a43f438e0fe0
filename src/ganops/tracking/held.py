"""Store calls a stop does not cut in two: SIGINT and SIGTERM wait until the call returns.

A stop raised inside SQLAlchemy's work left the store's connection unusable, so that the run
could no longer be marked KILLED; the run's start and end, and every store call of `Run`,
hold the stop signals until they are done.
"""

from __future__ import annotations

import functools
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

Args = ParamSpec("Args")
Result = TypeVar("Result")


def whole_call(call: Callable[Args, Result]) -> Callable[Args, Result]:
    """A call to the store that a stop does not cut in two: SIGINT or SIGTERM waits until it
    returns (`signals_held`). A stop raised inside SQLAlchemy's work left the store's
    connection unusable, so that the run could no longer be marked KILLED."""

    @functools.wraps(call)
    def whole(*args: Args.args, **kwargs: Args.kwargs) -> Result:
        with signals_held():
            return call(*args, **kwargs)

    return whole


@contextmanager
def signals_held() -> Iterator[None]:
    """SIGINT and SIGTERM that arrive within the block wait until it ends, then go to the
    handler that was in place (which may raise): a run is never left half-started, or its
    end half-recorded, by a stop that lands in the middle."""
    stops = (signal.SIGINT, signal.SIGTERM)
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread receives signals and sets handlers
        return
    held: list[int] = []
    previous = {sig: signal.signal(sig, lambda signum, _: held.append(signum)) for sig in stops}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        for signum in dict.fromkeys(held):
            signal.raise_signal(signum)

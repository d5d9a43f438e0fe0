"""Per-image numpy work shared among processes: Morpho-MNIST's measurements
(`morpho.measure_batch`) and the hand-made transform (`restyle_scores.hand_made_restyle`).

Both treat each image alone, in numpy and scikit-image on one core, so on their own they
leave the machine's other cores idle. Inside `shared()` they split their images into
contiguous parts (`in_parts`) among one pool of spawned processes, started once for the whole
block: a stage that measures nine batches pays one start (about 3 s: each process imports
the stage's modules), not nine. Each image is worked on alone, so the bytes are the same for
any number of processes. Outside a block `in_parts` gives None and the caller works alone.

A terminal's Ctrl-C reaches every process of the stage. The workers ignore it from their
start (`workers_ignore_interrupts`): the stage's own process stops (`runner.stop_by_signals`),
and leaving the block ends the workers at once, whatever part they are in, so the stage
says one line, not a traceback from each worker.
"""

from __future__ import annotations

import multiprocessing
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from itertools import pairwise
from multiprocessing.pool import Pool
from typing import Any, TypeVar

import numpy as np
import torch

Result = TypeVar("Result")

# spawned, not forked: the stage's process holds torch's threads and MLflow's
_SPAWN = multiprocessing.get_context("spawn")
_open: tuple[Pool, int] | None = None  # the open block's pool and its size


@contextmanager
def workers_ignore_interrupts() -> Iterator[None]:
    """While worker processes start: SIGINT ignored in this process, a disposition they keep
    through exec and Python's own start (a handler function would not be kept), so no
    terminal's Ctrl-C interrupts one of them, not even while it imports; then this process's
    handler back. A Ctrl-C in the milliseconds the starts take is lost. Off the main thread
    (where no handler can be set) nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        if previous is not None:  # None: a handler set outside Python, which cannot be restored
            signal.signal(signal.SIGINT, previous)


@contextmanager
def shared(workers: int | None = None) -> Iterator[int]:
    """A block whose per-image work is shared among `workers` spawned processes (None: as
    many as torch has threads); yields how many. Inside a block already, its pool is used; at
    one worker none is started."""
    global _open
    if _open is not None:
        yield _open[1]
        return
    count = torch.get_num_threads() if workers is None else workers
    if count <= 1:
        yield 1
        return
    with workers_ignore_interrupts():
        pool = _SPAWN.Pool(count)
    with pool:  # leaving the block, however, terminates the workers
        _open = (pool, count)
        try:
            yield count
        finally:
            _open = None


def part_bounds(count: int, parts: int) -> list[tuple[int, int]]:
    """`parts` contiguous `(start, stop)` ranges covering `count` items, sizes within one."""
    bounds = np.linspace(0, count, parts + 1).astype(int)
    return [(int(a), int(b)) for a, b in pairwise(bounds)]


def in_parts(
    function: Callable[..., Result],
    count: int,
    per_item: Sequence[Any],
    common: Sequence[Any] = (),
    min_per_part: int = 100,
) -> Iterator[Result] | None:
    """`function(*parts of per_item, *common)` over contiguous parts of `count` items in the
    open block's pool, the results in order, each as it is ready; None outside a block, or
    when `count` is too few for two parts of `min_per_part` (fewer are not worth a process's
    turn). Each of `per_item` is sliced (an array, or a dict of arrays)."""
    if _open is None:
        return None
    pool, workers = _open
    parts = min(workers, count // max(min_per_part, 1))
    if parts < 2:
        return None
    ranges = part_bounds(count, parts)
    sliced = [[_slice(values, a, b) for a, b in ranges] for values in per_item]
    repeated = [[value] * parts for value in common]
    return pool.imap(_apply, [(function, args) for args in zip(*sliced, *repeated, strict=True)])


def _apply(job: tuple[Callable[..., Result], tuple[Any, ...]]) -> Result:
    function, args = job
    return function(*args)


def _slice(values: Any, start: int, stop: int) -> Any:
    if isinstance(values, dict):
        return {key: value[start:stop] for key, value in values.items()}
    return values[start:stop]

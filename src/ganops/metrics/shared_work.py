"""Per-image numpy work shared among processes: Morpho-MNIST's measurements
(`morpho.measure_batch`) and the hand-made transform (`restyle_scores.hand_made_restyle`).

Both treat each image alone, in numpy and scikit-image on one core, so on their own they
leave the machine's other cores idle. Inside `shared()` they split their images into
contiguous parts (`in_parts`) among one pool of spawned processes, started once for the whole
block: a stage that measures nine batches pays one start (about 3 s: each process imports
the stage's modules), not nine. Each image is worked on alone, so the bytes are the same for
any number of processes. Outside a block `in_parts` gives None and the caller works alone.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import contextmanager
from itertools import pairwise
from typing import Any, TypeVar

import numpy as np
import torch

Result = TypeVar("Result")

_open: tuple[Executor, int] | None = None  # the open block's pool and its size


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
    # spawned, not forked: the stage's process holds torch's threads and MLflow's
    with ProcessPoolExecutor(count, mp_context=multiprocessing.get_context("spawn")) as pool:
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
    return pool.map(function, *sliced, *repeated)


def _slice(values: Any, start: int, stop: int) -> Any:
    if isinstance(values, dict):
        return {key: value[start:stop] for key, value in values.items()}
    return values[start:stop]

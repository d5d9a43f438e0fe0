"""Launching a task's run: what it reads and writes, the checks before any work, the
workspace lock, joining the ranks under torchrun and their stop signals.

A task hands `launch` two functions: `check` (everything validated, before anything is
written) and `train` (its run on a device). The non-main ranks of a torchrun launch train
through `follow`, the main rank through `together`; neither knows what is trained.
"""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
from torch import nn

from ganops.device import configure_backends
from ganops.runs.distributed import (
    LAUNCHER_PID,
    World,
    die_with_launcher,
    join,
    leave,
    log_weight_digests,
)
from ganops.runs.lock import hold_checkpoints
from ganops.runs.rank_reports import peers_blamed, report_failure
from ganops.runs.seeds import GLOBAL_STREAMS, derived_seed
from ganops.runs.signals import StopRequest, stop_on_signals

Inputs = TypeVar("Inputs")
Result = TypeVar("Result")


@dataclass(frozen=True)
class RunPaths:
    """What the `train` stage reads and writes (dvc.yaml's `paths`), whatever the task."""

    data: Path  # processed data directory
    evaluator: Path  # evaluator.pt, for the quick scores
    model: Path  # the trained model's file to write (a generator, a translator)
    history: Path  # history.tsv to write (losses per logging interval)
    fid_history: Path  # fid.tsv to write (quick scores per probe)
    metrics: Path  # metrics.json to write
    run_record: Path  # run.json to write
    checkpoints: Path  # resume state directory


def launch(
    world: World | None,
    checkpoints: Path,
    check: Callable[[World], tuple[torch.device, Inputs]],
    train: Callable[[World, torch.device, Inputs], Result],
) -> Result:
    """Check a run's inputs (`check`), then `train` it on this rank's device, holding the
    workspace's lock on `checkpoints`; a rank that fails reports why, for its peers and
    the stage that launched it."""
    world = world or World()
    try:
        device, inputs = check(world)
        die_with_launcher(world)
        with ExitStack() as held:
            # one training a workspace; a stage that relaunched itself holds it for its ranks
            if world.is_main and LAUNCHER_PID not in os.environ:
                held.enter_context(hold_checkpoints(checkpoints))
            return train(world, join(world, device), inputs)
    except Exception as error:
        report_failure(world, error)  # for the peers and the stage that launched this rank
        raise


def prepare(
    world: World, device: torch.device, deterministic: bool, loop_logger: str, seed: int
) -> None:
    """The device's backends (`run.deterministic`); Python's and NumPy's global random
    streams seeded from the task's `seed` and the rank (the loops draw from their own
    generators, but a checkpoint saves these too: seeded, a rebuild writes the same bytes);
    on every rank but the main one the task's loop (its logger `loop_logger`) keeps quiet:
    one rank speaks."""
    configure_backends(device, deterministic)
    random.seed(derived_seed(seed, GLOBAL_STREAMS, world.rank))
    np.random.seed(derived_seed(seed, GLOBAL_STREAMS, world.rank, bits=32))
    if not world.is_main:
        logging.getLogger(loop_logger).setLevel(logging.WARNING)


def finish(world: World, networks: dict[str, nn.Module]) -> None:
    """After the loop: each rank logs digests of its final weights (they must agree under
    torchrun), then leaves the process group."""
    log_weight_digests(world, networks)
    leave(world)


def follow(
    world: World, networks: dict[str, nn.Module], train: Callable[[StopRequest], object]
) -> None:
    """A rank that does not speak: `train` with the stop signals caught (it checkpoints with
    the others, then stops), then `finish`."""
    with stop_on_signals() as stop:
        train(stop)
    finish(world, networks)


def together(world: World, networks: dict[str, nn.Module], train: Callable[[], Result]) -> Result:
    """The main rank's `train`: a peer's failure, not the broken collective it leaves, is the
    reason it fails; then `finish`."""
    with peers_blamed(world):
        result = train()
        finish(world, networks)
    return result

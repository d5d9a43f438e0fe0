"""Resume: the full state a run continues from exactly, written and read in one place.

The checkpoint (`<checkpoints>/last.pt`) holds the networks, optimisers and noise streams
(`GanState.state_dict`), every global random state, the position in the epoch's
permutation, the history rows logged so far, and `meta` (params hash, MLflow run id,
world size) that says which run it can continue.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganops.errors import GanopsError
from ganops.io import load_torch, save_torch
from ganops.training.loggers import HistoryFile
from ganops.training.state import GanState

log = logging.getLogger(__name__)

RESUME_FILE = "last.pt"
RESUME_FORMAT = "ganops-resume/1"


@dataclass
class Checkpointing:
    """Where and what to save for resume: `meta` is fixed, the rows of each of `histories`
    are read at each save (under their names) and restored on resume.

    Under torchrun every rank takes part in a save (each rank's noise state is gathered)
    and only the rank with `write` set writes the file.
    """

    path: Path
    meta: dict[str, Any]
    histories: dict[str, HistoryFile] = field(default_factory=dict)
    every_steps: int = 0
    write: bool = True


def global_rng_state() -> dict[str, Any]:
    """Every global random state (Python, NumPy, torch CPU and CUDA) as tensors and ints.

    The loop draws from its own seeded generators; these are saved so that code drawing
    from the global ones (a user's model, a library) also resumes exactly.
    """
    numpy_state = np.random.get_state(legacy=False)
    python_version, python_state, python_gauss = random.getstate()
    return {
        "python": (python_version, torch.tensor(python_state, dtype=torch.int64), python_gauss),
        "numpy_key": torch.from_numpy(numpy_state["state"]["key"].astype(np.int64)),
        "numpy_rest": (
            int(numpy_state["state"]["pos"]),
            int(numpy_state["has_gauss"]),
            float(numpy_state["gauss"]),
        ),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_global_rng_state(state: dict[str, Any]) -> None:
    """Restore what `global_rng_state` saved."""
    python_version, python_state, python_gauss = state["python"]
    random.setstate((python_version, tuple(int(v) for v in python_state.tolist()), python_gauss))
    pos, has_gauss, gauss = state["numpy_rest"]
    np.random.set_state(
        {
            "bit_generator": "MT19937",
            "state": {"key": state["numpy_key"].numpy().astype(np.uint32), "pos": pos},
            "has_gauss": has_gauss,
            "gauss": gauss,
        }
    )
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_resume_state(checkpointing: Checkpointing, state: GanState, steps_per_epoch: int) -> None:
    """Write the full resume state (networks, optimisers, every random state, step and the
    position in the epoch's permutation) atomically; never one with non-finite weights."""
    state.check_finite()
    noise_per_rank = state.world.gather(state.noise.get_state())  # every rank takes part
    if not checkpointing.write:
        return
    epoch, batch = divmod(state.step, steps_per_epoch)
    histories = {name: history.rows for name, history in checkpointing.histories.items()}
    payload = {"format": RESUME_FORMAT, **checkpointing.meta, **histories}
    position = {"epoch": epoch, "batch_in_epoch": batch}
    resume_state = state.state_dict() | {"rng": global_rng_state()}
    if state.world.distributed:
        resume_state["noise_per_rank"] = noise_per_rank
    save_torch(checkpointing.path, {**payload, **position, "state": resume_state})


def read_resume_state(
    path: Path, params_hash: str, total_steps: int, world_size: int = 1,
    expected_format: str = RESUME_FORMAT,
) -> dict[str, Any] | None:  # fmt: skip
    """The checkpoint at `path` if it can continue this run, else None (and the log says why).

    A checkpoint continues only with the number of processes that wrote it: each rank
    resumes its own noise stream. `expected_format` is the writer's (a translator's differs).
    """
    if not path.exists():
        return None
    try:
        payload = load_torch(path, "checkpoint")
    except GanopsError as error:
        log.warning("not resuming: %s", error)
        return None
    if payload.get("format") != expected_format:
        log.warning("not resuming: %s is not a %s checkpoint", path, expected_format)
        return None
    if payload.get("params_hash") != params_hash:
        log.info(
            "not resuming from %s: it was written with other training params (hash %s, now %s)",
            path,
            payload.get("params_hash"),
            params_hash,
        )
        return None
    if payload.get("world_size", 1) != world_size:
        log.info(
            "not resuming from %s: it was written by %s processes, this run has %d",
            path,
            payload.get("world_size", 1),
            world_size,
        )
        return None
    step = int(payload["state"]["step"])
    if step >= total_steps:
        log.info("not resuming from %s: that run already finished; starting afresh", path)
        return None
    return payload


def restore(state: GanState, payload: dict[str, Any], histories: dict[str, HistoryFile]) -> None:
    """Continue from `payload` (from `read_resume_state`): the state, the global random
    states, and the rows of each history up to the saved step."""
    state.load_state_dict(payload["state"])
    if "rng" in payload["state"]:
        set_global_rng_state(payload["state"]["rng"])
    for name, history in histories.items():
        history.rows = [row for row in payload.get(name, []) if row["step"] <= state.step]

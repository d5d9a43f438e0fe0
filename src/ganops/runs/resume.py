"""Resume: the full state a run continues from exactly, written and read in one place.

The checkpoint (`<checkpoints>/last.pt`) holds a task's state (its `state_dict`: networks,
optimisers, noise streams, step), every global random state, the history rows logged so
far, and `meta` (format, params hash, world size) that says which run it can continue. The
MLflow run it continues is named beside it, in `<checkpoints>/.mlflow_run.json` (which DVC
ignores, `.dvcignore`): a run id changes with every rebuild, and the checkpoint, a DVC output,
keeps the same bytes when the same params are trained again. A task's state writes it (it
knows what to gather from the ranks); reading, checking and restoring it are the same for
every task (`resume_or_start`).
"""

from __future__ import annotations

import json
import logging
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np
import torch

from ganops.errors import GanopsError
from ganops.io import load_torch, save_torch, write_json
from ganops.runs.loggers import HistoryFile

log = logging.getLogger(__name__)

RESUME_FILE = "last.pt"
RUN_FILE = ".mlflow_run.json"  # beside it: the MLflow run it continues (not hashed by DVC)


class Resumable(Protocol):
    """What a task's state gives the run machinery to resume it: its step and the inverse
    of the `state_dict` its checkpoint holds."""

    step: int

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class PartsState:
    """A task state made of named parts: its `state_dict` is its step and each part's own
    (`PARTS`, attributes with `state_dict` and `load_state_dict`, in that order), and the
    weights of the networks in `WATCHED` must stay finite (`DIVERGED` names the first that
    does not, and `HINT` what to lower)."""

    PARTS: ClassVar[tuple[str, ...]]
    WATCHED: ClassVar[tuple[str, ...]]
    DIVERGED: ClassVar[type[GanopsError]]
    HINT: ClassVar[str]
    step: int

    def state_dict(self) -> dict[str, Any]:
        return {"step": self.step} | {part: getattr(self, part).state_dict() for part in self.PARTS}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step = int(state["step"])
        for part in self.PARTS:
            getattr(self, part).load_state_dict(state[part])

    def check_finite(self) -> None:
        for name in self.WATCHED:
            for tensor in getattr(self, name).state_dict().values():
                if tensor.is_floating_point() and not torch.isfinite(tensor).all():
                    raise self.DIVERGED(
                        f"the weights of the {name} are no longer finite at step {self.step}; "
                        f"{self.HINT}"
                    )


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

    def save(self, checkpoint_format: str, state: dict[str, Any], **position: int) -> None:
        """Write a task's `state` (with every global random state added) atomically, beside
        the meta, the rows of each history so far and the loop's `position`."""
        histories = {name: history.rows for name, history in self.histories.items()}
        meta = {key: value for key, value in self.meta.items() if key != "run_id"}
        payload = {"format": checkpoint_format, **meta, **histories, **position}
        save_torch(self.path, {**payload, "state": state | {"rng": global_rng_state()}})
        if self.meta.get("run_id"):
            link = {"params_hash": self.meta.get("params_hash"), "run_id": self.meta["run_id"]}
            write_json(self.path.with_name(RUN_FILE), link)


def continued_run_id(path: Path, payload: dict[str, Any]) -> str | None:
    """The MLflow run the checkpoint at `path` (read as `payload`) continues: named in the
    file beside it when that is of the same params (an older checkpoint names it itself);
    None when neither does (the checkpoint came from DVC's cache: a new run continues it)."""
    link = path.with_name(RUN_FILE)
    if link.is_file():
        try:
            named = json.loads(link.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            named = {}
        if isinstance(named, dict) and named.get("params_hash") == payload.get("params_hash"):
            return str(named.get("run_id") or "") or None
    return str(payload.get("run_id") or "") or None


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


def read_resume_state(
    path: Path, params_hash: str, total_steps: int, world_size: int, expected_format: str
) -> dict[str, Any] | None:
    """The checkpoint at `path` if it can continue this run, else None (and the log says why).

    A checkpoint continues only with the number of processes that wrote it: each rank
    resumes its own noise stream. `expected_format` names the task's writer (each task's
    checkpoint is its own).
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


def restore(state: Resumable, payload: dict[str, Any], histories: dict[str, HistoryFile]) -> None:
    """Continue from `payload` (from `read_resume_state`): the state, the global random
    states, and the rows of each history up to the saved step."""
    state.load_state_dict(payload["state"])
    if "rng" in payload["state"]:
        set_global_rng_state(payload["state"]["rng"])
    for name, history in histories.items():
        history.rows = [row for row in payload.get(name, []) if row["step"] <= state.step]


@dataclass(frozen=True)
class Continuation:
    """Which run a checkpoint belongs to: the writer's format, the params hash and the world
    size must all match for a run to continue from it."""

    checkpoint_format: str
    params_hash: str
    world_size: int


def resume_or_start(
    state: Resumable,
    checkpoints: Path,
    run: Continuation,
    histories: dict[str, HistoryFile],
    total_steps: int,
    every_steps: int,
    write: bool,
) -> tuple[str | None, Checkpointing]:
    """Continue `state` from `checkpoints` when its checkpoint belongs to `run`, else start
    afresh; returns the MLflow run id to continue (None when starting) and how this run
    checkpoints (every `every_steps` steps, `run.checkpoint_every`; the rank with `write`
    writes the file)."""
    path = checkpoints / RESUME_FILE
    resume = read_resume_state(
        path, run.params_hash, total_steps, run.world_size, run.checkpoint_format
    )
    run_id = None
    if resume:
        restore(state, resume, histories)
        run_id = continued_run_id(path, resume)
        log.info("resuming %s at step %d/%d", f"run {run_id}" if run_id else "in a new run",
                 state.step, total_steps)  # fmt: skip
    meta = {"params_hash": run.params_hash, "run_id": "", "world_size": run.world_size}
    checkpointing = Checkpointing(path, meta, histories, every_steps, write)
    return run_id, checkpointing

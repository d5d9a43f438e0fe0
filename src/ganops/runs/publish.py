"""A run's MLflow record and what it publishes, the same for every task: the run opened (or
reopened on resume) with the stop signals caught, the history replayed, and at the end the
run record (`run.json`) that later stages and `ganops report` find the run by.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from ganops.config import Params, params_hash
from ganops.device import hardware
from ganops.run_record import RunRecord, portable_uri
from ganops.runs.distributed import World
from ganops.runs.loggers import HistoryFile
from ganops.runs.resume import Checkpointing
from ganops.runs.signals import StopRequest, stop_on_signals
from ganops.tracking import Run, git_state, open_run, project_root, redact_uri
from ganops.tracking.registry import model_card

log = logging.getLogger(__name__)


@contextmanager
def tracked(
    params: Params,
    world: World,
    checkpointing: Checkpointing,
    run_id: str | None,
    dataset: Callable[[], dict[str, Any]],
    tags: dict[str, str],
) -> Iterator[tuple[StopRequest, Run]]:
    """The main rank's MLflow run, opened afresh or (`run_id`, from the checkpoint) reopened,
    with what the checkpoint's histories already hold replayed; a fresh run logs its
    `dataset`. Within it SIGINT/SIGTERM checkpoint after the current step and the run ends
    KILLED; one that comes after the last step (while the model is published) finds the
    run complete: it ends FINISHED, and the log says so."""
    histories: dict[str, HistoryFile] = checkpointing.histories
    with stop_on_signals() as stop, open_run(params.tracking, params, run_id=run_id) as run:
        run.replay([row for history in histories.values() for row in history.rows])
        if run_id is None:
            run.log_dataset(**dataset())
        run.set_tags({"ganops.world_size": str(world.size)} | tags)
        checkpointing.meta["run_id"] = run.run_id
        yield stop, run
    if stop.requested:
        log.warning("%s came after the last step: the run was complete and ended FINISHED",
                    stop.signal_name)  # fmt: skip


def record_run(
    run: Run,
    params: Params,
    path: Path,
    model_uri: str,
    steps: int,
    published_step: int,
    seconds: float,
    device: torch.device,
    conditioning: str = "",
) -> RunRecord:
    """Write `run.json` at `path`: where the run and its logged model are, the params hash,
    the steps (and which one's model was published), the time and the hardware."""
    record = RunRecord(
        run_id=run.run_id,
        experiment_id=run.experiment_id,
        tracking_uri=portable_uri(redact_uri(run.uri), project_root()),
        model_uri=model_uri,
        params_hash=params_hash(params),
        steps=steps,
        published_step=published_step,
        train_time_s=round(seconds, 3),
        conditioning=conditioning,
        hardware=hardware(device),
    )
    record.write(path)
    return record


def describe_model(
    run: Run, name: str | None, params: Params, record: RunRecord, facts: dict[str, Any]
) -> None:
    """Give the model version the run registered as `name` (None: none) its model card and
    tags: `facts` says what it is (`what`), on how many images (`images`) and its quick FID
    (`quick_fid`, None when it has none); the rest comes from the params and `record`."""
    if name is None:
        return
    commit, dirty = git_state(project_root())
    card = model_card(
        {
            "data": params.data.folder or params.data.source,
            "size": params.data.image_size,
            "steps": record.steps,
            "hardware": record.hardware,
            "params_hash": record.params_hash,
            "commit": commit[:12] + (" with uncommitted changes" if dirty else ""),
            **facts,
        }
    )
    tags = {"params.hash": record.params_hash, "git.commit": commit, "ganops.steps": record.steps}
    if facts.get("quick_fid") is not None:
        tags["ganops.quick_fid"] = round(float(facts["quick_fid"]), 6)
    run.describe_registered(name, card, tags)

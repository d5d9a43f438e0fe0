"""The train stage's MLflow run, found again by the stages after it.

`run.json` (tracked) holds what the params determine; the run's id sits beside it in the
git-ignored `mlflow_run.json` of the workspace that trained (`ganops.run_record`). A later
stage reopens that run; where the link is missing or of other params (the train stage was
restored from DVC's cache, or the workspace is a fresh clone), it takes the newest train run
of the same params hash in the store, and where the store has none, it logs to a new run
tagged with the params, saying so in one line.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ganops.config import Params, TrackingConfig
from ganops.run_record import RunRecord
from ganops.tracking.run import Run, open_run
from ganops.tracking.store import open_client, project_root, redact_uri, tracking_uri

log = logging.getLogger(__name__)
TRAIN_METRIC = "perf/train_time_s"  # logged by every task's train stage, by no other stage
_HASH = re.compile(r"[0-9a-f]{8,64}")


def train_run_id(cfg: TrackingConfig, params_hash: str, root: Path | None = None) -> str | None:
    """The newest run in `cfg.experiment` that trained the params hashed `params_hash`, or
    None (no such run, no such experiment, or no hash)."""
    if not _HASH.fullmatch(params_hash):
        return None
    client = open_client(tracking_uri(root or project_root()))
    experiment = client.get_experiment_by_name(cfg.experiment)
    if experiment is None:
        return None
    found = client.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.`params.hash` = '{params_hash}' and metrics.`{TRAIN_METRIC}` >= 0",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return found[0].info.run_id if found else None


@contextmanager
def open_train_run(params: Params, record: RunRecord) -> Iterator[Run]:
    """The train stage's run of `record`, reopened for a later stage (see the module)."""
    run_id = record.run_id or train_run_id(params.tracking, record.params_hash)
    if not run_id:
        log.warning(
            "no MLflow run of the train stage's params (hash %s) in %s (the stage came from "
            "DVC's cache?): this stage logs to a new run",
            record.params_hash or "unknown",
            redact_uri(tracking_uri(project_root())),
        )
    with open_run(params.tracking, params=None if run_id else params, run_id=run_id) as run:
        yield run

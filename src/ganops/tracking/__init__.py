"""MLflow tracking: the only package that imports mlflow.

- `store`: where runs go (one store per workspace) and the experiment they are filed under;
- `identity`: the tags that say where a run came from (git commit, dirty tree, params hash);
- `run`: an open run (buffered metrics and images, outages, the local fallback) and its
  lifecycle, which always ends FINISHED, FAILED or KILLED, never RUNNING;
- `model`: the generator, the translator, the restyler and the text-to-image model as MLflow
  models, logged and loaded back; what `mlflow models serve` runs of them
  is `serving`, `translator_serving`, `restyler_serving` and `text_serving` (their logged
  code, `served_generator`, `served_translator`, `served_restyler` and `served_text`,
  installs `guard` in the scoring server).
"""

from ganops.tracking.identity import git_state, run_identity
from ganops.tracking.model import (
    load_logged_generator,
    load_logged_restyler,
    load_logged_text,
    load_logged_translator,
    logged_model_run_id,
)
from ganops.tracking.run import GRID_KEY, Run, open_run
from ganops.tracking.store import project_root, redact_uri, tracking_uri

__all__ = [
    "GRID_KEY",
    "Run",
    "git_state",
    "load_logged_generator",
    "load_logged_restyler",
    "load_logged_text",
    "load_logged_translator",
    "logged_model_run_id",
    "open_run",
    "project_root",
    "redact_uri",
    "run_identity",
    "tracking_uri",
]

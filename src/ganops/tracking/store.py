"""Where runs go: one MLflow store per workspace, and the experiment runs are filed under.

Without `MLFLOW_TRACKING_URI`, runs go to an absolute `sqlite:///<project root>/mlflow.db`
with artifacts in `<project root>/mlartifacts`, also when DVC runs an experiment in a copy
under `.dvc/tmp/exps/`.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import mlflow
from mlflow.exceptions import MlflowException

from ganops.errors import first_line

ENV_TRACKING_URI = "MLFLOW_TRACKING_URI"
ENV_EXP_NAME = "DVC_EXP_NAME"
STORE_FILE = "mlflow.db"
ARTIFACT_DIR = "mlartifacts"
# the tag the MLflow 3 UI reads to pick an experiment's pages: model training, not GenAI
KIND = {"mlflow.experimentKind": "custom_model_development"}
OUTAGE = (MlflowException, OSError)  # requests' connection errors are OSErrors

# A server that does not answer should not stall training for minutes: MLflow's own
# defaults retry each request 7 times with exponential backoff. The user's values win.
HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
}


def project_root(start: Path | None = None) -> Path:
    """The workspace root, seen through DVC's experiment copies.

    `dvc exp run --temp/--queue` runs in `<root>/.dvc/tmp/exps/<tmp>/`; a store made there
    would vanish with the copy, so the root is the directory that holds that `.dvc`.
    """
    path = (start or Path.cwd()).resolve()
    parts = path.parts
    for index in range(len(parts) - 1):
        if parts[index] == ".dvc" and parts[index + 1] == "tmp":
            return Path(*parts[:index])
    for candidate in (path, *path.parents):
        if (candidate / "dvc.yaml").is_file() or (candidate / ".dvc").is_dir():
            return candidate
    return path


def tracking_uri(root: Path | None = None) -> str:
    """`MLFLOW_TRACKING_URI` when set, else the workspace's absolute sqlite store."""
    configured = os.environ.get(ENV_TRACKING_URI, "").strip()
    if configured:
        return configured
    return local_uri(root or project_root())


def redact_uri(uri: str) -> str:
    """`uri` without any user:password part, safe to log or write to disk."""
    parts = urlsplit(uri)
    if parts.username is None and parts.password is None:
        return uri
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def is_local(uri: str) -> bool:
    """Whether `uri` is a store on this machine (sqlite or files) rather than a server."""
    return uri.startswith(("sqlite:", "file:")) or "://" not in uri


def local_uri(root: Path) -> str:
    """The workspace's own store at `root`."""
    return f"sqlite:///{root / STORE_FILE}"


@contextmanager
def _creation_lock(uri: str) -> Iterator[None]:
    """Hold a lock, across processes, named after the sqlite database `uri` points to."""
    database = Path(uri.split(":///", 1)[-1]).resolve()
    digest = hashlib.sha256(str(database).encode()).hexdigest()[:16]
    with open(Path(tempfile.gettempdir()) / f"ganops-store-{digest}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        yield


def open_client(uri: str) -> mlflow.MlflowClient:
    """A client of the store `uri`. A sqlite store is opened under a lock: MLflow makes its
    tables the first time a process opens a new database, and several processes starting
    together (queued experiments, `make retrain SEEDS=N`) would each run the migrations,
    all but one failing. MLflow keeps the store it built for the rest of the process."""
    if not uri.startswith("sqlite:"):
        return mlflow.MlflowClient(tracking_uri=uri)
    with _creation_lock(uri):
        return mlflow.MlflowClient(tracking_uri=uri)


# What a server behind basic auth answers, said as what to do (MLflow's message is a URL).
REFUSED = {
    "UNAUTHENTICATED": "the server did not accept the user and password (HTTP 401): check "
    "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD",
    "PERMISSION_DENIED": "the server's user MLFLOW_TRACKING_USERNAME may not do this "
    "(HTTP 403): its admin grants permissions",
}


def describe(error: BaseException) -> str:
    """`Type: first line of the message`, for a log line about a store that failed; what
    to check when a server refused the credentials."""
    if isinstance(error, MlflowException) and error.error_code in REFUSED:
        return REFUSED[error.error_code]
    return f"{type(error).__name__}: {first_line(error, 480)}"


def experiment_id(client: mlflow.MlflowClient, name: str, uri: str, root: Path) -> str:
    """The id of experiment `name`, created (with its artifacts under the root) if missing,
    and marked a model-training experiment, so the MLflow UI opens it on its training runs
    rather than on the GenAI overview (an experiment made before is tagged now)."""
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        folder = re.sub(r"[^A-Za-z0-9._-]+", "_", name)
        location = (root / ARTIFACT_DIR / folder).as_uri() if is_local(uri) else None
        try:
            return str(client.create_experiment(name, artifact_location=location, tags=KIND))
        except MlflowException:
            # another process (a parallel queued experiment) created it first
            experiment = client.get_experiment_by_name(name)
            if experiment is None:
                raise
    if any(experiment.tags.get(key) != value for key, value in KIND.items()):
        for key, value in KIND.items():
            client.set_experiment_tag(experiment.experiment_id, key, value)
    return str(experiment.experiment_id)

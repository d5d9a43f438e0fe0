"""MLflow tracking: the only module that imports mlflow.

One store per workspace: without `MLFLOW_TRACKING_URI`, runs go to an absolute
`sqlite:///<project root>/mlflow.db` with artifacts in `<project root>/mlartifacts`, also
when DVC runs an experiment in a copy under `.dvc/tmp/exps/`. Each run is tagged with its
identity (git commit, dirty tree, DVC experiment name, params hash) and always ends
FINISHED, FAILED or KILLED, never left RUNNING.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import re
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import mlflow
import numpy as np
import torch
from mlflow.entities import Metric
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from torch import nn

from ganops.config import Params, TrackingConfig, flatten, params_hash
from ganops.errors import DataError, TrackingError
from ganops.io import read_json_record, write_text
from ganops.models import GeneratorSpec
from ganops.models.layers import check_labels

log = logging.getLogger(__name__)

ENV_TRACKING_URI = "MLFLOW_TRACKING_URI"
ENV_EXP_NAME = "DVC_EXP_NAME"
STORE_FILE = "mlflow.db"
ARTIFACT_DIR = "mlartifacts"
GRID_KEY = "samples"
_BATCH_LIMIT = 1000  # MLflow's maximum metrics per log_batch call


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
    return f"sqlite:///{(root or project_root()) / STORE_FILE}"


def redact_uri(uri: str) -> str:
    """`uri` without any user:password part, safe to log or write to disk."""
    parts = urlsplit(uri)
    if parts.username is None and parts.password is None:
        return uri
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _is_local(uri: str) -> bool:
    return uri.startswith(("sqlite:", "file:")) or "://" not in uri


def _git(root: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.rstrip("\n") if done.returncode == 0 else None


def git_state(workdir: Path) -> tuple[str, bool]:
    """`(commit, dirty)` of the checkout at `workdir`.

    Dirty means code, params or config differ from the commit. Pipeline products are left
    out: `dvc.lock`, which `dvc repro` rewrites between stages, and everything under
    `data/`, where DVC writes outputs and their `.gitignore` files.
    """
    commit = (_git(workdir, "rev-parse", "HEAD") or "").strip() or "unknown"
    status = _git(workdir, "status", "--porcelain", "--untracked-files=normal")
    if status is None:
        return commit, True
    paths = [line[3:].strip('"') for line in status.splitlines() if line.strip()]
    changed = [path for path in paths if path != "dvc.lock" and not path.startswith("data/")]
    return commit, bool(changed)


def run_identity(params: Params, workdir: Path) -> dict[str, str]:
    """The tags that say where a run came from."""
    commit, dirty = git_state(workdir)
    tags = {
        "git.commit": commit,
        "git.dirty": str(dirty).lower(),
        "params.hash": params_hash(params),
        "ganops.version": version("ganops"),
        "mlflow.source.git.commit": commit,
    }
    if exp_name := os.environ.get(ENV_EXP_NAME):
        tags["dvc.exp_name"] = exp_name
    return tags


def _experiment_id(client: mlflow.MlflowClient, name: str, uri: str, root: Path) -> str:
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return str(experiment.experiment_id)
    folder = re.sub(r"[^A-Za-z0-9._-]+", "_", name)
    location = (root / ARTIFACT_DIR / folder).as_uri() if _is_local(uri) else None
    try:
        return str(client.create_experiment(name, artifact_location=location))
    except MlflowException:
        # another process (a parallel queued experiment) created it first
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            raise
        return str(experiment.experiment_id)


class HistoryFile:
    """A TSV of some metrics (`columns`), one row per step that logged any of them,
    rewritten atomically at each flush. Every row has every column: DVC's plots read a
    blank cell as 0, so metrics logged at other cadences go to a file of their own."""

    def __init__(self, path: Path, columns: tuple[str, ...]) -> None:
        self.path = path
        self.columns = ("step", *columns)
        self.rows: list[dict[str, float]] = []

    def log_metrics(self, step: int, metrics: dict[str, float]) -> None:
        values = {key: value for key, value in metrics.items() if key in self.columns}
        if not values:
            return
        if self.rows and self.rows[-1]["step"] == step:
            self.rows[-1].update(values)
        else:
            self.rows.append({"step": step, **values})

    def log_grid(self, step: int, picture: np.ndarray) -> None:
        pass

    def flush(self) -> None:
        buffer = io.StringIO()
        writer = csv.DictWriter(
            buffer, self.columns, delimiter="\t", lineterminator="\n", extrasaction="ignore"
        )
        writer.writeheader()
        for row in self.rows:
            writer.writerow({key: _fmt(value) for key, value in row.items()})
        write_text(self.path, buffer.getvalue())


def _fmt(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:.6g}"


_OUTAGE = (MlflowException, OSError)  # requests' connection errors are OSErrors
_IMAGE_FILE = re.compile(r"^images/(?P<key>.+)\+step\+(?P<step>\d+)\+timestamp\+")


class Run:
    """An open MLflow run: buffered step metrics and images, artifacts, the model.

    Step metrics and images wait in a buffer until `flush`. When the store cannot be
    reached, `flush` keeps them and training goes on; they are delivered at a later flush,
    or at the end `fall_back_to_local` writes them to the workspace's own store. A run
    reopened after a crash skips the steps its store already has, so none is logged twice.
    """

    def __init__(
        self,
        client: mlflow.MlflowClient,
        run_id: str,
        uri: str,
        experiment_id: str = "",
        home: tuple[Path, str, Params | None] | None = None,
    ) -> None:
        self.client = client
        self.run_id = run_id
        self.uri = uri
        self.experiment_id = experiment_id
        self._pending: list[Metric] = []
        self._images: list[tuple[np.ndarray, str, int]] = []
        self._logged: dict[str, int] = {}  # key -> last step already in the store
        self._outage = False
        # where a fallback goes: the project root, the experiment name, the params to log
        self.home = home or (project_root(), "ganops", None)

    @property
    def pending(self) -> int:
        """Values (metrics and images) not yet delivered."""
        return len(self._pending) + len(self._images)

    def skip_logged_steps(self) -> None:
        """Remember the last step of every metric and image series the store already has."""
        for key in self.client.get_run(self.run_id).data.metrics:
            history = self.client.get_metric_history(self.run_id, key)
            self._logged[key] = max((m.step for m in history), default=-1)
        for artifact in self.client.list_artifacts(self.run_id, "images"):
            found = _IMAGE_FILE.match(artifact.path)
            if found:
                key, step = f"image:{found['key']}", int(found["step"])
                self._logged[key] = max(self._logged.get(key, -1), step)

    def replay(self, rows: list[dict[str, float]]) -> None:
        """Log again the history rows (`{"step": s, key: value}`) of a resumed run: the steps
        the store already has are skipped, so only values lost with a crashed process (say,
        buffered during an outage) are delivered."""
        for row in rows:
            self.log_metrics(int(row["step"]), {k: v for k, v in row.items() if k != "step"})

    def log_metrics(self, step: int, metrics: dict[str, float]) -> None:
        """Buffer step metrics; they reach the store at `flush` (one batch per epoch)."""
        now = int(time.time() * 1000)
        self._pending.extend(
            Metric(key, float(value), now, step)
            for key, value in metrics.items()
            if step > self._logged.get(key, -1)
        )

    def log_grid(self, step: int, picture: np.ndarray) -> None:
        """One frame of the fixed-latent image series (the UI shows a slider over steps)."""
        self.log_image(picture, key=GRID_KEY, step=step)

    def log_image(self, picture: np.ndarray, key: str, step: int = 0) -> None:
        """Buffer an `(H, W, C)` uint8 picture as step `step` of the image series `key`."""
        if step > self._logged.get(f"image:{key}", -1):
            self._images.append((picture, key, step))

    def _deliver(self) -> None:
        while self._pending:
            batch = self._pending[:_BATCH_LIMIT]
            self.client.log_batch(self.run_id, metrics=batch)
            del self._pending[: len(batch)]
        while self._images:
            picture, key, step = self._images[0]
            image = picture[:, :, 0] if picture.shape[2] == 1 else picture  # (H, W) or (H, W, 3)
            self.client.log_image(self.run_id, image, key=key, step=step, synchronous=True)
            self._images.pop(0)

    def flush(self) -> None:
        """Deliver what is buffered; if the store is unreachable, keep it for later."""
        waiting = self.pending
        try:
            self._deliver()
        except _OUTAGE as error:
            if not self._outage:
                log.warning(
                    "MLflow at %s unreachable (%s); training goes on and its metrics and "
                    "images wait to be delivered",
                    redact_uri(self.uri),
                    _one_line(error),
                )
            self._outage = True
            return
        if self._outage:
            log.info("MLflow at %s is back: %d buffered values delivered", redact_uri(self.uri),
                     waiting)  # fmt: skip
            self._outage = False

    def settle(self) -> None:
        """Flush; what still cannot be delivered goes to the local store (`fall_back_to_local`)."""
        self.flush()
        if self.pending:
            self.fall_back_to_local()

    def fall_back_to_local(self) -> None:
        """Move this run to the workspace's own store: what could not be delivered goes there,
        as does all that is logged from now on (the final metrics, the model)."""
        root, experiment, params = self.home
        local = f"sqlite:///{root / STORE_FILE}"
        if self.uri == local:
            raise TrackingError(f"the local MLflow store {local} cannot be written")
        client = mlflow.MlflowClient(tracking_uri=local)
        with _quiet_end():
            mlflow.end_run(status="FAILED")  # the server's run, if it can still hear us
        mlflow.set_tracking_uri(local)
        origin = {"ganops.server_uri": redact_uri(self.uri), "ganops.server_run_id": self.run_id}
        active = _start(client, local, experiment, params, root, origin)
        waiting, server = self.pending, redact_uri(self.uri)
        self.client, self.uri, self.run_id = client, local, active.info.run_id
        self.experiment_id, self._logged, self._outage = active.info.experiment_id, {}, False
        self._deliver()
        log.warning(
            "MLflow at %s still unreachable: %d buffered values (and what follows) written to "
            "the local store %s, run %s",
            server,
            waiting,
            local,
            self.run_id,
        )

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        """A file, or every file of a folder, under `artifact_path`."""
        if path.is_dir():
            self.client.log_artifacts(self.run_id, str(path), artifact_path)
        else:
            self.client.log_artifact(self.run_id, str(path), artifact_path)

    def tag(self, key: str) -> str | None:
        """The value of tag `key` of this run, or None."""
        value = self.client.get_run(self.run_id).data.tags.get(key)
        return None if value is None else str(value)

    def set_tags(self, tags: dict[str, str]) -> None:
        for key, value in tags.items():
            self.client.set_tag(self.run_id, key, value)

    def log_summary(self, metrics: dict[str, float], step: int) -> None:
        """Final values (training time, throughput) as metrics at the last step."""
        self.log_metrics(step, metrics)
        self.flush()

    def log_generator(
        self, generator: nn.Module, spec: GeneratorSpec, registered_model: str | None
    ) -> str:
        """Log the generator as an MLflow model (`torch.export` format, no pickle) with a
        signature z `(-1, latent_dim)` -> images `(-1, C, H, W)`, or for a conditional one
        (z `(-1, latent_dim)`, labels int64 `(-1,)`) -> images; returns its model URI."""
        generator = generator.cpu().eval()
        z = np.random.default_rng(0).standard_normal((2, spec.latent_dim)).astype(np.float32)
        inputs: list[np.ndarray] = [z]
        if spec.num_classes:
            inputs.append(np.arange(2, dtype=np.int64) % spec.num_classes)  # labels (2,)
        with torch.no_grad():
            output = generator(*map(torch.from_numpy, inputs)).numpy()
        if spec.num_classes:
            # MLflow traces the export with the pair but keeps no example file for two tensors
            signature = infer_signature({"z": inputs[0], "labels": inputs[1]}, output)
            example: Any = tuple(inputs)
        else:
            signature, example = infer_signature(z, output), z

        def log_model() -> str:
            info = mlflow.pytorch.log_model(
                generator,
                name="generator",
                signature=signature,
                input_example=example,
                registered_model_name=registered_model,
                pip_requirements=[f"torch=={version('torch')}", f"ganops=={version('ganops')}"],
                metadata={"ganops_spec": spec.to_dict()},
            )
            return str(info.model_uri)

        self.settle()
        try:
            return log_model()
        except _OUTAGE as error:
            if _is_local(self.uri):
                raise TrackingError(f"could not log the generator: {_one_line(error)}") from None
            log.warning("could not log the generator to %s: %s", redact_uri(self.uri),
                        _one_line(error))  # fmt: skip
            self.fall_back_to_local()
            return log_model()


@contextmanager
def _quiet_end() -> Iterator[None]:
    try:
        yield
    except _OUTAGE as error:
        log.debug("could not end the run on the server: %s", _one_line(error))


def read_run_record(record: Path) -> dict[str, Any]:
    """`run.json` as the train stage wrote it: the MLflow run id, model URI, steps..."""
    payload = read_json_record(record, producer="train")
    run_id = payload.get("run_id")
    if not isinstance(run_id, str) or not run_id:
        raise DataError(f"{record}: has no run_id; rerun the train stage")
    return payload


class _ExportedGenerator(nn.Module):
    """An MLflow-logged (torch.export) generator behind the usual module interface: called
    with z, or with z and labels when it was logged conditional.

    Exported graphs are frozen in eval mode and refuse `.eval()`/`.train()`, so the graph is
    held outside the module tree and those calls only flip this wrapper's flag. It runs on
    the CPU, where it was exported; outputs return to the latents' device.
    """

    def __init__(self, exported: Any, num_classes: int) -> None:
        super().__init__()
        object.__setattr__(self, "_exported", exported)
        self.num_classes = num_classes

    def train(self, mode: bool = True) -> _ExportedGenerator:
        self.training = mode
        return self

    def forward(self, latents: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        check_labels(labels, self.num_classes, latents.shape[0])
        exported: Any = self._exported
        conditioning = () if labels is None else (labels.cpu(),)
        images: torch.Tensor = exported(latents.cpu(), *conditioning)
        return images.to(latents.device)


def logged_model_run_id(uri: str) -> str | None:
    """The MLflow run that logged the model at `uri`, or None when the store does not say."""
    mlflow.set_tracking_uri(tracking_uri())
    try:
        run_id = mlflow.models.get_model_info(uri).run_id
    except (MlflowException, OSError) as error:
        raise TrackingError(f"cannot read MLflow model {uri}: {_one_line(error)}") from None
    return str(run_id) if run_id else None


def load_logged_generator(uri: str, device: torch.device) -> tuple[nn.Module, GeneratorSpec]:
    """A generator logged by `Run.log_generator`, from its MLflow model URI, and its spec."""
    mlflow.set_tracking_uri(tracking_uri())
    try:
        info = mlflow.models.get_model_info(uri)
        exported = mlflow.pytorch.load_model(uri)
    except (MlflowException, OSError) as error:
        raise TrackingError(f"cannot load MLflow model {uri}: {_one_line(error)}") from None
    try:
        spec = GeneratorSpec.from_dict((info.metadata or {})["ganops_spec"])
    except (KeyError, TypeError, ValueError):
        raise TrackingError(f"{uri}: not a ganops generator (no ganops_spec metadata)") from None
    inputs = info.signature.inputs.inputs if info.signature and info.signature.inputs else []
    expected = 2 if spec.num_classes else 1  # z, and the labels of a conditional generator
    if len(inputs) != expected or inputs[0].shape != (-1, spec.latent_dim):
        raise TrackingError(f"{uri}: not a ganops generator (its signature is not z -> images)")
    return _ExportedGenerator(exported, spec.num_classes), spec


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"[:500]


# A server that does not answer should not stall training for minutes: MLflow's own
# defaults retry each request 7 times with exponential backoff. The user's values win.
_HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
}


def _start(
    client: mlflow.MlflowClient,
    uri: str,
    experiment: str,
    params: Params | None,
    root: Path,
    tags: dict[str, str] | None = None,
) -> Any:
    """Start a run in `experiment` (created if missing), tagged with the run's identity and
    `tags`, with every param logged."""
    experiment_id = _experiment_id(client, experiment, uri, root)
    tags = (run_identity(params, Path.cwd()) if params is not None else {}) | (tags or {})
    active = mlflow.start_run(
        experiment_id=experiment_id, run_name=os.environ.get(ENV_EXP_NAME), tags=tags
    )
    if params is not None:
        mlflow.log_params(flatten(params))
    return active


@contextmanager
def open_run(
    cfg: TrackingConfig,
    params: Params | None = None,
    run_id: str | None = None,
    root: Path | None = None,
) -> Iterator[Run]:
    """Start a run (logging all params and identity tags) or reopen `run_id`.

    On exit the run is FINISHED; on an exception FAILED with an `error` tag; on Ctrl-C or
    SIGTERM (KeyboardInterrupt/SystemExit) KILLED. A store that cannot be reached at the
    start is an error (or, with `tracking.local_fallback`, the run goes to the local store);
    one lost later only delays delivery (see `Run`).
    """
    root = root or project_root()
    uri = tracking_uri(root)
    if not _is_local(uri):
        for name, value in _HTTP_DEFAULTS.items():
            os.environ.setdefault(name, value)
    mlflow.set_tracking_uri(uri)
    client = mlflow.MlflowClient(tracking_uri=uri)
    try:
        if run_id is None:
            active = _start(client, uri, cfg.experiment, params, root)
        else:
            active = mlflow.start_run(run_id=run_id)
    except _OUTAGE as error:
        if run_id is not None or not cfg.local_fallback or _is_local(uri):
            hint = (
                "" if _is_local(uri) else "; tracking.local_fallback: true logs to the local store"
            )
            raise TrackingError(
                f"MLflow store {redact_uri(uri)} refused the run: {_one_line(error)}{hint}"
            ) from None
        log.warning("MLflow at %s unreachable (%s); logging this run to the local store",
                    redact_uri(uri), _one_line(error))  # fmt: skip
        uri = f"sqlite:///{root / STORE_FILE}"
        mlflow.set_tracking_uri(uri)
        client = mlflow.MlflowClient(tracking_uri=uri)
        active = _start(client, uri, cfg.experiment, params, root)
    home = (root, cfg.experiment, params)
    run = Run(client, active.info.run_id, uri, active.info.experiment_id, home)
    try:
        if run_id is not None:
            run.skip_logged_steps()
        yield run
        run.settle()
    except (KeyboardInterrupt, SystemExit):
        _end(run, "KILLED")
        raise
    except BaseException as error:
        _end(run, "FAILED", error)
        raise
    _end(run, "FINISHED")


def _end(run: Run, status: str, error: BaseException | None = None) -> None:
    try:
        if status != "FINISHED":
            run.settle()
        if error is not None:
            run.client.set_tag(run.run_id, "error", _one_line(error))
    except Exception as problem:  # the store itself may be the failure; still end the run
        log.warning("could not record the failure in MLflow: %s", _one_line(problem))
    finally:
        with _quiet_end():
            mlflow.end_run(status=status)

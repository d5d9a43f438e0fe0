"""An open MLflow run: buffered step metrics and images, artifacts, the model, and the
lifecycle that always ends it FINISHED, FAILED or KILLED, never left RUNNING."""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
from mlflow.entities import Dataset, DatasetInput, InputTag, Metric, RunTag
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT
from torch import nn

from ganops.config import Params, TrackingConfig
from ganops.dotted import flatten
from ganops.errors import TrackingError, scrub, stop_behind
from ganops.models import GeneratorSpec
from ganops.tracking.held import signals_held, whole_call
from ganops.tracking.identity import run_identity
from ganops.tracking.keys import chart_key
from ganops.tracking.model import (
    log_generator_model,
    log_restyler_model,
    log_text_model,
    log_translator_model,
)
from ganops.tracking.registry import describe_version
from ganops.tracking.store import (
    ENV_EXP_NAME,
    HTTP_DEFAULTS,
    OUTAGE,
    describe,
    experiment_id,
    is_local,
    local_uri,
    open_client,
    project_root,
    redact_uri,
    tracking_uri,
)

log = logging.getLogger("ganops.tracking")

GRID_KEY = "samples"
ERROR_TAG, PREVIOUS_ERROR_TAG = "error", "ganops.previous_error"
_BATCH_LIMIT = 1000  # MLflow's maximum metrics per log_batch call
_DATASET_ATTEMPTS = 3
_END_ATTEMPTS = 3
_DUPLICATE_ROW = re.compile(r"UniqueViolation|duplicate key|UNIQUE constraint failed", re.I)
_IMAGE_FILE = re.compile(r"^images/(?P<key>.+)\+step\+(?P<step>\d+)\+timestamp\+")


class Run:
    """An open MLflow run: buffered step metrics and images, artifacts, the model.

    Step metrics and images wait in a buffer until `flush`; tags are sent at once. When the
    store cannot be reached, `flush` keeps them (tags too) and training goes on; they are
    delivered at a later flush, or at the end `fall_back_to_local` writes them to the
    workspace's own store. A run reopened after a crash skips the steps its store already
    has, so none is logged twice.
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
        self._tags: dict[str, str] = {}
        self._logged: dict[str, int] = {}  # key -> last step already in the store
        self._outage = False
        # where a fallback goes: the project root, the experiment name, the params to log
        self.home = home or (project_root(), "ganops", None)

    @property
    def pending(self) -> int:
        """Values (metrics, images and tags) not yet delivered."""
        return len(self._pending) + len(self._images) + len(self._tags)

    @whole_call
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
        """Buffer step metrics under their chart names (`chart_key`); they reach the store at
        `flush` (one batch per epoch)."""
        now = int(time.time() * 1000)
        named = {chart_key(key): value for key, value in metrics.items()}
        self._pending.extend(
            Metric(key, float(value), now, step)
            for key, value in named.items()
            if step > self._logged.get(key, -1)
        )

    @whole_call
    def log_dataset(self, name: str, digest: str, source: str, profile: dict[str, Any]) -> None:
        """Record the data the run trained on as its input: the runs table's Dataset column."""
        dataset = Dataset(name, digest, "ganops", source, profile=json.dumps(profile))
        context = InputTag(MLFLOW_DATASET_CONTEXT, "training")
        for attempt in range(_DATASET_ATTEMPTS):
            try:
                self.client.log_inputs(self.run_id, datasets=[DatasetInput(dataset, [context])])
                return
            except mlflow.exceptions.MlflowException as error:
                # Runs that start together race to insert the experiment's dataset row (the
                # server looks it up, then inserts): the loser's insert breaks the unique key.
                # Asked again, the server finds the row and only links it to this run.
                if not _DUPLICATE_ROW.search(str(error)) or attempt + 1 == _DATASET_ATTEMPTS:
                    raise
                time.sleep(0.5 * (attempt + 1))

    def log_grid(self, step: int, picture: np.ndarray) -> None:
        """One frame of the fixed-latent image series (the UI shows a slider over steps)."""
        self.log_image(picture, key=GRID_KEY, step=step)

    def log_image(self, picture: np.ndarray, key: str, step: int = 0) -> None:
        """Buffer an `(H, W, C)` uint8 picture as step `step` of the image series `key`."""
        if step > self._logged.get(f"image:{key}", -1):
            self._images.append((picture, key, step))

    def _deliver_tags(self) -> None:
        if self._tags:
            tags = [RunTag(key, scrub(value)) for key, value in self._tags.items()]
            self.client.log_batch(self.run_id, tags=tags)
            self._tags.clear()

    def _deliver(self) -> None:
        self._deliver_tags()
        while self._pending:
            batch = self._pending[:_BATCH_LIMIT]
            self.client.log_batch(self.run_id, metrics=batch)
            del self._pending[: len(batch)]
        while self._images:
            picture, key, step = self._images[0]
            image = picture[:, :, 0] if picture.shape[2] == 1 else picture  # (H, W) or (H, W, 3)
            self.client.log_image(self.run_id, image, key=key, step=step, synchronous=True)
            self._images.pop(0)

    @whole_call
    def flush(self) -> None:
        """Deliver what is buffered; if the store is unreachable, keep it for later."""
        waiting = self.pending
        try:
            self._deliver()
        except OUTAGE as error:
            self._lost(error)
            return
        if self._outage:
            log.info("MLflow at %s is back: %d buffered values delivered", redact_uri(self.uri),
                     waiting)  # fmt: skip
            self._outage = False

    def _lost(self, error: Exception) -> None:
        if not self._outage:
            log.warning(
                "MLflow at %s unreachable (%s); training goes on and its metrics, images and "
                "tags wait to be delivered",
                redact_uri(self.uri),
                describe(error),
            )
        self._outage = True

    def deliver_or_fall_back(self) -> None:
        """Flush; what still cannot be delivered goes to the local store (`fall_back_to_local`)."""
        self.flush()
        if self.pending:
            self.fall_back_to_local()

    def fall_back_to_local(self) -> None:
        """Move this run to the workspace's own store: what could not be delivered goes there,
        as does all that is logged from now on (the final metrics, the model)."""
        root, experiment, params = self.home
        local = local_uri(root)
        if self.uri == local:
            raise TrackingError(f"the local MLflow store {local} cannot be written")
        client = open_client(local)
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

    @whole_call
    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        """A file, or every file of a folder, under `artifact_path`."""
        if path.is_dir():
            self.client.log_artifacts(self.run_id, str(path), artifact_path)
        else:
            self.client.log_artifact(self.run_id, str(path), artifact_path)

    @whole_call
    def set_aside_error(self) -> None:
        """A reopened run is no longer failed: the `error` of its last attempt moves to
        `ganops.previous_error`, so a run that ends FINISHED carries no `error` tag."""
        error = self.tag(ERROR_TAG)
        if error is not None:
            self.client.set_tag(self.run_id, PREVIOUS_ERROR_TAG, error)
            self.client.delete_tag(self.run_id, ERROR_TAG)

    @whole_call
    def tag(self, key: str) -> str | None:
        """The value of tag `key` of this run, or None."""
        value = self.client.get_run(self.run_id).data.tags.get(key)
        return None if value is None else str(value)

    @whole_call
    def set_tags(self, tags: dict[str, str]) -> None:
        """Tag the run now; while its store is unreachable, at the flush that reaches it (a
        warning raised mid-run, say of a mode collapse, must not end the training)."""
        self._tags.update(tags)
        try:
            self._deliver_tags()
        except OUTAGE as error:
            self._lost(error)

    def log_summary(self, metrics: dict[str, float], step: int) -> None:
        """Final values (training time, throughput) as metrics at the last step."""
        self.log_metrics(step, metrics)
        self.flush()

    @whole_call
    def log_generator(
        self, generator: nn.Module, spec: GeneratorSpec, registered_model: str | None
    ) -> str:
        """Log the generator as an MLflow model (see `log_generator_model`); returns its URI.
        A server lost at this point sends the model (and the run) to the local store."""
        return self._log_model("generator", log_generator_model, generator, spec,
                               registered_model)  # fmt: skip

    @whole_call
    def describe_registered(self, name: str, card: str, tags: dict[str, Any]) -> None:
        """Give the version this run registered as `name` its model card and tags
        (`ganops.tracking.registry`); a server lost at this point only warns."""
        try:
            version = describe_version(self.client, name, self.run_id, card, tags)
        except OUTAGE as error:
            log.warning("could not describe the registered model: %s", describe(error))
            return
        if version is not None:
            log.info("registered as %s version %s (models:/%s/%s)", name, version, name, version)

    @whole_call
    def log_translator(
        self, translator: nn.Module, spec: dict[str, Any], registered_model: str | None
    ) -> str:
        """Log a translator as an MLflow model (see `log_translator_model`); returns its URI."""
        return self._log_model("translator", log_translator_model, translator, spec,
                               registered_model)  # fmt: skip

    @whole_call
    def log_restyler(
        self, restyler: nn.Module, spec: dict[str, Any], registered_model: str | None
    ) -> str:
        """Log a restyler as an MLflow model (see `log_restyler_model`); returns its URI."""
        return self._log_model("restyler", log_restyler_model, restyler, spec,
                               registered_model)  # fmt: skip

    @whole_call
    def log_text_model(
        self, model_file: Path, spec: dict[str, Any], registered_model: str | None,
        example_text: str = "a thick seven",
    ) -> str:  # fmt: skip
        """Log a text-to-image model's file as an MLflow model (`log_text_model`); its URI."""
        return self._log_model("text model", log_text_model, model_file, spec,
                               registered_model, example_text)  # fmt: skip

    def _log_model(self, name: str, log_model: Callable[..., str], *args: Any) -> str:
        """`log_model(*args)`; a server lost now sends the model and the run to the local store."""
        self.deliver_or_fall_back()
        try:
            return log_model(*args)
        except OUTAGE as error:
            if is_local(self.uri):
                raise TrackingError(f"could not log the {name}: {describe(error)}") from None
            log.warning("could not log the %s to %s: %s", name, redact_uri(self.uri),
                        describe(error))  # fmt: skip
            self.fall_back_to_local()
            return log_model(*args)


@contextmanager
def _quiet_end() -> Iterator[None]:
    try:
        yield
    except OUTAGE as error:
        log.debug("could not end the run: %s", describe(error))


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
    filed_under = experiment_id(client, experiment, uri, root)
    tags = (run_identity(params, Path.cwd()) if params is not None else {}) | (tags or {})
    active = mlflow.start_run(
        experiment_id=filed_under, run_name=os.environ.get(ENV_EXP_NAME), tags=tags
    )
    if params is not None:
        mlflow.log_params({key: scrub(str(value)) for key, value in flatten(params).items()})
    return active


def _begin(
    cfg: TrackingConfig, params: Params | None, run_id: str | None, root: Path
) -> tuple[mlflow.MlflowClient, str, Any]:
    """The store's client, its URI and the started (or reopened) run; see `open_run`."""
    uri = tracking_uri(root)
    if not is_local(uri):
        for name, value in HTTP_DEFAULTS.items():
            os.environ.setdefault(name, value)
    mlflow.set_tracking_uri(uri)
    client = open_client(uri)
    try:
        if run_id is None:
            return client, uri, _start(client, uri, cfg.experiment, params, root)
        return client, uri, mlflow.start_run(run_id=run_id)
    except OUTAGE as error:
        if run_id is not None or not cfg.local_fallback or is_local(uri):
            hint = (
                "" if is_local(uri) else "; tracking.local_fallback: true logs to the local store"
            )
            raise TrackingError(
                f"MLflow store {redact_uri(uri)} refused the run: {describe(error)}{hint}"
            ) from None
        log.warning("MLflow at %s unreachable (%s); logging this run to the local store",
                    redact_uri(uri), describe(error))  # fmt: skip
        uri = local_uri(root)
        mlflow.set_tracking_uri(uri)
        client = open_client(uri)
        return client, uri, _start(client, uri, cfg.experiment, params, root)


@contextmanager
def open_run(
    cfg: TrackingConfig,
    params: Params | None = None,
    run_id: str | None = None,
    root: Path | None = None,
) -> Iterator[Run]:
    """Start a run (logging all params and identity tags) or reopen `run_id`.

    On exit the run is FINISHED; on an exception FAILED with an `error` tag; on Ctrl-C or
    SIGTERM (KeyboardInterrupt/SystemExit, `ganops.runner.Stopped`, or an error it caused:
    `errors.stop_behind`) KILLED, and the stop carries the note `MLflow run <id> marked
    KILLED`. A stop that arrives while the run starts or ends is held until that is done
    (`signals_held`). A store that cannot be reached at the start is an error (or, with
    `tracking.local_fallback`, the run goes to the local store); one lost later only delays
    delivery (see `Run`).
    """
    root = root or project_root()
    run: Run | None = None
    try:
        with signals_held():  # a stop that comes meanwhile is raised as the block ends
            client, uri, active = _begin(cfg, params, run_id, root)
            home = (root, cfg.experiment, params)
            run = Run(client, active.info.run_id, uri, active.info.experiment_id, home)
        if run_id is not None:
            run.skip_logged_steps()
            run.set_aside_error()
        yield run
        run.deliver_or_fall_back()
    except BaseException as error:
        stop = stop_behind(error)
        if run is not None and stop is not None:
            _end(run, "KILLED")
            stop.add_note(f"MLflow run {run.run_id} marked KILLED")
        elif run is not None:
            _end(run, "FAILED", error)
        raise
    _end(run, "FINISHED")


def _end(run: Run, status: str, error: BaseException | None = None) -> None:
    with signals_held():  # a stop during the end acts after it, not instead of it
        try:
            if status != "FINISHED":
                run.deliver_or_fall_back()
            if error is not None:
                run.client.set_tag(run.run_id, ERROR_TAG, describe(error))
        except Exception as problem:  # the store itself may be the failure; still end the run
            log.warning("could not record the failure in MLflow: %s", describe(problem))
        finally:
            with _quiet_end():
                mlflow.end_run(status=status)
            _confirm_end(run, status)


def _confirm_end(run: Run, status: str) -> None:
    """Read the run's status back and, where the store does not hold `status` yet (the
    fluent end was skipped or failed), set it on the run directly: a stop that landed in
    the middle of a store call can leave the fluent state behind."""
    for attempt in range(_END_ATTEMPTS):
        try:
            if run.client.get_run(run.run_id).info.status != status:
                run.client.set_terminated(run.run_id, status)
            return
        except OUTAGE as problem:
            if attempt + 1 == _END_ATTEMPTS:
                log.warning("could not mark MLflow run %s %s: %s", run.run_id, status,
                            describe(problem))  # fmt: skip
            time.sleep(0.5 * (attempt + 1))

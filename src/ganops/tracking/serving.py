"""The registered generator behind `mlflow models serve`: a request names how many images,
of which classes and from which seed (or gives raw latents), and gets the images back with
their shape. MLflow's pytorch flavour calls a model with one tensor, so a conditional
generator's labels could not reach it; this pyfunc model wraps the same exported graph.

A request, as JSON to `/invocations` (one or more objects under `inputs`):

    {"inputs": [{"count": 3, "classes": [7], "seed": 0}]}
    {"inputs": [{"z": [[0.1, ...], ...], "labels": [7, 2], "format": "float"}]}

Each answer, under `predictions`: `images` (nested lists, `(N, C, H, W)`), `shape`, `labels`
(null for an unconditional generator) and `format` (`uint8`, 0-255 as `ganops sample` writes,
or `float`, the generator's [-1, 1]). `count`, `classes` and `seed` draw the same latents and
labels as `ganops sample -n COUNT --class ... --seed SEED`, so both give the same images.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mlflow
import pydantic
import torch
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.pyfunc.model import PythonModel

from ganops.errors import ConfigError
from ganops.models import GeneratorSpec
from ganops.sampling import class_labels, latent_batch, to_uint8
from ganops.tracking.exported import ExportedGenerator

MAX_IMAGES = 1024  # per request, all its objects together: more is a 400, not an out-of-memory
MAX_SEED = 2**63 - 1  # the largest seed every generator of random numbers here takes
# latents are standard normal (beyond 10 once in 10**23 draws): larger, or NaN, is a mistake
MAX_LATENT = 100.0
BATCH = 256  # images per forward pass
FORMATS = ("uint8", "float")


class ImagesRequest(pydantic.BaseModel):
    """One object of a request's `inputs`: images drawn from a seed, or from raw latents."""

    model_config = pydantic.ConfigDict(extra="forbid")

    count: int = pydantic.Field(1, ge=1, le=MAX_IMAGES)
    classes: list[int] | None = None  # conditional generators; default (absent) every class
    seed: int = pydantic.Field(0, ge=0, le=MAX_SEED)
    z: list[list[float]] | None = None  # raw latents (N, latent_dim): count and seed unused
    labels: list[int] | None = None  # with z, one class per latent (conditional generators)
    format: str = "uint8"


def _refuse(message: str) -> MlflowException:
    """A request error: the scoring server answers it with a 400 and this message."""
    return MlflowException(message, error_code=INVALID_PARAMETER_VALUE)


class GeneratorService(PythonModel):  # type: ignore[misc]
    """The pyfunc model: the exported generator (the model's `generator` artifact, a pytorch
    flavour model in pt2 format) and its spec (the `spec` artifact, JSON; a model logged
    before that carried it in its model config)."""

    generator: Any
    spec: GeneratorSpec

    def load_context(self, context: Any) -> None:
        if "spec" in context.artifacts:
            spec = json.loads(Path(context.artifacts["spec"]).read_text())
        else:
            spec = context.model_config["spec"]
        self.spec = GeneratorSpec.from_dict(spec)
        exported = mlflow.pytorch.load_model(context.artifacts["generator"])
        self.generator = ExportedGenerator(exported, self.spec.num_classes)

    def _inputs(self, request: ImagesRequest) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The latents `(N, latent_dim)` and labels `(N,)` (None: unconditional) a request
        asks for; a request the generator cannot answer raises the 400 that says why."""
        cpu, spec = torch.device("cpu"), self.spec
        if request.format not in FORMATS:
            raise _refuse(f"format: {request.format!r} is not one of {', '.join(FORMATS)}")
        if request.z is None:
            if request.labels is not None:
                raise _refuse("labels: go with z; with count, name the classes instead")
            if request.classes is not None and not request.classes:
                raise _refuse("classes: empty; name at least one, or leave it out for every class")
            try:
                labels = class_labels(request.count, request.classes, spec, cpu)
            except ConfigError as error:
                raise _refuse(str(error)) from None
            return latent_batch(request.count, spec.latent_dim, request.seed, cpu), labels
        if request.classes is not None:
            raise _refuse("classes: go with count; with z, give one label per latent")
        rows = {len(row) for row in request.z}
        if not request.z or rows != {spec.latent_dim}:
            raise _refuse(
                f"z: expected a list of latents of {spec.latent_dim} numbers each, "
                f"got {len(request.z)} of {sorted(rows)}"
            )
        latents = torch.tensor(request.z, dtype=torch.float64)
        if not bool(latents.isfinite().all()) or float(latents.abs().max()) > MAX_LATENT:
            raise _refuse(f"z: every number must be finite and within +-{MAX_LATENT:g}")
        latents = latents.float()
        if not spec.num_classes:
            if request.labels is not None:
                raise _refuse("labels: this generator is unconditional and takes no class")
            return latents, None
        if request.labels is None or len(request.labels) != len(request.z):
            raise _refuse(f"labels: give one class per latent ({len(request.z)})")
        for label in request.labels:
            if not 0 <= label < spec.num_classes:
                raise _refuse(
                    f"labels: {label} is not a class of this generator "
                    f"(0 to {spec.num_classes - 1})"
                )
        return latents, torch.tensor(request.labels, dtype=torch.int64)

    def predict(
        self, context: Any, model_input: list[ImagesRequest], params: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        if not model_input:
            raise _refuse("inputs: empty; give at least one request")
        total = sum(len(r.z) if r.z is not None else r.count for r in model_input)
        if total > MAX_IMAGES:
            raise _refuse(f"{total} images asked for: at most {MAX_IMAGES} per request")
        answers = []
        for request in model_input:
            latents, labels = self._inputs(request)
            chunks = []
            with torch.no_grad():
                for start in range(0, latents.shape[0], BATCH):
                    part = slice(start, start + BATCH)
                    conditioning = () if labels is None else (labels[part],)
                    chunks.append(self.generator(latents[part], *conditioning))
            images = torch.cat(chunks)
            pixels = to_uint8(images) if request.format == "uint8" else images.numpy()
            answers.append(
                {
                    "images": pixels.tolist(),
                    "shape": list(pixels.shape),
                    "labels": None if labels is None else labels.tolist(),
                    "format": request.format,
                }
            )
        return answers

"""The generator as an MLflow model: logged in `torch.export` format (no pickle), with a
signature, and loaded back behind the usual module interface."""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

import mlflow
import numpy as np
import torch
from mlflow.models import infer_signature
from torch import nn

from ganops.errors import TrackingError
from ganops.models import GeneratorSpec
from ganops.models.layers import check_labels
from ganops.tracking.store import OUTAGE, describe, tracking_uri


def log_generator_model(
    generator: nn.Module, spec: GeneratorSpec, registered_model: str | None
) -> str:
    """Log `generator` to the active run with a signature z `(-1, latent_dim)` -> images
    `(-1, C, H, W)`, or for a conditional one (z `(-1, latent_dim)`, labels int64 `(-1,)`)
    -> images; returns its model URI."""
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


def log_translator_model(
    translator: nn.Module, spec: dict[str, Any], registered_model: str | None
) -> str:
    """Log the A-to-B `translator` to the active run with a signature images `(-1, C, H, W)`
    in [-1, 1] -> images of the same shape (`mlflow models serve`: image in, image out);
    `spec` is its `TranslatorSpec` as a dict. Returns its model URI."""
    translator = translator.cpu().eval()
    shape = (2, spec["in_channels"], spec["image_size"], spec["image_size"])
    example = np.random.default_rng(0).uniform(-1, 1, shape).astype(np.float32)
    with torch.no_grad():
        output = translator(torch.from_numpy(example)).numpy()
    info = mlflow.pytorch.log_model(
        translator,
        name="translator",
        signature=infer_signature(example, output),
        input_example=example,
        registered_model_name=registered_model,
        pip_requirements=[f"torch=={version('torch')}", f"ganops=={version('ganops')}"],
        metadata={"ganops_translator_spec": spec},
    )
    return str(info.model_uri)


class _Exported(nn.Module):
    """A torch.export graph logged by MLflow behind the module interface. Exported graphs are
    frozen in eval mode and refuse `.eval()`/`.train()`, so the graph is held outside the
    module tree and those calls only flip this wrapper's flag. It runs on the CPU, where it
    was exported."""

    def __init__(self, exported: Any) -> None:
        super().__init__()
        object.__setattr__(self, "_exported", exported)

    def train(self, mode: bool = True) -> _Exported:
        self.training = mode
        return self


class ExportedGenerator(_Exported):
    """An MLflow-logged generator: called with z, or with z and labels when it was logged
    conditional; outputs return to the latents' device."""

    def __init__(self, exported: Any, num_classes: int) -> None:
        super().__init__(exported)
        self.num_classes = num_classes

    def forward(self, latents: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        check_labels(labels, self.num_classes, latents.shape[0])
        exported: Any = self._exported
        conditioning = () if labels is None else (labels.cpu(),)
        images: torch.Tensor = exported(latents.cpu(), *conditioning)
        return images.to(latents.device)


class ExportedTranslator(_Exported):
    """An MLflow-logged translator: images in, images out (on the inputs' device)."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        exported: Any = self._exported
        translated: torch.Tensor = exported(images.cpu())
        return translated.to(images.device)


def _load_logged(uri: str) -> tuple[Any, Any]:
    """The model info and the loaded exported graph of the MLflow model at `uri`."""
    mlflow.set_tracking_uri(tracking_uri())
    try:
        return mlflow.models.get_model_info(uri), mlflow.pytorch.load_model(uri)
    except OUTAGE as error:
        raise TrackingError(f"cannot load MLflow model {uri}: {describe(error)}") from None


def load_logged_translator(uri: str) -> tuple[nn.Module, dict[str, Any]]:
    """A translator logged by `Run.log_translator`, from its model URI, and its spec (a
    dict: `ganops.translation.networks.TranslatorSpec.from_dict` rebuilds it)."""
    info, exported = _load_logged(uri)
    spec = (info.metadata or {}).get("ganops_translator_spec")
    if not isinstance(spec, dict):
        raise TrackingError(f"{uri}: not a ganops translator (no ganops_translator_spec)")
    return ExportedTranslator(exported), spec


def logged_model_run_id(uri: str) -> str | None:
    """The MLflow run that logged the model at `uri`, or None when the store does not say."""
    mlflow.set_tracking_uri(tracking_uri())
    try:
        run_id = mlflow.models.get_model_info(uri).run_id
    except OUTAGE as error:
        raise TrackingError(f"cannot read MLflow model {uri}: {describe(error)}") from None
    return str(run_id) if run_id else None


def load_logged_generator(uri: str, device: torch.device) -> tuple[nn.Module, GeneratorSpec]:
    """A generator logged by `Run.log_generator`, from its MLflow model URI, and its spec."""
    info, exported = _load_logged(uri)
    try:
        spec = GeneratorSpec.from_dict((info.metadata or {})["ganops_spec"])
    except (KeyError, TypeError, ValueError):
        raise TrackingError(f"{uri}: not a ganops generator (no ganops_spec metadata)") from None
    inputs = info.signature.inputs.inputs if info.signature and info.signature.inputs else []
    expected = 2 if spec.num_classes else 1  # z, and the labels of a conditional generator
    if len(inputs) != expected or inputs[0].shape != (-1, spec.latent_dim):
        raise TrackingError(f"{uri}: not a ganops generator (its signature is not z -> images)")
    return ExportedGenerator(exported, spec.num_classes), spec

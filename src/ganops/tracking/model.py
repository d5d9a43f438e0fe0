"""The generator, the translator, the restyler and the text-to-image model as MLflow models:
pyfunc services that `mlflow models serve` answers behind `ganops.tracking.guard`, with their
weights inside (no pickle: the generator as a `torch.export` graph, the translator and the
restyler as state dicts, the text model as its file, all loaded with `weights_only=True`); the
first three load back behind the usual module interface, the text model as the file rebuilds
it."""

from __future__ import annotations

import json
import tempfile
import warnings
from importlib.metadata import version
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import torch
from mlflow.models import infer_signature
from torch import nn

from ganops.errors import TrackingError
from ganops.io import save_torch
from ganops.models import GeneratorSpec
from ganops.tracking.exported import ExportedGenerator, ExportedTranslator
from ganops.tracking.serving import GeneratorService
from ganops.tracking.store import OUTAGE, describe, tracking_uri

# the models' code (MLflow's models from code): the services `mlflow models serve` runs
SERVED_CODE = str(Path(__file__).with_name("served_generator.py"))
SERVED_TRANSLATOR_CODE = str(Path(__file__).with_name("served_translator.py"))
SERVED_RESTYLER_CODE = str(Path(__file__).with_name("served_restyler.py"))
SERVED_TEXT_CODE = str(Path(__file__).with_name("served_text.py"))


def log_generator_model(
    generator: nn.Module, spec: GeneratorSpec, registered_model: str | None
) -> str:
    """Log `generator` to the active run as a pyfunc model that `mlflow models serve` answers
    (`ganops.tracking.serving`: images by count, classes and seed, or from raw latents); the
    weights inside it are a pytorch flavour model exported with `torch.export`, signature z
    `(-1, latent_dim)` (and labels int64 `(-1,)` for a conditional one) -> images
    `(-1, C, H, W)`. Returns its model URI."""
    generator = generator.cpu().eval()
    z = np.random.default_rng(0).standard_normal((2, spec.latent_dim)).astype(np.float32)
    inputs: list[np.ndarray] = [z]
    if spec.num_classes:
        inputs.append(np.arange(2, dtype=np.int64) % spec.num_classes)  # labels (2,)
    with torch.no_grad():
        output = generator(*map(torch.from_numpy, inputs)).numpy()
    if spec.num_classes:
        signature = infer_signature({"z": inputs[0], "labels": inputs[1]}, output)
        example: Any = tuple(inputs)
    else:
        signature, example = infer_signature(z, output), z
    requirements = [f"torch=={version('torch')}", f"ganops=={version('ganops')}"]
    request: dict[str, Any] = {"count": 2, "seed": 0}
    if spec.num_classes:
        request["classes"] = [0]
    with tempfile.TemporaryDirectory() as folder, warnings.catch_warnings():
        # the answer's type (nested image lists of uint8 or float) is documented in
        # ganops.tracking.serving; MLflow warns that it does not validate answers
        warnings.filterwarnings("ignore", message=".*Any type hint is inferred as AnyType")
        graph, spec_file = Path(folder) / "generator", Path(folder) / "spec.json"
        # an artifact, not the model config: MLflow logs a model config as the run's params
        spec_file.write_text(json.dumps(spec.to_dict()))
        mlflow.pytorch.save_model(
            generator, graph, signature=signature, input_example=example,
            pip_requirements=requirements,
        )  # fmt: skip
        info = mlflow.pyfunc.log_model(
            name="generator",
            python_model=SERVED_CODE,
            artifacts={"generator": str(graph), "spec": str(spec_file)},
            input_example=[request],
            registered_model_name=registered_model,
            pip_requirements=requirements,
            metadata={"ganops_spec": spec.to_dict()},
        )
    return str(info.model_uri)


def log_translator_model(
    translator: nn.Module, spec: dict[str, Any], registered_model: str | None
) -> str:
    """Log the A-to-B `translator` to the active run as a pyfunc model that `mlflow models
    serve` answers (`ganops.tracking.translator_serving`: images `(-1, C, H, W)` in [-1, 1]
    in, their translations of the same shape out, every request checked first); inside it,
    the translator's weights (a state dict, loaded with `weights_only=True`) and `spec`, its
    `TranslatorSpec` as a dict. Returns its model URI."""
    shape = (2, spec["in_channels"], spec["image_size"], spec["image_size"])
    example = np.random.default_rng(0).uniform(-1, 1, shape).astype(np.float32)
    return _log_weights_model(
        "translator", SERVED_TRANSLATOR_CODE, translator, spec, example, registered_model
    )


def log_restyler_model(
    restyler: nn.Module, spec: dict[str, Any], registered_model: str | None
) -> str:
    """Log `restyler` to the active run as a pyfunc model that `mlflow models serve` answers
    (`ganops.tracking.restyler_serving`: content images and style images `(-1, C, H, W)` in
    [-1, 1] in, each content in its style out, every request checked first); inside it, the
    restyler's weights (a state dict) and `spec`, its `RestylerSpec` as a dict. Returns its
    model URI."""
    shape = (2, spec["channels"], spec["image_size"], spec["image_size"])
    images = np.random.default_rng(0).uniform(-1, 1, shape).astype(np.float32)
    example = {"content": images, "style": images[:1]}
    return _log_weights_model(
        "restyler", SERVED_RESTYLER_CODE, restyler, spec, example, registered_model
    )


def log_text_model(
    model_file: Path, spec: dict[str, Any], registered_model: str | None,
    example_text: str = "a thick seven",
) -> str:  # fmt: skip
    """Log the text-to-image model's file (`ganops.text.artifact`: the generator, the text
    encoder and the vocabulary) to the active run as a pyfunc model that `mlflow models serve`
    answers (`ganops.tracking.text_serving`: texts, a count and a seed in, images
    `(-1, C, H, W)` in [-1, 1] out, every request checked first); `spec`, the generator's
    `TextGanSpec` as a dict, is its metadata `ganops_text_spec`; `example_text`, words of
    its vocabulary, its input example's. Returns its model URI."""
    requirements = [f"torch=={version('torch')}", f"ganops=={version('ganops')}"]
    example = {"text": np.array([example_text]), "count": np.array(2), "seed": np.array(0)}
    info = mlflow.pyfunc.log_model(
        name="text",
        python_model=SERVED_TEXT_CODE,
        artifacts={"model": str(model_file)},
        # no signature: the service checks each request itself and names the problem
        signature=False,
        input_example=example,
        registered_model_name=registered_model,
        pip_requirements=requirements,
        metadata={"ganops_text_spec": spec},
    )
    return str(info.model_uri)


def _log_weights_model(
    name: str, code: str, network: nn.Module, spec: dict[str, Any], example: Any,
    registered_model: str | None,
) -> str:  # fmt: skip
    """Log `network` as the pyfunc model `name` served by `code`, with its state dict and
    `spec` as artifacts and `spec` as the metadata `ganops_<name>_spec`."""
    requirements = [f"torch=={version('torch')}", f"ganops=={version('ganops')}"]
    with tempfile.TemporaryDirectory() as folder:
        weights, spec_file = Path(folder) / f"{name}.pt", Path(folder) / "spec.json"
        # copies on the CPU: the caller's network stays on its device, in its mode
        save_torch(weights, {key: t.detach().cpu() for key, t in network.state_dict().items()})
        spec_file.write_text(json.dumps(spec))
        info = mlflow.pyfunc.log_model(
            name=name,
            python_model=code,
            artifacts={"weights": str(weights), "spec": str(spec_file)},
            # no signature: the service checks each request's images itself (shape, range,
            # count) and names the problem, where MLflow's tensor check would quote the request
            signature=False,
            input_example=example,
            registered_model_name=registered_model,
            pip_requirements=requirements,
            metadata={f"ganops_{name}_spec": spec},
        )
    return str(info.model_uri)


def load_logged_translator(uri: str) -> tuple[nn.Module, dict[str, Any]]:
    """A translator logged by `Run.log_translator`, from its model URI, and its spec (a
    dict: `ganops.translation.networks.TranslatorSpec.from_dict` rebuilds it): the served
    pyfunc model's network, or the exported graph earlier versions logged as a pytorch
    flavour model (which runs on the CPU only)."""
    return _load_weights_model(uri, "translator")


def load_logged_restyler(uri: str) -> tuple[nn.Module, dict[str, Any]]:
    """A restyler logged by `Run.log_restyler`, from its model URI, and its spec (a dict:
    `ganops.restyle.networks.RestylerSpec.from_dict` rebuilds it)."""
    return _load_weights_model(uri, "restyler")


def _load_weights_model(uri: str, name: str) -> tuple[nn.Module, dict[str, Any]]:
    mlflow.set_tracking_uri(tracking_uri())
    try:
        info = mlflow.models.get_model_info(uri)
        spec = (info.metadata or {}).get(f"ganops_{name}_spec")
        if not isinstance(spec, dict):
            raise TrackingError(f"{uri}: not a ganops {name} (no ganops_{name}_spec)")
        if name == "translator" and "pytorch" in info.flavors:
            return ExportedTranslator(mlflow.pytorch.load_model(uri)), spec
        service = mlflow.pyfunc.load_model(uri).unwrap_python_model()
    except OUTAGE as error:
        raise TrackingError(f"cannot load MLflow model {uri}: {describe(error)}") from None
    # the service's class is not imported here: it reaches the task's package, which the run
    # machinery (importing this module) must not
    network = getattr(service, name, None)
    if not isinstance(network, nn.Module):
        raise TrackingError(f"{uri}: not a ganops {name} (its model is not the service)")
    return network, spec


def load_logged_text(uri: str) -> tuple[Any, dict[str, Any]]:
    """A text-to-image model logged by `Run.log_text_model`, from its model URI: the served
    pyfunc model's `ganops.text.artifact.TextModel` (rebuilt on the CPU from the model's file,
    with `weights_only=True`), and its spec (a dict); a one-line `TrackingError` naming `uri`
    when it is not one (another task's model, say)."""
    mlflow.set_tracking_uri(tracking_uri())
    try:
        info = mlflow.models.get_model_info(uri)
        spec = (info.metadata or {}).get("ganops_text_spec")
        if not isinstance(spec, dict):
            raise TrackingError(
                f"{uri}: not a ganops text-to-image model (no ganops_text_spec); --text needs "
                "a task: text model (models:/ganops-text/VERSION)"
            )
        service = mlflow.pyfunc.load_model(uri).unwrap_python_model()
    except OUTAGE as error:
        raise TrackingError(f"cannot load MLflow model {uri}: {describe(error)}") from None
    # the service's class is not imported here: it reaches the text package, which the run
    # machinery (importing this module) must not
    model = getattr(service, "model", None)
    if model is None or not hasattr(model, "draw"):
        raise TrackingError(
            f"{uri}: not a ganops text-to-image model (its model is not the service)"
        )
    return model, spec


def logged_model_run_id(uri: str) -> str | None:
    """The MLflow run that logged the model at `uri`, or None when the store does not say."""
    mlflow.set_tracking_uri(tracking_uri())
    try:
        run_id = mlflow.models.get_model_info(uri).run_id
    except OUTAGE as error:
        raise TrackingError(f"cannot read MLflow model {uri}: {describe(error)}") from None
    return str(run_id) if run_id else None


def load_logged_generator(uri: str, device: torch.device) -> tuple[nn.Module, GeneratorSpec]:
    """A generator logged by `Run.log_generator`, from its MLflow model URI, and its spec: the
    served pyfunc model's graph, or the pytorch flavour model earlier versions logged."""
    mlflow.set_tracking_uri(tracking_uri())
    try:
        info = mlflow.models.get_model_info(uri)
        spec = _generator_spec(uri, info)
        if "pytorch" in info.flavors:  # the graph itself, as logged before the service
            inputs = info.signature.inputs.inputs if info.signature else []
            expected = 2 if spec.num_classes else 1  # z, and a conditional one's labels
            if len(inputs) != expected or inputs[0].shape != (-1, spec.latent_dim):
                raise TrackingError(f"{uri}: not a ganops generator (its signature is not z)")
            return ExportedGenerator(mlflow.pytorch.load_model(uri), spec.num_classes), spec
        service = mlflow.pyfunc.load_model(uri).unwrap_python_model()
    except OUTAGE as error:
        raise TrackingError(f"cannot load MLflow model {uri}: {describe(error)}") from None
    if not isinstance(service, GeneratorService):
        raise TrackingError(f"{uri}: not a ganops generator (its model is not the service)")
    return service.generator, spec


def _generator_spec(uri: str, info: Any) -> GeneratorSpec:
    if "ganops_text_spec" in (info.metadata or {}):
        raise TrackingError(f"{uri}: a text-to-image model, not a generator; draw with --text")
    try:
        return GeneratorSpec.from_dict((info.metadata or {})["ganops_spec"])
    except (KeyError, TypeError, ValueError):
        raise TrackingError(f"{uri}: not a ganops generator (no ganops_spec metadata)") from None

"""The translator as an MLflow model, off the server: the checks its service makes of each
request, and the model logged, loaded back and run in this process (the real server is in
tests/translation/test_serve.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pytest
import torch
from mlflow.exceptions import MlflowException

from ganops.config import Params
from ganops.errors import TrackingError
from ganops.tracking import load_logged_translator, open_run
from ganops.tracking.translator_serving import MAX_IMAGES, checked_images
from ganops.translation.networks import TranslatorSpec, build_generator, init_weights

SPEC = TranslatorSpec(
    arch="unet", in_channels=1, out_channels=1, image_size=28, width=8, downsamplings=2, blocks=1
)
EXPECTED = "expected images (N, 1, 28, 28) (N, C, H, W) in [-1, 1]"


def _translator() -> torch.nn.Module:
    module = build_generator(SPEC)
    init_weights(module, 0)
    return module.eval()


def _inputs(count: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, (count, 1, 28, 28)).astype(np.float32)


@pytest.mark.parametrize(
    ("images", "said"),
    [
        (np.zeros((2, 1, 27, 27)), f"{EXPECTED}; got an array (2, 1, 27, 27)"),
        (np.zeros((2, 3, 28, 28)), "got an array (2, 3, 28, 28)"),
        (np.zeros((1, 28, 28)), "got an array (1, 28, 28)"),
        (np.float32(0.5), "got an array ()"),
        (np.array(["a digit"]), f"{EXPECTED}; got text"),
        (np.zeros((1, 1, 28, 28), dtype=bool), "got true/false values"),
        (np.array([[0, 1], [2]], dtype=object), "got lists of mixed depth or type"),
        ([[0, 1], [2]], "got lists of different lengths"),
        ({"images": np.zeros((1, 1, 28, 28))}, "got an object of named inputs"),
        (np.zeros((0, 1, 28, 28)), f"no image; give 1 to {MAX_IMAGES} per request"),
        (np.zeros((0,)), "no image"),
        (np.zeros((MAX_IMAGES + 1, 1, 28, 28)), f"{MAX_IMAGES + 1} images; at most {MAX_IMAGES}"),
        (np.full((1, 1, 28, 28), np.nan), "every value must be finite (NaN or Infinity found)"),
        (np.full((1, 1, 28, 28), -np.inf), "every value must be finite"),
        (np.full((1, 1, 28, 28), 1.0001),
         "values must be within [-1, 1] (pixels p as p / 127.5 - 1); found 1.0001"),
        (np.full((1, 1, 28, 28), 255, dtype=np.uint8), "found 255"),
        (np.full((1, 1, 28, 28), -2.0), "found -2"),
    ],
)  # fmt: skip
def test_images_the_translator_cannot_take_are_a_400_that_names_the_problem(
    images: Any, said: str
) -> None:
    with pytest.raises(MlflowException) as refused:
        checked_images(images, SPEC)
    assert said in refused.value.message, refused.value.message
    assert refused.value.message.startswith("inputs: ")
    assert refused.value.get_http_status_code() == 400


def test_images_in_range_pass_as_float32_whatever_their_number_type() -> None:
    for images in (_inputs(3), np.zeros((1, 1, 28, 28), dtype=np.int64), [[[[-1, 1] * 14] * 28]]):
        checked = checked_images(images, SPEC)
        assert checked.dtype == torch.float32 and checked.shape[1:] == (1, 28, 28)
        assert np.array_equal(checked.numpy(), np.asarray(images, dtype=np.float32))


def test_the_logged_translator_is_the_network_with_its_checks(
    mlflow_store: str, tiny_params: Callable[..., Params], workdir: Path
) -> None:
    translator = _translator().train()
    with open_run(tiny_params().tracking, tiny_params(), root=workdir) as run:
        uri = run.log_translator(translator, SPEC.to_dict(), "served-translator")
    assert translator.training  # logging leaves the caller's translator as it was
    translator.eval()
    # more images than one forward pass takes, to cross the service's batches
    inputs = _inputs(300)
    with torch.no_grad():
        expected = translator(torch.from_numpy(inputs)).numpy()
    served = mlflow.pyfunc.load_model("models:/served-translator/1")
    assert np.array_equal(np.asarray(served.predict(inputs)), expected)
    with pytest.raises(MlflowException, match=r"values must be within \[-1, 1\]"):
        served.predict(inputs * 2)
    # loaded back for `ganops translate`: the network itself, which moves between devices
    module, spec = load_logged_translator(uri)
    assert isinstance(module, torch.nn.Module) and spec == SPEC.to_dict()
    assert next(module.to(torch.device("meta")).parameters()).device.type == "meta"


def test_a_translator_logged_by_an_earlier_version_still_loads(
    mlflow_store: str, tiny_params: Callable[..., Params], workdir: Path
) -> None:
    """Earlier versions logged the exported graph as a pytorch flavour model."""
    translator, inputs = _translator(), _inputs(2)
    with open_run(tiny_params().tracking, tiny_params(), root=workdir):
        info = mlflow.pytorch.log_model(
            translator, name="translator", input_example=inputs,
            metadata={"ganops_translator_spec": SPEC.to_dict()},
        )  # fmt: skip
    module, spec = load_logged_translator(info.model_uri)
    with torch.no_grad():
        expected = translator(torch.from_numpy(inputs))
        assert torch.allclose(module(torch.from_numpy(inputs)), expected, atol=1e-5)
    assert spec == SPEC.to_dict()


def test_a_model_that_is_no_translator_is_refused(
    mlflow_store: str, tiny_params: Callable[..., Params], workdir: Path
) -> None:
    with open_run(tiny_params().tracking, tiny_params(), root=workdir):
        info = mlflow.pyfunc.log_model(
            name="other", python_model=_Echo(), metadata={"ganops_translator_spec": SPEC.to_dict()}
        )
    with pytest.raises(TrackingError, match=r"not a ganops translator \(its model is not the"):
        load_logged_translator(info.model_uri)


class _Echo(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
    def predict(self, context: Any, model_input: np.ndarray, params: Any = None) -> np.ndarray:
        return model_input

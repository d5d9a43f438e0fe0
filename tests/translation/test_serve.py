"""The registered translator served by the real `mlflow models serve` (image in, image out):
trained through the real stages (tiny, paired), served from its workspace as
docs/translation-guide.md says, and called over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests
import torch

from ganops.cli import main
from ganops.sampling import to_uint8
from ganops.translation.artifact import load_translator
from tests.helpers import mlflow_models_serve, run_stages_in
from tests.translation.test_translate_stages import TINY_TRANSLATE

pytestmark = pytest.mark.slow

# The tiny paired task on 200 train / 100 test images: one step, enough to register a model.
# The evaluator's accuracy does not matter to serving, so its bar is off.
SERVED = TINY_TRANSLATE | {
    "data": {"test_size": 100, "train_per_class": 20},
    "evaluator": {"epochs": 1, "min_accuracy": 0.0},
}
MODEL = "models:/ganops-translator/1"  # tracking.registered_translator


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The URL of `mlflow models serve` serving the translator a tiny paired run registered,
    and the run's workspace."""
    workspace = tmp_path_factory.mktemp("served")
    run_stages_in(workspace, ("fetch", "preprocess", "train_evaluator", "train"), SERVED)
    with mlflow_models_serve(MODEL, workspace) as url:
        yield url, workspace


def test_the_served_translator_answers_as_its_file_does(served: tuple[str, Path]) -> None:
    url, workspace = served
    images = np.load(workspace / "data/processed/A/test_images.npy")[::25]  # (4, 1, 28, 28)
    inputs = images.astype(np.float32) / 127.5 - 1  # the model's range, [-1, 1]
    answer = requests.post(f"{url}/invocations", json={"inputs": inputs.tolist()}, timeout=60)
    assert answer.status_code == 200, answer.text[:2000]
    served_images = np.asarray(answer.json()["predictions"], dtype=np.float32)
    assert served_images.shape == inputs.shape
    assert served_images.min() >= -1 and served_images.max() <= 1
    # the same numbers as the translator file the train stage wrote beside it ...
    generators, _ = load_translator(workspace / "data/models/model.pt")
    with torch.no_grad():
        expected = generators["ab"](torch.from_numpy(inputs)).numpy()
    assert np.abs(served_images - expected).max() < 1e-4
    # ... and, as pixels, the same images `ganops translate` writes
    np.save(workspace / "in.npy", images)
    model_file = str(workspace / "data/models/model.pt")
    assert main(["translate", "--model", model_file, str(workspace / "in.npy"),
                 str(workspace / "out.npy")]) == 0  # fmt: skip
    translated = np.load(workspace / "out.npy").astype(int)
    assert np.abs(to_uint8(torch.from_numpy(served_images)).astype(int) - translated).max() <= 1


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"inputs": np.zeros((2, 1, 27, 27)).tolist()},
         "Shape of input (2, 1, 27, 27) does not match expected shape (-1, 1, 28, 28)"),
        ({"inputs": np.zeros((2, 28, 28)).tolist()},
         "Shape of input (2, 28, 28) does not match expected shape (-1, 1, 28, 28)"),
        ({"inputs": "a digit"},
         "Failed to convert data `a digit` to type `Tensor('float32', (-1, 1, 28, 28))`"),
        ({"images": np.zeros((2, 1, 28, 28)).tolist()},
         "exactly one of the input fields"),
    ],
)  # fmt: skip
def test_a_malformed_body_is_a_4xx_that_says_what_is_wrong(
    served: tuple[str, Path], body: dict[str, Any], message: str
) -> None:
    url, _ = served
    answer = requests.post(f"{url}/invocations", json=body, timeout=60)
    assert 400 <= answer.status_code < 500, answer.text[:2000]
    assert message in answer.json()["message"]

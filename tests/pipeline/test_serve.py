"""The registered generator served by the real `mlflow models serve`, as docs/sampling.md
says: a conditional one, trained through the real stages, asked over HTTP for three images
of class 7 that the stage's own evaluator calls 7; then the unconditional one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests
import torch
from mlflow import MlflowClient

from ganops.cli import main
from ganops.metrics.evaluator import load_evaluator
from ganops.metrics.features import feature_set
from ganops.tracking.registry import crown
from tests.helpers import mlflow_models_serve, run_stages_in

pytestmark = pytest.mark.slow

# A small conditional GAN trained long enough that its class 7 looks like a 7 to the
# evaluator: at this size the evaluator calls 99.5% and 100% of 200 sevens from seeds 0
# and 1 a 7 (at width 16 and 3 epochs, 56%).
SERVED: dict[str, Any] = {
    "evaluator": {"epochs": 3, "min_accuracy": 0.9},
    "model": {"latent_dim": 32, "width": 32},
    "train": {"epochs": 4, "batch_size": 64, "eval_every": 0, "class_loss": 1.0},
}
MODEL = "models:/ganops-generator/{version}"  # tracking.registered_model


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace where the stages up to train registered a conditional generator."""
    base = tmp_path_factory.mktemp("served")
    run_stages_in(base, ("fetch", "preprocess", "train_evaluator", "train"), SERVED)
    return base


def _ask(url: str, body: dict[str, Any]) -> requests.Response:
    return requests.post(f"{url}/invocations", json=body, timeout=120)


def test_a_served_conditional_generator_draws_the_class_asked_for(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # served by the registry's alias, as the README does, once the version holds it
    store = f"sqlite:///{workspace / 'mlflow.db'}"
    crown(MlflowClient(store), "ganops-generator", "1")
    model = "models:/ganops-generator@champion"
    with mlflow_models_serve(model, workspace) as url:
        answer = _ask(url, {"inputs": [{"count": 3, "classes": [7], "seed": 0}]})
        assert answer.status_code == 200, answer.text[:2000]
        (served,) = answer.json()["predictions"]
        refused = _ask(url, {"inputs": [{"count": 10**6, "classes": [7]}]})
        unknown = _ask(url, {"inputs": [{"count": 2, "classes": [11]}]})
    assert served["shape"] == [3, 1, 28, 28] and served["labels"] == [7, 7, 7]
    images = np.asarray(served["images"], dtype=np.uint8)
    evaluator = load_evaluator(workspace / "data/models/evaluator.pt")
    called = feature_set(evaluator, images, 64, torch.device("cpu")).logits.argmax(1)
    assert called.tolist() == [7, 7, 7]
    # the same images as `ganops sample` draws from the same model, count, class and seed
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    out = workspace / "sevens.npy"
    assert main(["sample", "--model", model, "-n", "3", "--class", "7", "--seed", "0",
                 "--out", str(out)]) == 0  # fmt: skip
    assert np.array_equal(np.load(out), images)
    # a request too large, or for a class the generator lacks, is a 400 that says so
    assert refused.status_code == 400
    assert "Input should be less than or equal to 1024" in refused.json()["message"]
    assert unknown.status_code == 400
    assert "classes: 11 is not a class of this generator (0 to 9)" in unknown.json()["message"]


def test_a_served_unconditional_generator_draws_from_count_and_seed(workspace: Path) -> None:
    unconditional = SERVED | {
        "model": SERVED["model"] | {"conditional": False},
        "train": SERVED["train"] | {"epochs": 1},
    }
    run_stages_in(workspace, ("train",), unconditional)  # registers version 2
    with mlflow_models_serve(MODEL.format(version=2), workspace) as url:
        answer = _ask(url, {"inputs": [{"count": 4, "seed": 1, "format": "float"}]})
        refused = _ask(url, {"inputs": [{"count": 2, "classes": [7]}]})
    assert answer.status_code == 200, answer.text[:2000]
    (served,) = answer.json()["predictions"]
    assert served["shape"] == [4, 1, 28, 28] and served["labels"] is None
    images = np.asarray(served["images"])
    assert images.min() >= -1 and images.max() <= 1
    assert refused.status_code == 400
    assert "this generator is unconditional and takes no class" in refused.json()["message"]

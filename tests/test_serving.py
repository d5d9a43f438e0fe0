"""The generator model MLflow logs is a service (`ganops.tracking.serving`): images by count,
classes and seed, or from raw latents, and a 400 that says what is wrong with a bad request.
In-process here, through MLflow's own scoring code; tests/pipeline/test_serve.py starts the
real `mlflow models serve`."""

from __future__ import annotations

import json
from typing import Any

import mlflow
import numpy as np
import pytest
import torch
from mlflow.exceptions import MlflowException
from mlflow.pyfunc.scoring_server import invocations

from ganops.models import GeneratorSpec, build_generator
from ganops.sampling import latent_batch, to_uint8
from ganops.tracking import open_run
from ganops.tracking.serving import MAX_IMAGES

UNCONDITIONAL = GeneratorSpec("dcgan", 8, 4, (1, 28, 28))
CONDITIONAL = GeneratorSpec("dcgan", 8, 4, (1, 28, 28), num_classes=10)


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[torch.nn.Module, Any]]:
    """A random unconditional and a random conditional generator, each logged as the train
    stage logs it: the generator and the pyfunc model MLflow loads back, by name."""
    from ganops.dotted import flatten
    from ganops.params import parse_params
    from tests.helpers import TINY, merged, project_params

    params = parse_params(merged(project_params(), TINY))
    root = tmp_path_factory.mktemp("served")
    logged = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
        patch.delenv("DVC_EXP_NAME", raising=False)
        for name, spec in (("unconditional", UNCONDITIONAL), ("conditional", CONDITIONAL)):
            torch.manual_seed(0)
            generator = build_generator(spec).eval()
            with open_run(params.tracking, params, root=root) as run:
                uri = run.log_generator(generator, spec, registered_model=None)
            logged[name] = generator, mlflow.pyfunc.load_model(uri)
            # the model's spec travels as its artifact, never as the run's params
            client = mlflow.MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
            assert client.get_run(run.run_id).data.params.keys() == flatten(params).keys()
    return logged


def _ask(model: Any, body: dict[str, Any]) -> Any:
    """The JSON `mlflow models serve` answers `body` with, through its own scoring code."""
    schema = model.metadata.get_input_schema()
    answer = invocations(json.dumps(body), "application/json", model, schema)
    assert answer.status == 200, answer.response
    return json.loads(answer.response)["predictions"]


def _refused(model: Any, body: dict[str, Any]) -> str:
    """The message of the 400 a bad `body` gets."""
    schema = model.metadata.get_input_schema()
    with pytest.raises(MlflowException) as raised:
        invocations(json.dumps(body), "application/json", model, schema)
    assert raised.value.get_http_status_code() == 400
    return raised.value.message


def test_an_unconditional_generator_answers_count_and_seed_as_ganops_sample_does(
    logged: dict[str, tuple[torch.nn.Module, Any]],
) -> None:
    generator, model = logged["unconditional"]
    (answer,) = _ask(model, {"inputs": [{"count": 3, "seed": 5}]})
    assert answer["shape"] == [3, 1, 28, 28] and answer["format"] == "uint8"
    assert answer["labels"] is None
    with torch.no_grad():
        expected = generator(latent_batch(3, 8, 5, torch.device("cpu")))
    assert np.array_equal(np.asarray(answer["images"], dtype=np.uint8), to_uint8(expected))
    z = np.random.default_rng(1).standard_normal((2, 8)).tolist()
    (raw,) = _ask(model, {"inputs": [{"z": z, "format": "float"}]})
    with torch.no_grad():
        from_z = generator(torch.tensor(z, dtype=torch.float32)).numpy()
    assert raw["shape"] == [2, 1, 28, 28] and raw["format"] == "float"
    assert np.abs(np.asarray(raw["images"]) - from_z).max() < 1e-5


def test_a_conditional_generator_answers_the_classes_asked_for(
    logged: dict[str, tuple[torch.nn.Module, Any]],
) -> None:
    generator, model = logged["conditional"]
    sevens, mixed = _ask(
        model, {"inputs": [{"count": 3, "classes": [7]}, {"count": 4, "classes": [1, 2]}]}
    )
    assert sevens["labels"] == [7, 7, 7] and sevens["shape"] == [3, 1, 28, 28]
    assert mixed["labels"] == [1, 1, 2, 2]  # in equal blocks, as `ganops sample --class`
    latents = latent_batch(3, 8, 0, torch.device("cpu"))
    with torch.no_grad():
        expected = to_uint8(generator(latents, torch.full((3,), 7)))
    assert np.array_equal(np.asarray(sevens["images"], dtype=np.uint8), expected)
    (every,) = _ask(model, {"inputs": [{"count": 10}]})
    assert every["labels"] == list(range(10))  # no classes: every class
    z = np.random.default_rng(2).standard_normal((2, 8)).tolist()
    (raw,) = _ask(model, {"inputs": [{"z": z, "labels": [3, 9], "format": "float"}]})
    with torch.no_grad():
        from_z = generator(torch.tensor(z, dtype=torch.float32), torch.tensor([3, 9])).numpy()
    assert raw["labels"] == [3, 9]
    assert np.abs(np.asarray(raw["images"]) - from_z).max() < 1e-5


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        ({"count": 10**6}, f"Input should be less than or equal to {MAX_IMAGES}"),
        ({"count": 0}, "Input should be greater than or equal to 1"),
        ({"count": "many"}, "Input should be a valid integer"),
        ({"counts": 3}, "Extra inputs are not permitted"),
        ({"count": 2, "classes": [12]}, "classes: 12 is not a class of this generator (0 to 9)"),
        ({"count": 2, "format": "png"}, "format: 'png' is not one of uint8, float"),
        ({"z": [[0.0] * 7]}, "z: expected a list of latents of 8 numbers each, got 1 of [7]"),
        ({"z": [[0.0] * 8]}, "labels: give one class per latent (1)"),
        ({"z": [[0.0] * 8], "labels": [10]}, "labels: 10 is not a class of this generator"),
        ({"count": 2, "labels": [1, 2]}, "labels: go with z; with count, name the classes"),
    ],
)  # fmt: skip
def test_a_bad_request_is_a_400_that_says_what_is_wrong(
    logged: dict[str, tuple[torch.nn.Module, Any]], request_: dict[str, Any], message: str
) -> None:
    _, model = logged["conditional"]
    assert message in _refused(model, {"inputs": [request_]})


def test_too_many_images_in_one_request_is_a_400_before_any_is_made(
    logged: dict[str, tuple[torch.nn.Module, Any]],
) -> None:
    _, model = logged["unconditional"]
    body = {"inputs": [{"count": MAX_IMAGES}, {"count": 1}]}
    assert f"{MAX_IMAGES + 1} images asked for: at most {MAX_IMAGES}" in _refused(model, body)
    message = _refused(model, {"inputs": [{"count": 1, "classes": [3]}]})
    assert "classes: this generator is unconditional and takes no class" in message

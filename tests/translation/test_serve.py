"""The registered translator served by the real `mlflow models serve` (image in, image out):
trained through the real stages (tiny, paired), served from its workspace as
docs/translation-guide.md says, and called over HTTP on 127.0.0.1. Its answers are the
network's own numbers; careless and hostile requests (another shape, values outside [-1, 1],
NaN, too many images, 20 MB, deep nesting, then whatever Hypothesis makes of random JSON and
near-images) get a short 4xx that names the problem, never a 5xx, an echo of the request or
a stack trace, and the server answers `/ping` after (the generator's server gets the same in
tests/pipeline/test_serve_hostile.py, whose helpers these tests use)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ganops.cli import main
from ganops.sampling import to_uint8
from ganops.translation.artifact import load_translator
from tests.helpers import served_tiny_run
from tests.pipeline.test_serve_hostile import assert_200_or_short_4xx, json_values, post, refused
from tests.translation.test_translate_stages import TINY_TRANSLATE

pytestmark = pytest.mark.slow

# The tiny paired task on 200 train / 100 test images: one step, enough to register a model.
# The evaluator's accuracy does not matter to serving, so its bar is off.
SERVED = TINY_TRANSLATE | {
    "data": {"test_size": 100, "train_per_class": 20},
    "evaluator": {"epochs": 1, "min_accuracy": 0.0},
}
MODEL = "models:/ganops-translator/1"  # tracking.registered_translator
IMAGE = (1, 28, 28)  # (C, H, W) of the tiny task's domain A
EXPECTED = "inputs: expected images (N, 1, 28, 28) (N, C, H, W) in [-1, 1]"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The URL of `mlflow models serve` serving the translator a tiny paired run registered,
    and the run's workspace."""
    with served_tiny_run(tmp_path_factory, "served", MODEL, SERVED) as served:
        yield served


def _body(inputs: Any) -> bytes:
    return json.dumps({"inputs": inputs}).encode()


def _zeros(count: int, shape: tuple[int, ...] = IMAGE) -> bytes:
    """A request of `count` grey images (0, the middle of [-1, 1]), written out without
    building the nested lists: `count` may be thousands."""
    one = json.dumps(np.zeros(shape, dtype=int).tolist()).encode()
    return b'{"inputs": [' + b", ".join([one] * count) + b"]}"


def _with_first(number: bytes, count: int = 2) -> bytes:
    """`count` grey images whose first value is the JSON text `number`."""
    return _zeros(count).replace(b"[[[0", b"[[[" + number, 1)


def test_the_served_translator_answers_as_its_file_does(
    served: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, workspace = served
    images = np.load(workspace / "data/processed/A/test_images.npy")[::25]  # (4, 1, 28, 28)
    inputs = images.astype(np.float32) / 127.5 - 1  # the model's range, [-1, 1]
    answer = post(url, _body(inputs.tolist()))
    assert answer.status_code == 200, answer.text[:2000]
    served_images = np.asarray(answer.json()["predictions"], dtype=np.float32)
    # the same numbers, bit for bit, as the translator file the train stage wrote beside it
    generators, _ = load_translator(workspace / "data/models/model.pt")
    with torch.no_grad():
        expected = generators["ab"](torch.from_numpy(inputs)).numpy()
    assert served_images.shape == inputs.shape
    assert np.array_equal(served_images, expected)
    # `ganops translate` gives the same pixels with the registered model as with the file,
    # and they are the served images as pixels
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{workspace / 'mlflow.db'}")
    np.save(workspace / "in.npy", images)
    translated = {}
    model_file = str(workspace / "data/models/model.pt")
    for name, model in (("registered", MODEL), ("file", model_file)):
        out = workspace / f"{name}.npy"
        assert main(["translate", "--model", model, str(workspace / "in.npy"), str(out)]) == 0
        translated[name] = np.load(out)
    assert np.array_equal(translated["registered"], translated["file"])
    assert np.array_equal(to_uint8(torch.from_numpy(served_images)), translated["file"])


def test_a_body_of_20_mb_is_a_short_413_before_it_is_parsed(served: tuple[str, Path]) -> None:
    url, _ = served
    body = _zeros(9_000)
    assert len(body) > 20 * 10**6
    assert f"the request has {len(body)} bytes: at most" in refused(url, body, status=413)


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (_body(np.zeros((2, 1, 27, 27)).tolist()), f"{EXPECTED}; got an array (2, 1, 27, 27)"),
        (_body(np.zeros((2, 3, 28, 28)).tolist()), "got an array (2, 3, 28, 28)"),
        (_body(np.zeros((2, 28, 28)).tolist()), "got an array (2, 28, 28)"),
        (_body("a digit" * 100), f"{EXPECTED}; got text"),
        (_body([[0, 1], [2]]), "inhomogeneous"),
        (_body({"a": 1}), "got an object of named inputs"),
        (_body([]), "inputs: no image; give 1 to 1024 per request"),
        (_zeros(1025), "inputs: 1025 images; at most 1024 per request"),
        (_with_first(b"1.5"),
         "inputs: values must be within [-1, 1] (pixels p as p / 127.5 - 1); found 1.5"),
        (_with_first(b"-255"), "found -255"),
        (_with_first(b"NaN"), "the request holds NaN"),
        (_with_first(b"-Infinity"), "the request holds -Infinity"),
        (_with_first(b"1e300"), "the request holds 1e300"),
        (json.dumps({"images": np.zeros((2, *IMAGE)).tolist()}).encode(),
         "exactly one of the input fields"),
        (b'{"inputs": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nests arrays and objects"),
        (_zeros(2)[:-30], "valid JSON"),
        (b"\xff\xfe not text", "valid JSON"),
    ],
    ids=["side-27", "3-channels", "no-channel-axis", "text", "ragged", "object", "no-image",
         "1025-images", "1.5", "-255", "nan", "-infinity", "1e300", "unknown-key", "deep",
         "truncated", "not-utf8"],
)  # fmt: skip
def test_a_bad_request_is_a_short_400_that_names_the_problem(
    served: tuple[str, Path], body: bytes, said: str
) -> None:
    url, _ = served
    message = refused(url, body)
    assert said in message, message
    assert len(body) < 200 or body[100:160].decode(errors="replace") not in message


# Near-images: arrays of a shape close to the translator's, filled with one value of any
# JSON type (out of range, NaN, text, null ...), under the keys MLflow reads; then anything
# JSON can hold, and bytes.
_shapes = st.tuples(st.integers(0, 3), st.sampled_from([0, 1, 3]), st.sampled_from([1, 27, 28]),
                    st.sampled_from([0, 28, 29]))  # fmt: skip
_fills = st.floats() | st.integers(-300, 300) | st.booleans() | st.none() | st.text(max_size=3)
_keys = st.sampled_from(["inputs", "instances", "dataframe_split", "dataframe_records", "x"])
_near_images = st.builds(
    lambda key, shape, fill: json.dumps({key: np.full(shape, fill, dtype=object).tolist()}),
    _keys, _shapes, _fills,
)  # fmt: skip
_bodies = st.one_of(
    _near_images.map(str.encode),
    st.lists(json_values, max_size=4).map(lambda value: _body(value)),
    json_values.map(lambda value: json.dumps(value).encode()),
    st.binary(max_size=200),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=_bodies)
def test_random_and_malformed_requests_get_a_200_or_a_short_4xx(
    served: tuple[str, Path], body: bytes
) -> None:
    url, _ = served
    assert_200_or_short_4xx(post(url, body))


def test_the_server_answers_after_the_onslaught(served: tuple[str, Path]) -> None:
    url, _ = served
    assert requests.get(f"{url}/ping", timeout=30).ok
    answer = post(url, _zeros(3))
    assert answer.status_code == 200, answer.text[:300]
    assert np.asarray(answer.json()["predictions"]).shape == (3, *IMAGE)

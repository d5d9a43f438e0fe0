"""The registered generator behind the real `mlflow models serve` on 127.0.0.1, asked what a
careless or hostile client sends: a body of 20 MB, NaN, Infinity and 1e300 as latents, a
seed of 2**64, arrays nested 100,000 deep, an empty class list, bytes that are not JSON, and
then whatever Hypothesis makes of random and malformed JSON. Every answer is a 200 or a
short 4xx that names the problem, never a 5xx, an echo of the request or a stack trace, and
the server still answers `/ping` after."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ganops.models import GeneratorSpec, build_generator
from tests.helpers import mlflow_models_serve

pytestmark = pytest.mark.slow

MODEL = "models:/hostile/1"
SPEC = GeneratorSpec("dcgan", 8, 4, (1, 28, 28), num_classes=10)
MAX_REPLY = 600  # bytes of an error reply: a short message, nothing of the request


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random conditional generator, logged and registered as the train stage does it."""
    from ganops.params import parse_params
    from ganops.tracking import open_run
    from tests.helpers import TINY, merged, project_params

    root = tmp_path_factory.mktemp("hostile")
    params = parse_params(merged(project_params(), TINY))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
        patch.delenv("DVC_EXP_NAME", raising=False)
        torch.manual_seed(0)
        with open_run(params.tracking, params, root=root) as run:
            run.log_generator(build_generator(SPEC).eval(), SPEC, registered_model="hostile")
    return root


@pytest.fixture(scope="module")
def url(workspace: Path) -> Iterator[str]:
    """The real server of the generator."""
    with mlflow_models_serve(MODEL, workspace, start_timeout_s=180) as served:
        yield served


# The helpers below serve every model server's hostile test (tests/translation/test_serve.py
# throws the same at the translator's).


def post(url: str, body: bytes) -> requests.Response:
    """`body` as JSON to the server's `/invocations`."""
    return requests.post(f"{url}/invocations", data=body, timeout=120,
                         headers={"Content-Type": "application/json"})  # fmt: skip


def refused(url: str, body: bytes, status: int = 400) -> str:
    """The message of the short error `body` gets; the server answers `/ping` after."""
    answer = post(url, body)
    assert answer.status_code == status, (answer.status_code, answer.text[:300])
    assert len(answer.content) <= MAX_REPLY, answer.text[: MAX_REPLY * 2]
    assert "Traceback" not in answer.text and "stack_trace" not in answer.text
    assert requests.get(f"{url}/ping", timeout=30).ok
    return str(answer.json()["message"])


def assert_200_or_short_4xx(answer: requests.Response) -> None:
    """A 200 whose body is strict JSON (no NaN or Infinity), or a short 4xx with no trace."""
    assert answer.status_code == 200 or 400 <= answer.status_code < 500, answer.text[:300]
    if answer.status_code != 200:
        assert len(answer.content) <= MAX_REPLY, answer.text[: MAX_REPLY * 2]
        assert "Traceback" not in answer.text
    else:
        json.loads(answer.text)  # NaN or Infinity in an answer is not JSON
        assert "NaN" not in answer.text and "Infinity" not in answer.text


def _one(request: dict[str, Any]) -> bytes:
    return json.dumps({"inputs": [request]}).encode()


def test_a_sound_request_is_answered(url: str) -> None:
    answer = post(url, _one({"count": 2, "classes": [3], "seed": 1}))
    assert answer.status_code == 200, answer.text[:300]
    assert answer.json()["predictions"][0]["labels"] == [3, 3]


def test_a_body_of_20_mb_is_a_short_413_before_it_is_parsed(url: str) -> None:
    z = [[0.5] * 8] * 450_000  # 20 MB of latents
    body = _one({"z": z, "labels": [1] * len(z)})
    assert len(body) > 20 * 10**6
    message = refused(url, body, status=413)
    assert f"the request has {len(body)} bytes: at most" in message


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (b'{"inputs": [{"z": [[NaN, 0, 0, 0, 0, 0, 0, 0]], "labels": [1]}]}', "holds NaN"),
        (b'{"inputs": [{"z": [[Infinity, 0, 0, 0, 0, 0, 0, 0]], "labels": [1]}]}', "Infinity"),
        (b'{"inputs": [{"z": [[1e300, 0, 0, 0, 0, 0, 0, 0]], "labels": [1]}]}', "holds 1e300"),
        (_one({"z": [[1000.0] + [0.0] * 7], "labels": [1]}), "z: every number must be finite"),
        (_one({"count": 1, "seed": 2**64}), "seed: Input should be less than or equal to 9223"),
        (_one({"count": 1, "seed": -1}), "seed: Input should be greater than or equal to 0"),
        (_one({"count": 1, "classes": []}), "classes: empty"),
        (b'{"inputs": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nests arrays and objects"),
        (b'{"inputs": [{"count": 1', "valid JSON"),
        (b"\xff\xfe not text", "valid JSON"),
        (b'{"inputs": []}', "inputs"),
    ],
    ids=["nan", "infinity", "1e300", "z-1000", "seed-2**64", "seed-negative", "no-classes", "deep",
         "truncated", "not-utf8", "no-inputs"],
)  # fmt: skip
def test_a_hostile_request_is_a_short_400_that_names_the_problem(
    url: str, body: bytes, said: str
) -> None:
    message = refused(url, body)
    assert said in message, message
    assert len(body) < 200 or body[100:160].decode(errors="replace") not in message


# Anything JSON can hold, and the request's own keys with values of any type.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=5),
    max_leaves=30,
)  # fmt: skip
_requests = st.fixed_dictionaries(
    {},
    optional={key: json_values for key in ("count", "classes", "seed", "z", "labels", "format")}
    | {"count": st.integers(-5, 2000), "seed": st.integers(-(2**70), 2**70)},
)
_bodies = st.one_of(
    st.binary(max_size=200),
    json_values.map(lambda value: json.dumps(value).encode()),
    st.lists(_requests, max_size=3).map(lambda inputs: json.dumps({"inputs": inputs}).encode()),
    _requests.map(lambda request: json.dumps({"inputs": [request]}).encode()[:-3]),  # cut short
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=_bodies)
def test_random_and_malformed_json_gets_a_200_or_a_short_4xx(url: str, body: bytes) -> None:
    assert_200_or_short_4xx(post(url, body))


def test_the_server_answers_after_the_onslaught(url: str) -> None:
    assert requests.get(f"{url}/ping", timeout=30).ok
    answer = post(url, _one({"count": 1, "classes": [0]}))
    assert answer.status_code == 200


def test_the_reply_limits_hold_for_the_message_of_any_length() -> None:
    """The cut of a long message, off the server (the guard's own function)."""
    from ganops.tracking.guard import MAX_MESSAGE, refusal

    said = refusal("x" * 10_000 + "\n  more")
    assert len(said.message) == MAX_MESSAGE and said.get_http_status_code() == 400

"""MLflow's scoring server (`mlflow models serve`) against hostile requests: a size limit, a
nesting limit, and short error replies.

MLflow 3's server (`mlflow.pyfunc.scoring_server`, uvicorn and FastAPI) has no setting for
any of this: it reads a body of any size, parses JSON nested as deep as the interpreter's
stack allows (deeper is a 500), echoes the whole parsed request in the message of a 400
(`Failed to predict data '...'`) and sends the stack trace of an unexpected error. Its
`/invocations` route calls the module's `invocations` function by name at each request, so
the served model's code puts `guarded` in its place when the server loads the model
(`install`): the body, already read, is measured and its nesting counted before MLflow
parses it, and every error it answers is one short message without the request or a trace.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import wraps
from typing import Any

import numpy as np
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.pyfunc.scoring_server import InvocationsResponse

MAX_REQUEST_BYTES = 8 * 2**20  # 1024 latents of 512 numbers, written out in full, fit
MAX_DEPTH = 16  # JSON arrays and objects inside each other (an image batch needs 5)
MAX_MESSAGE = 300  # characters of an error reply's message
MAX_NUMBER = 3.4e38  # float32's largest: beyond it a number becomes infinite in the model
_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"', re.S)
_NOT_BRACKETS = re.compile(rb"[^\[\]{}]+")
_ECHO = re.compile(r"^Failed to predict data .*\nError: ", re.S)
_ECHOED_INPUT = re.compile(r"\s*Input: .*$", re.S)
# pydantic's first complaint inside MLflow's message about a request that fails the model's
# type hint, whose newlines MLflow quotes (`\\n`): `1 validation error for X\n<field>\n  <why> [`
_NEWLINE = r"(?:\\n|\n)"
_PYDANTIC = re.compile(
    rf"validation errors? for \w+{_NEWLINE}(?P<field>[^\\\n]*){_NEWLINE}\s*(?P<why>.+?) \[type="
)


def refusal(message: str, code: int = INVALID_PARAMETER_VALUE) -> MlflowException:
    """An error the scoring server answers with a 400 (MLflow's code for `code`) and
    `message`, cut to `MAX_MESSAGE` characters, no stack trace."""
    message = " ".join(message.split())
    if len(message) > MAX_MESSAGE:
        message = message[: MAX_MESSAGE - 3] + "..."
    return MlflowException(message, error_code=code)


# what a request's images were when they were not numbers (numpy's kind of the array)
_KINDS = {"b": "true/false values", "U": "text", "S": "bytes", "O": "lists of mixed depth or type"}
LOW, HIGH = -1.0, 1.0  # the served networks' image range (tanh images, as they were trained on)


def checked_image_array(
    images: Any, wanted: tuple[int, int, int], field: str, max_images: int
) -> np.ndarray:
    """The request's `field`, `images`, as float32 `(N, C, H, W)` when they are 1 to
    `max_images` finite images of shape `wanted` (C, H, W) in [-1, 1]; else the 400
    (`refusal`) that names what is wrong, before any network runs."""
    expected = f"images (N, {', '.join(map(str, wanted))}) (N, C, H, W) in [{LOW:g}, {HIGH:g}]"
    if isinstance(images, dict):  # an object of named arrays
        raise refusal(f"{field}: expected {expected}; got an object of named inputs")
    try:
        array = np.asarray(images)
    except ValueError:  # lists of different lengths
        raise refusal(f"{field}: expected {expected}; got lists of different lengths") from None
    if array.dtype.kind not in "iuf":
        got = _KINDS.get(array.dtype.kind, f"{array.dtype.name} values")
        raise refusal(f"{field}: expected {expected}; got {got}")
    if array.ndim >= 1 and array.shape[0] == 0:
        raise refusal(f"{field}: no image; give 1 to {max_images} per request")
    if array.ndim != 4 or array.shape[1:] != wanted:
        raise refusal(f"{field}: expected {expected}; got an array {tuple(array.shape)}")
    if array.shape[0] > max_images:
        raise refusal(f"{field}: {array.shape[0]} images; at most {max_images} per request")
    values = array.astype(np.float64)
    if not np.isfinite(values).all():
        raise refusal(f"{field}: every value must be finite (NaN or Infinity found)")
    low, high = float(values.min()), float(values.max())
    if low < LOW or high > HIGH:
        found = low if low < LOW else high
        raise refusal(
            f"{field}: values must be within [{LOW:g}, {HIGH:g}] (pixels p as p / 127.5 - 1); "
            f"found {found:g}"
        )
    return array.astype(np.float32)


def too_deep(data: bytes | str) -> bool:
    """Whether the JSON text `data` nests arrays and objects deeper than `MAX_DEPTH` (the
    brackets outside strings are counted, nothing is parsed)."""
    raw = data.encode() if isinstance(data, str) else data
    depth = 0
    for bracket in _NOT_BRACKETS.sub(b"", _STRINGS.sub(b"", raw)):
        depth += 1 if bracket in b"[{" else -1
        if depth > MAX_DEPTH:
            return True
    return False


class _UnfitNumber(ValueError):
    pass


def _finite(text: str) -> float:
    number = float(text)
    if not abs(number) <= MAX_NUMBER:  # NaN fails this too
        raise _UnfitNumber(text[:20])
    return number


def _constant(text: str) -> float:
    raise _UnfitNumber(text)  # NaN, Infinity, -Infinity: not JSON, though Python reads them


def unfit_number(data: bytes | str) -> str | None:
    """The first number of the JSON text `data` that no model should be given (NaN,
    Infinity, or beyond float32's range, as `1e300`), or None; a text that is no JSON is
    left to MLflow's own message."""
    try:
        json.loads(data, parse_float=_finite, parse_int=_finite, parse_constant=_constant)
    except _UnfitNumber as unfit:
        return str(unfit)
    except (ValueError, RecursionError):
        return None
    return None


def _without_request(message: str) -> str:
    """What MLflow's error `message` says is wrong, without the request it quotes: pydantic's
    first complaint (`seed: Input should be ...`), else MLflow's own words."""
    found = _PYDANTIC.search(message)
    if found:
        return f"{found['field']}: {found['why']}" if found["field"] else found["why"]
    said = _ECHOED_INPUT.sub("", _ECHO.sub("", message))
    return said.split(", invalid elements:")[0]


def guarded(invocations: Callable[..., Any]) -> Callable[..., Any]:
    """MLflow's `invocations(data, content_type, model, input_schema)` behind the limits:
    413 for a body over `MAX_REQUEST_BYTES`, 400 for one nested deeper than `MAX_DEPTH`,
    and every error raised inside as a 400 of at most `MAX_MESSAGE` characters that does not
    repeat the request (MLflow's own message names the problem after `Error: `)."""
    if getattr(invocations, "guarded", False):
        return invocations

    @wraps(invocations)
    def guarded_invocations(data: bytes | str, content_type: str, *args: Any) -> Any:
        size = len(data.encode() if isinstance(data, str) else data)
        if size > MAX_REQUEST_BYTES:
            too_large = refusal(f"the request has {size} bytes: at most {MAX_REQUEST_BYTES}")
            reply = json.dumps({"error_code": too_large.error_code, "message": too_large.message})
            return InvocationsResponse(reply, 413, "application/json")
        if too_deep(data):
            raise refusal(f"the request nests arrays and objects more than {MAX_DEPTH} deep")
        unfit = unfit_number(data)
        if unfit is not None:
            raise refusal(f"the request holds {unfit}: every number must be finite and within "
                          f"+-{MAX_NUMBER:g}")  # fmt: skip
        try:
            return invocations(data, content_type, *args)
        except MlflowException as error:  # MLflow's words, without the request it repeats
            raise refusal(_without_request(error.message)) from None
        except Exception as error:  # a request the model's checks missed: a 400, not a trace
            said = f"the model could not answer this request ({type(error).__name__})"
            raise refusal(said) from None

    guarded_invocations.guarded = True  # type: ignore[attr-defined]
    return guarded_invocations


def install() -> None:
    """Guard the scoring server of this process (see the module's docstring); harmless
    where no server runs: only MLflow's `/invocations` route calls the function."""
    from mlflow.pyfunc import scoring_server

    scoring_server.invocations = guarded(scoring_server.invocations)

"""The registered text-to-image model behind `mlflow models serve`: words in, digits out, from
the same file as `data/models/model.pt` (the generator, the frozen text encoder and the
vocabulary, rebuilt by `ganops.text.artifact.load_text_model`), so the served images are the
model's own.

A request, as JSON to `/invocations`, names the text and, if it likes, how many images and
from which seed:

    {"inputs": {"text": "a thick seven leaning to the right", "count": 4, "seed": 0}}
    {"inputs": {"text": ["a thick seven", "a thin upright one"], "count": 2}}

`text` is one text or a list of 1 to `MAX_TEXTS`; `count` (default 1) the images of each;
`seed` (default 0) the noise's; `unknown` (default `error`) is `map` to read a word the model
never saw as `<unk>`. The answer's `predictions` holds the images `(len(text) * count, C, H,
W)`, text by text, in the generator's range [-1, 1] (uint8 pixels are `(x + 1) * 127.5`,
rounded, as `ganops sample` writes them): the images `ganops sample --model <its file> --text
... -n COUNT --seed SEED` draws. Everything else is a 400 that names the problem before the
generator runs: words the model never saw (named, with where its vocabulary is), an empty
text, a text longer than the model reads, an unknown field, a count below 1 or above
`MAX_IMAGES` in all, a seed that is not a whole number from 0 to `MAX_SEED`.

Only `ganops.tracking.served_text` (the code MLflow logs) imports this module: the run
machinery, which logs the model, never reaches the text package.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
from mlflow.pyfunc.model import PythonModel

from ganops.errors import TextError
from ganops.text.artifact import TextModel, load_text_model
from ganops.text.vocab import Unknown
from ganops.tracking.guard import refusal

MAX_TEXTS = 64  # texts per request, as `ganops sample --text` takes at once
MAX_IMAGES = 1024  # images per request, every text's together: more is a 400
MAX_SEED = 2**63 - 1  # the largest seed NumPy's SeedSequence is given here
BATCH = 500  # images per forward pass: `ganops sample`'s default `--batch-size`
FIELDS = ("text", "count", "seed", "unknown")
UNKNOWN = ("error", "map")  # a word the vocabulary lacks: refused, or read as <unk>
SHAPE_OF_REQUEST = '{"text": a text or a list of texts, "count": 1, "seed": 0}'
# where the served model's vocabulary is, as its errors say
WHERE = "inside the served model's file, its train run's data/models/model.pt"


def _texts(value: Any) -> list[str]:
    """The request's `text` as a list of 1 to `MAX_TEXTS` strings; else the 400."""
    array = np.asarray(value, dtype=object) if not isinstance(value, np.ndarray) else value
    items = [array.item()] if array.ndim == 0 else list(array.ravel()) if array.ndim == 1 else None
    if items is None or not all(isinstance(item, str) for item in items):
        raise refusal(f"text: expected a text or a list of texts; got {_kind(array)}")
    if not items:
        raise refusal(f"text: no text; give 1 to {MAX_TEXTS}")
    if len(items) > MAX_TEXTS:
        raise refusal(f"text: {len(items)} texts; at most {MAX_TEXTS} per request")
    return [str(item) for item in items]


def _kind(array: np.ndarray) -> str:
    """What a request's value was when it was not what was asked for, in a few words."""
    if array.ndim > 1:
        return f"an array of {array.ndim} dimensions"
    values = array.ravel().tolist() if array.ndim else [array.item()]
    names = sorted({type(v).__name__ for v in values if not isinstance(v, str)})
    return f"{', '.join(names) or 'nothing'} values"


def _whole(value: Any, field: str, low: int, high: int) -> int:
    """The request's `field` as an int from `low` to `high`; else the 400."""
    array = np.asarray(value)
    item = array.item() if array.ndim == 0 else None
    if isinstance(item, (bool, np.bool_)) or not isinstance(item, (int, np.integer)):
        shown = repr(item) if isinstance(item, (int, float, str, bool)) else _kind(array)
        raise refusal(f"{field}: expected a whole number from {low} to {high}; got {shown[:40]}")
    if not low <= int(item) <= high:
        raise refusal(f"{field}: {int(item)} is not from {low} to {high}")
    return int(item)


def checked_request(model_input: Any) -> tuple[list[str], int, int, Unknown]:
    """The request's texts, count, seed and unknown-word rule; else the 400 that names what
    is wrong (the texts' words are checked against the vocabulary apart: `TextService`)."""
    if not isinstance(model_input, dict):
        raise refusal(f"inputs: expected an object {SHAPE_OF_REQUEST}; got no names")
    unknown = sorted(set(model_input) - set(FIELDS))
    if unknown:
        raise refusal(f"inputs: unknown field {unknown[0]!r}; give only {', '.join(FIELDS)}")
    if "text" not in model_input:
        raise refusal(f"inputs: no 'text'; expected {SHAPE_OF_REQUEST}")
    texts = _texts(model_input["text"])
    count = _whole(model_input.get("count", 1), "count", 1, MAX_IMAGES)
    if count * len(texts) > MAX_IMAGES:
        raise refusal(
            f"count: {count} images of {len(texts)} texts is {count * len(texts)}; at most "
            f"{MAX_IMAGES} per request"
        )
    seed = _whole(model_input.get("seed", 0), "seed", 0, MAX_SEED)
    rule = np.asarray(model_input.get("unknown", "error"))
    if rule.ndim != 0 or rule.item() not in UNKNOWN:
        raise refusal(f"unknown: expected {' or '.join(map(repr, UNKNOWN))}")
    return texts, count, seed, "map" if rule.item() == "map" else "error"


class TextService(PythonModel):  # type: ignore[misc]
    """The pyfunc model: the text-to-image model, rebuilt on the CPU from the model's `model`
    artifact (the file `ganops.text.artifact.save_text_model` wrote, loaded with
    `weights_only=True`)."""

    model: TextModel

    def load_context(self, context: Any) -> None:
        model = load_text_model(Path(context.artifacts["model"]))
        model.vocabulary = dataclasses.replace(model.vocabulary, where=WHERE)
        self.model = model

    # MLflow parses `inputs` of named values into a dict of arrays, and checks no request
    # against this type hint: `checked_request` checks them, other request formats included
    def predict(
        self, context: Any, model_input: dict[str, np.ndarray], params: dict[str, Any] | None = None
    ) -> np.ndarray:
        texts, count, seed, rule = checked_request(model_input)
        try:  # the texts are read (and refused) before the generator runs
            images = self.model.draw(texts, count, seed, BATCH, unknown=rule)  # (N, C, H, W)
        except TextError as error:
            raise refusal(str(error)) from None
        return images.cpu().numpy()

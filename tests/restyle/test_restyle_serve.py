"""The registered restyler served by the real `mlflow models serve` (content and style in one
request, the restyled images out): trained through the real stages (tiny), served from its
workspace as docs/style.md says, and called over HTTP on 127.0.0.1. Its answers are the
network's own numbers, and `ganops restyle` gives the same pixels with the registered model
as with the file; a bad request is a short 400 that names the problem, and the server
answers `/ping` after."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from ganops.cli import main
from ganops.restyle.artifact import load_restyler
from ganops.sampling import to_uint8
from tests.helpers import served_tiny_run
from tests.pipeline.test_serve_hostile import post, refused
from tests.restyle.test_restyle_stages import TINY_RESTYLE

pytestmark = pytest.mark.slow

# 200 train / 100 test images, one epoch: enough to register a restyler; the evaluator's
# accuracy does not matter to serving, so its bar is off
SERVED = TINY_RESTYLE | {
    "restyle": TINY_RESTYLE["restyle"] | {"epochs": 1},
    "data": {"test_size": 100, "train_per_class": 20},
    "evaluator": {"epochs": 1, "min_accuracy": 0.0},
}
MODEL = "models:/ganops-restyler/1"  # tracking.registered_restyler
EXPECTED = "expected images (N, 1, 28, 28) (N, C, H, W) in [-1, 1]"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The URL of `mlflow models serve` serving the restyler a tiny run registered, and the
    run's workspace."""
    with served_tiny_run(tmp_path_factory, "served_restyler", MODEL, SERVED) as served:
        yield served


def _body(inputs: Any) -> bytes:
    return json.dumps({"inputs": inputs}).encode()


def _zeros(count: int, shape: tuple[int, ...] = (1, 28, 28)) -> list[Any]:
    return np.zeros((count, *shape), dtype=int).tolist()


def test_the_served_restyler_answers_as_its_file_and_the_command_do(
    served: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, workspace = served
    test = np.load(workspace / "data/processed/test_images.npy")
    contents, style = test[:4], test[50:51]  # (4, 1, 28, 28), one style (1, 1, 28, 28)
    content_in, style_in = (x.astype(np.float32) / 127.5 - 1 for x in (contents, style))
    answer = post(url, _body({"content": content_in.tolist(), "style": style_in.tolist()}))
    assert answer.status_code == 200, answer.text[:2000]
    served_images = np.asarray(answer.json()["predictions"], dtype=np.float32)
    restyler = load_restyler(workspace / "data/models/model.pt")
    with torch.no_grad():
        want = restyler(
            torch.from_numpy(content_in), torch.from_numpy(style_in).expand(4, -1, -1, -1)
        )
    assert served_images.shape == content_in.shape
    assert np.array_equal(served_images, want.numpy())
    # one style per content: the pairs in order
    styles_in = content_in[::-1].copy()
    paired = post(url, _body({"content": content_in.tolist(), "style": styles_in.tolist()}))
    with torch.no_grad():
        want_pairs = restyler(torch.from_numpy(content_in), torch.from_numpy(styles_in)).numpy()
    assert np.array_equal(np.asarray(paired.json()["predictions"], dtype=np.float32), want_pairs)
    # `ganops restyle` with the registered model and with the file: the same pixels, the
    # served images as pixels
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{workspace / 'mlflow.db'}")
    np.save(workspace / "content.npy", contents)
    np.save(workspace / "style.npy", style)
    restyled = {}
    for name, model in (("registered", MODEL), ("file", str(workspace / "data/models/model.pt"))):
        out = workspace / f"{name}.npy"
        argv = ["restyle", "--model", model, str(workspace / "content.npy")]
        assert main([*argv, str(workspace / "style.npy"), str(out)]) == 0
        restyled[name] = np.load(out)
    assert np.array_equal(restyled["registered"], restyled["file"])
    assert np.array_equal(to_uint8(torch.from_numpy(served_images)), restyled["file"])


@pytest.mark.parametrize(
    ("inputs", "said"),
    [
        (_zeros(2), 'inputs: expected an object {"content"'),
        ({"content": _zeros(2)}, "inputs: no 'style'"),
        ({"style": _zeros(1)}, "inputs: no 'content'"),
        ({"content": _zeros(2), "style": _zeros(1), "x": 1}, "unknown input 'x'"),
        ({"content": _zeros(2, (1, 27, 27)), "style": _zeros(1)},
         f"content: {EXPECTED}; got an array (2, 1, 27, 27)"),
        ({"content": _zeros(2), "style": _zeros(1, (3, 28, 28))},
         f"style: {EXPECTED}; got an array (1, 3, 28, 28)"),
        ({"content": _zeros(3), "style": _zeros(2)}, "style: 2 images for 3 content images"),
        ({"content": [], "style": _zeros(1)}, "content: no image"),
        ({"content": np.full((2, 1, 28, 28), 2).tolist(), "style": _zeros(1)},
         "content: values must be within [-1, 1] (pixels p as p / 127.5 - 1); found 2"),
        ({"content": _zeros(2), "style": "a digit"}, f"style: {EXPECTED}; got text"),
        ({"content": _zeros(1025), "style": _zeros(1)}, "content: 1025 images; at most 1024"),
    ],
    ids=["no-names", "no-style", "no-content", "unknown", "content-27", "style-rgb",
         "style-count", "no-content-image", "out-of-range", "style-text", "1025"],
)  # fmt: skip
def test_a_bad_request_is_a_short_400_that_names_the_cause(
    served: tuple[str, Path], inputs: Any, said: str
) -> None:
    url, _ = served
    message = refused(url, _body(inputs))
    assert said in message, message

"""The registered restyler behind `mlflow models serve`: content images and style images in,
each content drawn in its style out, from the same network as `data/models/model.pt` (the
restyler rebuilt from its weights and spec, so the served numbers are the network's own).

A request, as JSON to `/invocations`, names its two inputs:

    {"inputs": {"content": [[[[-1.0, ...], ...]], ...], "style": [[[[-1.0, ...]]]]}}

`content` holds the images `(N, C, H, W)` to redraw and `style` the images `(N, C, H, W)`
whose style each takes, pair by pair, or one image `(1, C, H, W)` for all of them; both in
the restyler's range [-1, 1] (uint8 pixels `p` are `p / 127.5 - 1`), with its channels and
side. The answer's `predictions` holds the `N` outputs, the content's shape and range.
Everything else is a 400 that names the problem, before the network runs: a missing or
unknown input, another shape, a style count that is neither 1 nor the content's, a value
outside [-1, 1] (NaN and Infinity are refused by `ganops.tracking.guard` before parsing),
no image, or more than `MAX_IMAGES`.

Only `ganops.tracking.served_restyler` (the code MLflow logs) and the loaders import this
module: the run machinery, which logs the model, never reaches the restyle package.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from mlflow.pyfunc.model import PythonModel

from ganops.io import load_torch
from ganops.restyle.networks import Restyler, RestylerSpec
from ganops.tracking.guard import checked_image_array, refusal

MAX_IMAGES = 1024  # content images per request: more is a 400, not an out-of-memory
BATCH = 256  # pairs per forward pass
FIELDS = ("content", "style")
SHAPE_OF_REQUEST = '{"content": images (N, C, H, W), "style": images (N or 1, C, H, W)}'


def checked_pairs(model_input: Any, spec: RestylerSpec) -> tuple[torch.Tensor, torch.Tensor]:
    """The request's content and style images as float32 tensors `(N, C, H, W)` (one style
    image repeated for every content) when the restyler of `spec` takes them; else the 400
    that names what is wrong."""
    if not isinstance(model_input, dict):
        raise refusal(f"inputs: expected an object {SHAPE_OF_REQUEST}; got no names")
    unknown = sorted(set(model_input) - set(FIELDS))
    if unknown:
        raise refusal(f"inputs: unknown input {unknown[0]!r}; give only {' and '.join(FIELDS)}")
    missing = [field for field in FIELDS if field not in model_input]
    if missing:
        raise refusal(f"inputs: no {missing[0]!r}; expected {SHAPE_OF_REQUEST}")
    wanted = (spec.channels, spec.image_size, spec.image_size)
    content = checked_image_array(model_input["content"], wanted, "content", MAX_IMAGES)
    style = checked_image_array(model_input["style"], wanted, "style", MAX_IMAGES)
    if len(style) not in (1, len(content)):
        raise refusal(
            f"style: {len(style)} images for {len(content)} content images; give one style "
            "image for all of them or one for each"
        )
    if len(style) == 1:
        style = np.repeat(style, len(content), axis=0)
    return torch.from_numpy(content), torch.from_numpy(style)


class RestylerService(PythonModel):  # type: ignore[misc]
    """The pyfunc model: the restyler, rebuilt from the model's `weights` artifact (its
    state dict, loaded with `weights_only=True`) and `spec` artifact (JSON)."""

    restyler: Restyler
    spec: RestylerSpec

    def load_context(self, context: Any) -> None:
        self.spec = RestylerSpec.from_dict(json.loads(Path(context.artifacts["spec"]).read_text()))
        restyler = Restyler(self.spec)
        restyler.load_state_dict(load_torch(Path(context.artifacts["weights"]), "restyler"))
        self.restyler = restyler.eval()

    # MLflow parses `inputs` of named arrays into a dict of arrays, and checks no request
    # against this type hint: `checked_pairs` checks them, other request formats included
    def predict(
        self, context: Any, model_input: dict[str, np.ndarray], params: dict[str, Any] | None = None
    ) -> np.ndarray:
        content, style = checked_pairs(model_input, self.spec)  # (N, C, H, W) each
        device = next(self.restyler.parameters()).device
        with torch.no_grad():
            chunks = [
                self.restyler(content[i : i + BATCH].to(device), style[i : i + BATCH].to(device))
                for i in range(0, content.shape[0], BATCH)
            ]
        return torch.cat(chunks).cpu().numpy()

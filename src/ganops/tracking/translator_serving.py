"""The registered translator behind `mlflow models serve`: images of domain A in, their
translations into B out, from the same network as `data/models/model.pt` (its A-to-B
generator rebuilt from its weights and spec, so the served numbers are the network's own).

A request, as JSON to `/invocations`:

    {"inputs": [[[[-1.0, ...], ...]], ...]}

`inputs` holds the images `(N, C, H, W)` in the translator's range [-1, 1] (uint8 pixels
`p` are `p / 127.5 - 1`), with the translator's channels and side; the answer's
`predictions` holds their translations, the same shape and range. Everything else is a 400
that names the problem, before the network runs: another shape, a value outside [-1, 1]
(NaN and Infinity are refused by `ganops.tracking.guard` before parsing), no image, or more
than `MAX_IMAGES`.

Only `ganops.tracking.served_translator` (the code MLflow logs) and the loaders import this
module: the run machinery, which logs the model, never reaches the translation package.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from mlflow.pyfunc.model import PythonModel

from ganops.io import load_torch
from ganops.tracking.guard import checked_image_array
from ganops.translation.networks import TranslatorSpec, build_generator

MAX_IMAGES = 1024  # per request: more is a 400, not an out-of-memory
BATCH = 256  # images per forward pass


def checked_images(images: Any, spec: TranslatorSpec) -> torch.Tensor:
    """`images` as a float32 tensor `(N, C, H, W)` when the translator of `spec` takes them;
    else the 400 (`ganops.tracking.guard.refusal`) that names what is wrong."""
    wanted = (spec.in_channels, spec.image_size, spec.image_size)
    return torch.from_numpy(checked_image_array(images, wanted, "inputs", MAX_IMAGES))


class TranslatorService(PythonModel):  # type: ignore[misc]
    """The pyfunc model: the translator's A-to-B generator, rebuilt from the model's `weights`
    artifact (its state dict, loaded with `weights_only=True`) and `spec` artifact (JSON)."""

    translator: torch.nn.Module
    spec: TranslatorSpec

    def load_context(self, context: Any) -> None:
        spec = json.loads(Path(context.artifacts["spec"]).read_text())
        self.spec = TranslatorSpec.from_dict(spec)
        translator = build_generator(self.spec)
        translator.load_state_dict(load_torch(Path(context.artifacts["weights"]), "translator"))
        self.translator = translator.eval()

    # `np.ndarray` is what MLflow parses `inputs` into, and a type hint it does not check
    # requests against: `checked_images` checks them, other request formats included
    def predict(
        self, context: Any, model_input: np.ndarray, params: dict[str, Any] | None = None
    ) -> np.ndarray:
        images = checked_images(model_input, self.spec)  # (N, C, H, W)
        device = next(self.translator.parameters()).device
        with torch.no_grad():
            chunks = [
                self.translator(images[start : start + BATCH].to(device)).cpu()
                for start in range(0, images.shape[0], BATCH)
            ]
        return torch.cat(chunks).numpy()

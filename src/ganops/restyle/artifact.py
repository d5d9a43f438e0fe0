"""The restyler's inference artifact: its weights and the spec to rebuild it.

Like the generator's and the translator's: a plain dict of tensors and primitives, read
back with `torch.load(..., weights_only=True)`. The discriminator stays in the resume
checkpoint; drawing needs only the restyler.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ganops.errors import DataError, first_line
from ganops.io import load_torch, save_torch
from ganops.restyle.networks import Restyler, RestylerSpec

RESTYLER_FORMAT = "ganops-restyler/1"


def save_restyler(path: Path, restyler: Restyler) -> None:
    """The restyler's weights (CPU) and its spec, written atomically."""
    weights = {name: tensor.detach().cpu() for name, tensor in restyler.state_dict().items()}
    save_torch(
        path, {"format": RESTYLER_FORMAT, "spec": restyler.spec.to_dict(), "weights": weights}
    )


def load_restyler(path: Path, device: torch.device | None = None) -> Restyler:
    """Rebuild the restyler saved by `save_restyler`, in eval mode."""
    payload = load_torch(path, "restyler")
    if payload.get("format") != RESTYLER_FORMAT:
        raise DataError(
            f"{path}: not a ganops restyler (format {payload.get('format')!r}); was it trained "
            "with another task?"
        )
    try:
        restyler = Restyler(RestylerSpec.from_dict(payload["spec"]))
        restyler.load_state_dict(payload["weights"])
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        raise DataError(
            f"{path}: restyler does not match its spec ({first_line(error, 160)})"
        ) from None
    return restyler.to(device or torch.device("cpu")).eval()

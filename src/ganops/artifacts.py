"""The generator's inference artifact: its weights and the spec to rebuild it.

A plain dict of tensors and Python primitives, written atomically and read back with
`torch.load(..., weights_only=True)`, so loading never unpickles arbitrary objects. The
full resume state is `ganops.training.resume`'s.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ganops.errors import DataError, first_line
from ganops.io import load_torch, save_torch
from ganops.models import GeneratorSpec, build_generator

GENERATOR_FORMAT = "ganops-generator/1"


def save_generator(path: Path, generator: nn.Module, spec: GeneratorSpec) -> None:
    """The inference artifact: the generator's weights and the spec to rebuild it."""
    state = {name: tensor.detach().cpu() for name, tensor in generator.state_dict().items()}
    save_torch(path, {"format": GENERATOR_FORMAT, "spec": spec.to_dict(), "state_dict": state})


def load_generator(
    path: Path, device: torch.device | None = None
) -> tuple[nn.Module, GeneratorSpec]:
    """Rebuild a generator saved by `save_generator`, in eval mode."""
    payload = load_torch(path, "generator")
    if payload.get("format") != GENERATOR_FORMAT:
        raise DataError(f"{path}: not a ganops generator (format {payload.get('format')!r})")
    try:
        spec = GeneratorSpec.from_dict(payload["spec"])
        generator = build_generator(spec)
        generator.load_state_dict(payload["state_dict"])
    except (KeyError, ValueError, RuntimeError) as error:
        reason = first_line(error, 160)
        raise DataError(f"{path}: generator does not match its spec ({reason})") from None
    return generator.to(device or torch.device("cpu")).eval(), spec

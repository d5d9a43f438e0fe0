"""The translator's inference artifact: its generators' weights and the spec to rebuild them.

Like the generator's (`ganops.artifacts`): a plain dict of tensors and primitives, read back
with `torch.load(..., weights_only=True)`. It holds `ab` (A to B) and, for a CycleGAN,
`ba` (B to A, for the cycle in the grid).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ganops.errors import DataError, first_line
from ganops.io import load_torch, save_torch
from ganops.translation.networks import TranslatorSpec, build_generator

TRANSLATOR_FORMAT = "ganops-translator/1"


def save_translator(path: Path, generators: dict[str, nn.Module], spec: TranslatorSpec) -> None:
    """The generators' weights (CPU) and their spec, written atomically."""
    states = {
        key: {name: tensor.detach().cpu() for name, tensor in module.state_dict().items()}
        for key, module in generators.items()
    }
    save_torch(path, {"format": TRANSLATOR_FORMAT, "spec": spec.to_dict(), "generators": states})


def load_translator(
    path: Path, device: torch.device | None = None
) -> tuple[dict[str, nn.Module], TranslatorSpec]:
    """Rebuild the generators saved by `save_translator`, in eval mode."""
    payload = load_torch(path, "translator")
    if payload.get("format") != TRANSLATOR_FORMAT:
        raise DataError(
            f"{path}: not a ganops translator (format {payload.get('format')!r}); "
            "was it trained with task: generate?"
        )
    try:
        spec = TranslatorSpec.from_dict(payload["spec"])
        generators = {}
        for key, state in payload["generators"].items():
            module = build_generator(spec)
            module.load_state_dict(state)
            generators[str(key)] = module.to(device or torch.device("cpu")).eval()
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        raise DataError(
            f"{path}: translator does not match its spec ({first_line(error, 160)})"
        ) from None
    if "ab" not in generators:
        raise DataError(f"{path}: holds no A-to-B generator")
    return generators, spec

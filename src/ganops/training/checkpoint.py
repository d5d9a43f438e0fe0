"""The two kinds of checkpoint: a small generator artifact and a full resume state.

Both are plain dicts of tensors and Python primitives, written atomically and read back
with `torch.load(..., weights_only=True)`, so loading never unpickles arbitrary objects.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ganops.errors import DataError
from ganops.io import write_bytes
from ganops.models import GeneratorSpec, build_generator

GENERATOR_FORMAT = "ganops-generator/1"
RESUME_FORMAT = "ganops-resume/1"


def save_torch(path: Path, payload: dict[str, Any]) -> None:
    """`torch.save` through memory, then an atomic write: the bytes do not depend on `path`."""
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    write_bytes(path, buffer.getvalue())


def _damaged_entry(path: Path) -> str | None:
    """The first entry of a torch.save zip archive whose bytes fail their CRC-32, if any.

    torch.load does not check the CRCs, so a flipped bit in a tensor would load silently.
    Files that are not zip archives are left to torch.load to judge.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError):
        return None


def load_torch(path: Path, what: str) -> dict[str, Any]:
    """`torch.load(weights_only=True)` with one-line errors for missing, corrupt or unsafe files."""
    if not path.is_file():
        raise DataError(f"{path}: {what} not found")
    damaged = _damaged_entry(path)
    if damaged:
        raise DataError(f"{path}: {what} is corrupt ({damaged} fails its CRC-32 check)")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise DataError(
            f"{path}: refused to load {what}: it holds objects other than tensors and plain "
            f"values, which weights_only loading does not unpickle ({first[:120]})"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as error:
        raise DataError(
            f"{path}: {what} is corrupt or truncated ({type(error).__name__})"
        ) from None
    if not isinstance(payload, dict):
        raise DataError(f"{path}: not a ganops {what}")
    return payload


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
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise DataError(f"{path}: generator does not match its spec ({first[:160]})") from None
    return generator.to(device or torch.device("cpu")).eval(), spec

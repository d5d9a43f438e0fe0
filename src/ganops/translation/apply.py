"""`ganops translate`: a trained translator over a user's images, outside the pipeline.

The input is a folder of images (walked with its sub-folders, so a class-per-folder layout
keeps its classes) or an `.npy` / `.npz` array; a folder comes out as a folder of PNGs with
the same relative names, an array as `.npy`, `.npz` or a `.png` grid of input | translation.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from ganops.data.images import FOLDER_MANIFEST, read_input
from ganops.errors import ConfigError, DataError, TrackingError
from ganops.io import (
    atomic_dir,
    is_model_file,
    refuse_foreign_folder,
    sha256_file,
    write_bytes,
    write_json,
)
from ganops.sampling import png_bytes
from ganops.translation.artifact import load_translator
from ganops.translation.networks import TranslatorSpec
from ganops.translation.outputs import translate_uint8

log = logging.getLogger("ganops")
FOLDER_FORMAT = "ganops-translations/1"
PRODUCER = "ganops translate"
DIRECTIONS = {"ab": "A to B", "ba": "B to A"}


def load_any_translator(
    model: str, direction: str, device: torch.device
) -> tuple[nn.Module, TranslatorSpec]:
    """The `direction` generator of a translator.pt path or of an MLflow model URI (which
    holds A to B only), and its spec."""
    path = Path(model)
    if is_model_file(model):
        generators, spec = load_translator(path, device)
        if direction not in generators:
            raise ConfigError(
                f"--direction {direction}: {path} holds only {', '.join(sorted(generators))} "
                "(a paired or CUT translator goes A to B only)"
            )
        return generators[direction], spec
    if direction != "ab":
        raise ConfigError(f"--direction {direction}: an MLflow translator goes A to B only")
    return _load_logged_translator(model, device)


def _load_logged_translator(uri: str, device: torch.device) -> tuple[nn.Module, TranslatorSpec]:
    from ganops.tracking import load_logged_translator

    module, raw = load_logged_translator(uri)
    try:
        spec = TranslatorSpec.from_dict(raw)
    except (TypeError, ValueError):
        raise TrackingError(f"{uri}: its translator spec is not one this version reads") from None
    return module.to(device), spec


def check_inputs(images: np.ndarray, spec: TranslatorSpec, direction: str, where: str) -> None:
    """One line naming the shape the translator wants when `images` do not have it."""
    channels = spec.in_channels if direction == "ab" else spec.out_channels
    wanted = (channels, spec.image_size, spec.image_size)
    if images.shape[1:] != wanted:
        raise DataError(
            f"{where}: images are {tuple(images.shape[1:])} (C, H, W) but this translator "
            f"takes {wanted}; resize them first"
        )


def write_folder(
    out: Path, translated: np.ndarray, files: list[Path], source: Path, about: dict[str, object]
) -> None:
    """Each translation as a PNG at its input's relative path (suffix .png), replacing `out`
    whole, with a manifest naming the model and the files."""
    refuse_foreign_folder(out, FOLDER_MANIFEST, PRODUCER, FOLDER_FORMAT)
    names = [file.relative_to(source).with_suffix(".png") for file in files]
    if len(set(names)) != len(names):
        raise DataError(f"{source}: two images differ only in their suffix; rename one")
    with atomic_dir(out) as staging:
        for name, image in zip(names, translated, strict=True):
            write_bytes(staging / name, png_bytes(image.transpose(1, 2, 0)))
        manifest = {"format": FOLDER_FORMAT, "producer": PRODUCER, **about}
        write_json(staging / FOLDER_MANIFEST, {**manifest, "files": [str(n) for n in names]})


def provenance(model: str, direction: str) -> dict[str, object]:
    """The model (and its file's sha256) and the direction that made the translations."""
    about: dict[str, object] = {"model": model, "direction": direction}
    if Path(model).is_file():
        about["model_sha256"] = sha256_file(Path(model))
    return about


def translate_source(
    generator: nn.Module, spec: TranslatorSpec, source: Path, direction: str,
    batch_size: int, device: torch.device,
) -> tuple[np.ndarray, np.ndarray, list[Path] | None]:  # fmt: skip
    """The inputs at `source`, their translations (both uint8 `(N, C, H, W)`) and, for a
    folder, the input files."""
    images, files = read_input(source)
    check_inputs(images, spec, direction, str(source))
    chunks = [
        translate_uint8(generator, images[start : start + batch_size], device)
        for start in tqdm(range(0, len(images), batch_size), desc="translate", unit="batch")
    ]
    return images, np.concatenate(chunks), files

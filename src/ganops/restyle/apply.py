"""`ganops restyle`: a trained restyler over a user's images, outside the pipeline.

The content is a folder of images (walked with its sub-folders) or an `.npy` / `.npz` array;
the style is one image file, or a folder or array of style images, each of which every
content image is drawn in (one output per content and style pair). A folder comes out as a
folder of PNGs with the content's relative names (one sub-folder per style when there are
several), an array as `.npy` / `.npz` (style-major: output `s * N + n` is content `n` in
style `s`) or a `.png` grid (the styles along the top, the contents down the left).
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ganops.data.dataset import to_training_tensor
from ganops.data.images import FOLDER_MANIFEST, IMAGE_SUFFIXES, read_image_file, read_input
from ganops.errors import DataError, TrackingError
from ganops.io import (
    atomic_dir,
    is_model_file,
    refuse_foreign_folder,
    save_npy,
    sha256_file,
    write_bytes,
    write_json,
)
from ganops.restyle.artifact import load_restyler
from ganops.restyle.networks import Restyler, RestylerSpec, restyle_images, style_grid
from ganops.sampling import png_bytes, to_uint8

log = logging.getLogger("ganops")
FOLDER_FORMAT = "ganops-restyled/1"
PRODUCER = "ganops restyle"
MAX_GRID_SIDE = 32  # contents or styles in a .png grid: beyond, the picture is unreadable


@dataclass(frozen=True)
class Images:
    """uint8 images `(N, C, H, W)` read from `source`, and their names (relative paths
    without suffix for a folder, `0000`, `0001`, ... for an array or one file)."""

    source: Path
    pixels: np.ndarray
    names: tuple[str, ...]


def load_any_restyler(model: str, device: torch.device) -> Restyler:
    """The restyler of a model.pt path or of an MLflow model URI (`models:/ganops-restyler/1`,
    `runs:/`, `models:/<id>`)."""
    path = Path(model)
    if is_model_file(model):
        return load_restyler(path, device)
    from ganops.tracking import load_logged_restyler

    network, raw = load_logged_restyler(model)
    try:
        RestylerSpec.from_dict(raw)
    except (KeyError, TypeError, ValueError):
        raise TrackingError(f"{model}: its restyler spec is not one this version reads") from None
    if not isinstance(network, Restyler):
        raise TrackingError(f"{model}: not a ganops restyler")
    return network.to(device).eval()


def read_content(source: Path) -> Images:
    """The content images at `source`: a folder (walked) or an `.npy` / `.npz` array."""
    pixels, files = read_input(source)
    return Images(source, pixels, _names(source, files, len(pixels)))


def read_styles(source: Path) -> Images:
    """The style images at `source`: one image file, a folder (walked) or an array."""
    if source.is_file() and source.suffix.lower() in IMAGE_SUFFIXES:
        return Images(source, read_image_file(source)[None], (source.stem,))
    pixels, files = read_input(source)
    return Images(source, pixels, _names(source, files, len(pixels)))


def _names(source: Path, files: list[Path] | None, count: int) -> tuple[str, ...]:
    if files is None:
        return tuple(f"{index:04d}" for index in range(count))
    names = tuple(str(file.relative_to(source).with_suffix("")) for file in files)
    if len(set(names)) != len(names):
        raise DataError(f"{source}: two images differ only in their suffix; rename one")
    return names


def check_shape(images: Images, spec: RestylerSpec, what: str) -> None:
    """One line naming the shape the restyler takes when `images` do not have it."""
    wanted = (spec.channels, spec.image_size, spec.image_size)
    if images.pixels.shape[1:] != wanted:
        raise DataError(
            f"{what} {images.source}: images are {tuple(images.pixels.shape[1:])} (C, H, W) "
            f"but this restyler takes {wanted}; resize them first"
        )


def restyle_all(
    restyler: Restyler, content: Images, styles: Images, batch_size: int, device: torch.device
) -> np.ndarray:
    """uint8 outputs `(S, N, C, H, W)`: every content image in every style."""
    spec = restyler.spec
    check_shape(content, spec, "CONTENT")
    check_shape(styles, spec, "STYLE")
    contents = to_training_tensor(content.pixels, device)
    outputs = []
    for style in tqdm(styles.pixels, desc="restyle", unit="style", disable=len(styles.pixels) < 2):
        repeated = to_training_tensor(style[None], device).expand_as(contents)
        outputs.append(to_uint8(restyle_images(restyler, contents, repeated, batch_size)))
    return np.stack(outputs)


def grid(restyler: Restyler, content: Images, styles: Images, device: torch.device) -> np.ndarray:
    """The `.png` picture: the styles along the top, the contents down the left."""
    check_shape(content, restyler.spec, "CONTENT")
    check_shape(styles, restyler.spec, "STYLE")
    for images, what in ((content, "CONTENT"), (styles, "STYLE")):
        if len(images.pixels) > MAX_GRID_SIDE:
            raise DataError(
                f"OUT: a .png grid shows at most {MAX_GRID_SIDE} images a side; {what} "
                f"{images.source} has {len(images.pixels)} (write a folder or .npy instead)"
            )
    contents = to_training_tensor(content.pixels, device)
    return style_grid(restyler, contents, to_training_tensor(styles.pixels, device))


def write_folder(
    out: Path, outputs: np.ndarray, content: Images, styles: Images, about: dict[str, object]
) -> None:
    """Each output as a PNG at its content's relative name (under its style's name when
    there are several styles), replacing `out` whole, with a manifest naming the model, the
    styles and the files."""
    refuse_foreign_folder(out, FOLDER_MANIFEST, PRODUCER, FOLDER_FORMAT)
    several = len(styles.names) > 1
    if several and len(set(styles.names)) != len(styles.names):
        raise DataError(f"STYLE {styles.source}: two styles have the same name; rename one")
    written = []
    with atomic_dir(out) as staging:
        for style_name, per_style in zip(styles.names, outputs, strict=True):
            for name, image in zip(content.names, per_style, strict=True):
                relative = Path(style_name, name) if several else Path(name)
                write_bytes(
                    staging / relative.with_suffix(".png"), png_bytes(image.transpose(1, 2, 0))
                )
                written.append(str(relative.with_suffix(".png")))
        manifest = {"format": FOLDER_FORMAT, "producer": PRODUCER, **about}
        write_json(
            staging / FOLDER_MANIFEST, {**manifest, "styles": list(styles.names), "files": written}
        )


def write_array(out: Path, images: np.ndarray) -> None:
    """uint8 `(N, C, H, W)` images as `.npy`, or `.npz` (key `images`, as `ganops sample`)."""
    if out.suffix == ".npy":
        save_npy(out, images)
        return
    buffer = io.BytesIO()
    np.savez_compressed(buffer, images=images)
    write_bytes(out, buffer.getvalue())


def provenance(model: str, content: Path, style: Path) -> dict[str, object]:
    """The model (and its file's sha256) and the inputs that made the outputs."""
    about: dict[str, object] = {"model": model, "content": str(content), "style": str(style)}
    if Path(model).is_file():
        about["model_sha256"] = sha256_file(Path(model))
    return about

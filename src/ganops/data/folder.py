"""A folder of the user's own images as a dataset.

Layout: either every image sits in a sub-folder named after its class (class names are the
sorted sub-folder names; deeper folders belong to their top sub-folder), or every image sits
at the top and all are one class, `images`. Hidden files and folders, and files that are not
images by their suffix, are skipped.

Images of different sizes are made stackable by centre-cropping each to a square and resizing
it to the shortest side among all the images (at most `MAX_SIDE`), so no image is enlarged
here; preprocess then resizes to `data.image_size`. Channels are 3 when any image is in
colour, 1 otherwise.
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, ImageOps

from ganops.data.images import IMAGE_SUFFIXES
from ganops.errors import DataError

ONE_CLASS = "images"
MAX_SIDE = 1024  # data.image_size's upper bound: larger squares would only cost memory
_GREY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "F"})
_SHOWN = 5  # unreadable files named in the error; the rest are counted
Half = Literal["left", "right"]  # of a side-by-side pair: A is the left half, B the right

# Pillow's decoders report broken files with any of these
_DECODE_ERRORS = (
    OSError,
    ValueError,
    SyntaxError,
    EOFError,
    struct.error,
    zlib.error,
    Image.DecompressionBombError,
)


def image_files(root: Path) -> list[str]:
    """Relative POSIX paths of the images under `root`, sorted; a `DataError` if there are none."""
    if not root.is_dir():
        raise DataError(f"{root}: no such folder")
    files = []
    for folder, subfolders, names in os.walk(root):
        subfolders[:] = [name for name in subfolders if not name.startswith(".")]
        for name in names:
            if not name.startswith(".") and Path(name).suffix.lower() in IMAGE_SUFFIXES:
                files.append((Path(folder) / name).relative_to(root).as_posix())
    if not files:
        raise DataError(f"{root}: the folder holds no images ({', '.join(IMAGE_SUFFIXES)})")
    return sorted(files)


def class_labels(root: Path, files: list[str]) -> tuple[np.ndarray, tuple[str, ...]]:
    """Each file's label `(N,)` int64 and the class names, from the folder layout."""
    at_top = [name for name in files if "/" not in name]
    if len(at_top) == len(files):
        return np.zeros(len(files), dtype=np.int64), (ONE_CLASS,)
    if at_top:
        raise DataError(
            f"{root}: {len(at_top)} images (first {at_top[0]}) sit beside class sub-folders; "
            "move them into a sub-folder named after their class"
        )
    classes = [name.split("/", 1)[0] for name in files]
    class_names = tuple(sorted(set(classes)))
    index = {name: label for label, name in enumerate(class_names)}
    return np.array([index[name] for name in classes], dtype=np.int64), class_names


def _decode(path: Path) -> Image.Image | None:
    try:
        with Image.open(path) as opened:
            opened.load()
            # cameras store the orientation in EXIF rather than rotating the pixels
            return ImageOps.exif_transpose(opened)
    except _DECODE_ERRORS:
        return None


def _unreadable(root: Path, bad: list[str]) -> DataError:
    shown = ", ".join(bad[:_SHOWN])
    more = f" and {len(bad) - _SHOWN} more" if len(bad) > _SHOWN else ""
    return DataError(f"{root}: {len(bad)} unreadable image files: {shown}{more}")


def image_sizes(root: Path, files: list[str]) -> tuple[list[tuple[int, int]], bool]:
    """Decode every image once: each one's `(width, height)` in px and whether any is in colour.

    All unreadable files are reported together in one `DataError`.
    """
    sizes, colour, bad = [], False, []
    for name in files:
        image = _decode(root / name)
        if image is None:
            bad.append(name)
            continue
        sizes.append(image.size)
        colour = colour or image.mode not in _GREY_MODES
    if bad:
        raise _unreadable(root, bad)
    return sizes, colour


def check_images(root: Path, files: list[str]) -> tuple[int, bool]:
    """Decode every image once: the shortest side among them and whether any is in colour.

    All unreadable files are reported together in one `DataError`.
    """
    sizes, colour = image_sizes(root, files)
    return min(min(size) for size in sizes), colour


def _square(image: Image.Image, side: int, mode: str) -> np.ndarray:
    width, height = image.size
    crop = min(width, height)
    left, top = (width - crop) // 2, (height - crop) // 2
    square = image.convert(mode).crop((left, top, left + crop, top + crop))
    pixels = np.asarray(square.resize((side, side), Image.Resampling.BILINEAR), dtype=np.uint8)
    return pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)  # (C, side, side)


def _half(image: Image.Image, half: Half | None) -> Image.Image:
    if half is None:
        return image
    width, height = image.size
    middle = width // 2
    return image.crop((0, 0, middle, height) if half == "left" else (middle, 0, width, height))


def read_images(
    root: Path, files: list[str], side: int, colour: bool, half: Half | None = None
) -> np.ndarray:
    """`files` under `root` (or the left or right `half` of each, for side-by-side pairs) as
    uint8 `(N, C, side, side)`: each centre-cropped to a square and resized to `side`; RGB when
    `colour`, else grey."""
    channels, mode = (3, "RGB") if colour else (1, "L")
    images = np.empty((len(files), channels, side, side), dtype=np.uint8)  # (N, C, S, S)
    for index, name in enumerate(files):
        image = _decode(root / name)
        if image is None:  # changed on disk since it was checked
            raise _unreadable(root, [name])
        images[index] = _square(_half(image, half), side, mode)
    return images


def read_folder(root: Path) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """The images under `root` as uint8 `(N, C, S, S)`, their int64 labels and class names."""
    files = image_files(root)
    labels, class_names = class_labels(root, files)
    shortest, colour = check_images(root, files)
    return read_images(root, files, min(shortest, MAX_SIDE), colour), labels, class_names

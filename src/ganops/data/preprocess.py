"""Preprocessing: decode the raw source, split it (seeded, stratified), store uint8 arrays.

Images stay uint8 on disk; scaling to [-1, 1] happens once, when training loads them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F

from ganops.data.dataset import MANIFEST, SPLITS, split_files
from ganops.data.sources import get_source, verify_raw
from ganops.errors import DataError
from ganops.io import atomic_dir, save_npy, sha256_file, write_json

if TYPE_CHECKING:
    from ganops.config import DataConfig

_SUBSET_STREAM = 1  # the training subset's random stream, apart from the split's


def stratified_split(
    labels: np.ndarray, test_size: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Indices `(train, test)`, each sorted, with every class split in proportion.

    Per-class test quotas use the largest-remainder method so they sum to `test_size`.
    """
    classes, counts = np.unique(labels, return_counts=True)
    total = len(labels)
    if test_size >= total:
        raise DataError(
            f"data.test_size: {test_size} leaves no training images (the source has {total})"
        )
    exact = counts * test_size / total
    quota = np.floor(exact).astype(np.int64)
    shortfall = test_size - int(quota.sum())
    quota[np.argsort(-(exact - quota), kind="stable")[:shortfall]] += 1
    rng = np.random.default_rng(seed)
    train, test = [], []
    for cls, take in zip(classes, quota, strict=True):
        members = rng.permutation(np.flatnonzero(labels == cls))
        test.append(members[:take])
        train.append(members[take:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def per_class_subset(labels: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    """Sorted indices of a seeded choice of `per_class` images of every class in `labels`
    `(N,)`; a one-line `DataError` naming `data.train_per_class` when a class has fewer."""
    classes, counts = np.unique(labels, return_counts=True)
    if per_class > counts.min():
        smallest = classes[counts.argmin()]
        raise DataError(
            f"data.train_per_class: {per_class} is more than the {counts.min()} training "
            f"images of class {smallest}, the smallest class"
        )
    rng = np.random.default_rng([seed, _SUBSET_STREAM])
    chosen = [rng.permutation(np.flatnonzero(labels == cls))[:per_class] for cls in classes]
    return np.sort(np.concatenate(chosen))


def training_subset(labels: np.ndarray, cfg: DataConfig) -> np.ndarray:
    """Sorted indices of the training images `(N,)` every later stage sees: the seeded,
    stratified `data.train_per_class` subset when it is set, else all."""
    if cfg.train_per_class is None:
        return np.arange(len(labels))
    # the low-data regime: every later stage sees only this
    return per_class_subset(labels, cfg.train_per_class, cfg.split_seed)


def split_record(cfg: DataConfig) -> dict[str, Any]:
    """The manifest's record of how the splits were made."""
    return {
        "split_seed": cfg.split_seed,
        # only when set, so the default's manifest (and every stage after it) stays as it was
        **({"train_per_class": cfg.train_per_class} if cfg.train_per_class else {}),
    }


def center_crop_resize(images: np.ndarray, size: int) -> np.ndarray:
    """Centre-crop `(N, C, H, W)` uint8 images to squares and resize them to `size` px."""
    _, _, height, width = images.shape
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    images = images[:, :, top : top + side, left : left + side]
    if side == size:
        return np.ascontiguousarray(images)
    pixels = torch.from_numpy(np.ascontiguousarray(images)).float()
    resized = F.interpolate(pixels, size=(size, size), mode="bilinear", antialias=True)
    return resized.round().clamp(0, 255).to(torch.uint8).numpy()  # (N, C, size, size)


def _class_counts(labels: np.ndarray, class_names: tuple[str, ...]) -> dict[str, int]:
    counts = np.bincount(labels, minlength=len(class_names))
    return {name: int(count) for name, count in zip(class_names, counts, strict=True)}


@dataclass(frozen=True)
class Prepared:
    """A dataset split and resized, before it is written: uint8 `(N, C, H, W)` images and int64
    `(N,)` labels per split, and the manifest's fields."""

    source: str
    images: dict[str, np.ndarray]  # split -> (N, C, H, W) uint8
    labels: dict[str, np.ndarray]  # split -> (N,) int64
    class_names: tuple[str, ...]
    extra: dict[str, Any]  # manifest fields of this dataset only (split_seed, ...)


def prepare(raw: Path, cfg: DataConfig) -> Prepared:
    """Decode `raw` (written by fetch), split it (seeded, stratified) and resize it."""
    source_name = verify_raw(raw)
    if source_name != cfg.source:
        raise DataError(
            f"{raw} holds source {source_name!r} but data.source is {cfg.source!r}; "
            "rerun the fetch stage"
        )
    decoded = get_source(source_name).load(raw)
    train_idx, test_idx = stratified_split(decoded.labels, cfg.test_size, cfg.split_seed)
    train_idx = train_idx[training_subset(decoded.labels[train_idx], cfg)]
    images = center_crop_resize(decoded.images, cfg.image_size)
    indices = dict(zip(SPLITS, (train_idx, test_idx), strict=True))
    return Prepared(
        source=source_name,
        images={split: images[index] for split, index in indices.items()},
        labels={split: decoded.labels[index] for split, index in indices.items()},
        class_names=decoded.class_names,
        extra=split_record(cfg),
    )


def write_processed(folder: Path, prepared: Prepared) -> dict[str, Any]:
    """Write the splits' arrays and their manifest (sha256, shape, dtype per file) into
    `folder`, an existing staging directory; return the manifest."""
    image_shape = next(iter(prepared.images.values())).shape[1:]
    manifest: dict[str, Any] = {
        "source": prepared.source,
        "image_shape": list(image_shape),
        "class_names": list(prepared.class_names),
        **prepared.extra,
        "splits": {},
        "files": {},
    }
    for split in SPLITS:
        arrays = {"images": prepared.images[split], "labels": prepared.labels[split]}
        manifest["splits"][split] = {
            "count": len(arrays["labels"]),
            "class_counts": _class_counts(arrays["labels"], prepared.class_names),
        }
        for kind, file_name in split_files(split).items():
            save_npy(folder / file_name, arrays[kind])
            manifest["files"][file_name] = {
                "sha256": sha256_file(folder / file_name),
                "shape": list(arrays[kind].shape),
                "dtype": str(arrays[kind].dtype),
            }
    write_json(folder / MANIFEST, manifest)
    return manifest


def preprocess(raw: Path, out: Path, cfg: DataConfig) -> dict[str, Any]:
    """Turn `raw` (written by fetch) into train/test arrays and a manifest in `out`."""
    prepared = prepare(raw, cfg)
    with atomic_dir(out) as staging:
        return write_processed(staging, prepared)

"""Preprocessing: decode the raw source, split it (seeded, stratified), store uint8 arrays.

Images stay uint8 on disk; scaling to [-1, 1] happens once, when training loads them.
"""

from __future__ import annotations

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


def preprocess(raw: Path, out: Path, cfg: DataConfig) -> dict[str, Any]:
    """Turn `raw` (written by fetch) into train/test arrays and a manifest in `out`."""
    source_name = verify_raw(raw)
    if source_name != cfg.source:
        raise DataError(
            f"{raw} holds source {source_name!r} but data.source is {cfg.source!r}; "
            "rerun the fetch stage"
        )
    decoded = get_source(source_name).load(raw)
    train_idx, test_idx = stratified_split(decoded.labels, cfg.test_size, cfg.split_seed)
    if cfg.train_per_class is not None:  # the low-data regime: every later stage sees only this
        kept = per_class_subset(decoded.labels[train_idx], cfg.train_per_class, cfg.split_seed)
        train_idx = train_idx[kept]
    images = center_crop_resize(decoded.images, cfg.image_size)
    manifest: dict[str, Any] = {
        "source": source_name,
        "image_shape": list(images.shape[1:]),
        "class_names": list(decoded.class_names),
        "split_seed": cfg.split_seed,
        # only when set, so the default's manifest (and every stage after it) stays as it was
        **({"train_per_class": cfg.train_per_class} if cfg.train_per_class else {}),
        "splits": {},
        "files": {},
    }
    with atomic_dir(out) as staging:
        for split, index in zip(SPLITS, (train_idx, test_idx), strict=True):
            arrays = {"images": images[index], "labels": decoded.labels[index]}
            manifest["splits"][split] = {
                "count": len(index),
                "class_counts": _class_counts(arrays["labels"], decoded.class_names),
            }
            for kind, file_name in split_files(split).items():
                save_npy(staging / file_name, arrays[kind])
                manifest["files"][file_name] = {
                    "sha256": sha256_file(staging / file_name),
                    "shape": list(arrays[kind].shape),
                    "dtype": str(arrays[kind].dtype),
                }
        write_json(staging / MANIFEST, manifest)
    return manifest

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

from ganops.data.dataset import MANIFEST, SPLITS, UNLABELLED, split_files
from ganops.data.sources import get_source, verify_raw
from ganops.errors import DataError
from ganops.io import atomic_dir, save_npy, sha256_file, write_json

if TYPE_CHECKING:
    from ganops.config import DataConfig

# random streams apart from the split's: the training subset's, the labelled subset's
_SUBSET_STREAM, _LABELLED_STREAM = 1, 2


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


def per_class_subset(
    labels: np.ndarray,
    per_class: int,
    seed: int,
    key: str = "data.train_per_class",
    stream: int = _SUBSET_STREAM,
) -> np.ndarray:
    """Sorted indices of a seeded choice of `per_class` images of every class in `labels`
    `(N,)`, drawn from the random `stream`; a one-line `DataError` naming the param `key`
    when a class has fewer."""
    classes, counts = np.unique(labels, return_counts=True)
    if per_class > counts.min():
        smallest = classes[counts.argmin()]
        raise DataError(
            f"{key}: {per_class} is more than the {counts.min()} training "
            f"images of class {smallest}, the smallest class"
        )
    rng = np.random.default_rng([seed, stream])
    chosen = [rng.permutation(np.flatnonzero(labels == cls))[:per_class] for cls in classes]
    return np.sort(np.concatenate(chosen))


def training_subset(labels: np.ndarray, cfg: DataConfig) -> np.ndarray:
    """Sorted indices of the training images `(N,)` every later stage sees: the seeded,
    stratified `data.train_per_class` subset when it is set, else all."""
    if cfg.train_per_class is None:
        return np.arange(len(labels))
    # the low-data regime: every later stage sees only this
    return per_class_subset(labels, cfg.train_per_class, cfg.split_seed)


def hide_labels(labels: np.ndarray, cfg: DataConfig) -> np.ndarray:
    """The training `labels` `(N,)` every later stage sees: with `data.labelled_per_class`,
    those of a seeded, stratified subset of that many images a class, every other one
    `UNLABELLED` (its image stays, its class is gone); else all of them."""
    if cfg.labelled_per_class is None:
        return labels
    kept = per_class_subset(
        labels, cfg.labelled_per_class, cfg.split_seed, "data.labelled_per_class", _LABELLED_STREAM
    )
    hidden = np.full_like(labels, UNLABELLED)
    hidden[kept] = labels[kept]
    return hidden


def split_record(cfg: DataConfig) -> dict[str, Any]:
    """The manifest's record of how the splits were made (a key only when it is set, so
    the default's manifest, and every stage after it, stays as it was)."""
    record: dict[str, Any] = {"split_seed": cfg.split_seed}
    if cfg.train_per_class:
        record["train_per_class"] = cfg.train_per_class
    if cfg.labelled_per_class:
        record["labelled_per_class"] = cfg.labelled_per_class
    return record


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
    """Labelled images per class (an unlabelled one counts for none)."""
    counts = np.bincount(labels[labels != UNLABELLED], minlength=len(class_names))
    return {name: int(count) for name, count in zip(class_names, counts, strict=True)}


def _split_counts(labels: np.ndarray, class_names: tuple[str, ...]) -> dict[str, Any]:
    """A split's entry in the manifest: its size, its labelled images per class and, when
    some have no label, how many."""
    unlabelled = int((labels == UNLABELLED).sum())
    counts = {"count": len(labels), "class_counts": _class_counts(labels, class_names)}
    return counts | ({"unlabelled": unlabelled} if unlabelled else {})


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
    labels = {split: decoded.labels[index] for split, index in indices.items()}
    labels["train"] = hide_labels(labels["train"], cfg)  # the test split keeps every label
    return Prepared(
        source=source_name,
        images={split: images[index] for split, index in indices.items()},
        labels=labels,
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
        manifest["splits"][split] = _split_counts(arrays["labels"], prepared.class_names)
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

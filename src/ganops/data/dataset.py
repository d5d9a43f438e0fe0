"""Reading the preprocessed splits back, verified against the manifest, and the training tensor."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganops.errors import DataError
from ganops.io import read_json_record, verify_file

MANIFEST = "manifest.json"
SPLITS = ("train", "test")
UNLABELLED = -1  # the label of a training image kept without its class (data.labelled_per_class)


def split_files(split: str) -> dict[str, str]:
    """File names of a split's arrays inside the processed directory."""
    return {"images": f"{split}_images.npy", "labels": f"{split}_labels.npy"}


@dataclass(frozen=True)
class Split:
    """One split of the dataset as stored: uint8 images and int64 labels."""

    images: np.ndarray  # (N, C, H, W) uint8
    labels: np.ndarray  # (N,) int64; UNLABELLED for an image kept without its class
    class_names: tuple[str, ...]

    @property
    def unlabelled(self) -> np.ndarray:
        """Which images have no label `(N,)` bool (none, unless data.labelled_per_class)."""
        return self.labels == UNLABELLED  # type: ignore[no-any-return]

    @property
    def fully_labelled(self) -> bool:
        return not self.unlabelled.any()

    def labelled(self) -> Split:
        """The images that carry their class, with it."""
        keep = ~self.unlabelled
        return Split(self.images[keep], self.labels[keep], self.class_names)


def read_manifest(processed: Path) -> dict[str, Any]:
    """The manifest written by preprocess, checked for the fields readers rely on."""
    manifest = read_json_record(processed / MANIFEST, producer="preprocess")
    for key in ("image_shape", "class_names", "splits", "files"):
        if key not in manifest:
            raise DataError(f"{processed / MANIFEST}: lacks {key!r}; rerun the preprocess stage")
    return manifest


def _load_array(path: Path, entry: dict[str, Any]) -> np.ndarray:
    verify_file(path, entry.get("sha256"), MANIFEST, producer="preprocess")
    array: np.ndarray = np.load(path, allow_pickle=False)
    if list(array.shape) != entry["shape"] or str(array.dtype) != entry["dtype"]:
        raise DataError(f"{path}: shape or dtype differs from {MANIFEST}")
    return array


def load_split(processed: Path, split: str) -> Split:
    """Load `split` ("train" or "test"), verifying each file's sha256 against the manifest."""
    manifest = read_manifest(processed)
    arrays = {}
    for kind, file_name in split_files(split).items():
        entry = manifest["files"].get(file_name)
        if entry is None:
            raise DataError(f"{processed / MANIFEST}: has no entry for {file_name}")
        arrays[kind] = _load_array(processed / file_name, entry)
    return Split(arrays["images"], arrays["labels"], tuple(manifest["class_names"]))


def to_training_tensor(images: np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 `(N, C, H, W)` -> float32 in [-1, 1] on `device`, as one tensor."""
    pixels = torch.from_numpy(images).to(device)
    return pixels.float().div_(127.5).sub_(1.0)  # (N, C, H, W)

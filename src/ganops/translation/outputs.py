"""What the sample stage writes for a translator: the translations of both of domain A's
splits, with A's labels, a grid, and a manifest of sha256s.

`samples.npy` / `labels.npy` (A's test split translated: what `evaluate` scores, in the
generator's sample format) and `train_samples.npy` / `train_labels.npy` (A's train split
translated: what `downstream` trains a classifier on).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from ganops.data.dataset import to_training_tensor
from ganops.errors import DataError
from ganops.io import atomic_dir, read_json_record, save_npy, sha256_file, verify_file, write_json
from ganops.sampling import (
    LABELS_FILE,
    MANIFEST,
    READABLE_PX,
    SAMPLES_FILE,
    make_grid,
    save_png,
    to_uint8,
)
from ganops.translation.domains import Domains
from ganops.translation.networks import translate_images

TRAIN_SAMPLES_FILE = "train_samples.npy"
TRAIN_LABELS_FILE = "train_labels.npy"
GRID_FILE = "grid.png"
GRID_ROWS = 8  # fixed test inputs in the grids, spread over A's test split


def translate_uint8(generator: nn.Module, images: np.ndarray, device: torch.device) -> np.ndarray:
    """uint8 `(N, C, H, W)` images of A through `generator`, as uint8 images of B."""
    return to_uint8(translate_images(generator, to_training_tensor(images, device)))


def grid_picture(inputs: np.ndarray, translated: np.ndarray, third: np.ndarray) -> np.ndarray:
    """Rows of input | translation | third (the target, the cycle back to A, or a test image
    of B for a one-way translator), two a row."""
    rows = np.stack([inputs, translated, third], 1).reshape(-1, *inputs.shape[1:])
    return make_grid(rows, columns=6, min_side=READABLE_PX)


def write_translations(
    generators: dict[str, nn.Module], train: Domains, test: Domains, out: Path, rows: int,
    device: torch.device,
) -> dict[str, Path]:  # fmt: skip
    """Translate A's splits with `generators["ab"]` and write them into `out` (replaced
    whole); the grid shows the first `rows` test images of every class, spread out."""
    translated_test = translate_uint8(generators["ab"], test.a.images, device)
    translated_train = translate_uint8(generators["ab"], train.a.images, device)
    shown = np.linspace(0, len(test.a.images) - 1, rows).round().astype(np.int64)
    if test.aligned or "ba" not in generators:  # the target, or B's own images (CUT)
        third = test.b.images[shown % len(test.b.images)]
    else:
        third = translate_uint8(generators["ba"], translated_test[shown], device)
    arrays = {
        SAMPLES_FILE: translated_test,
        LABELS_FILE: test.a.labels,
        TRAIN_SAMPLES_FILE: translated_train,
        TRAIN_LABELS_FILE: train.a.labels,
    }
    with atomic_dir(out) as staging:
        for name, array in arrays.items():
            save_npy(staging / name, array)
        save_png(
            staging / GRID_FILE, grid_picture(test.a.images[shown], translated_test[shown], third)
        )
        files = sorted(p.name for p in staging.iterdir())
        write_json(
            staging / MANIFEST,
            {
                "count": len(translated_test),
                "image_shape": list(translated_test.shape[1:]),
                "translated": "A's test split (samples.npy) and train split (train_samples.npy)",
                "num_classes": len(test.a.class_names),
                "files": {name: {"sha256": sha256_file(staging / name)} for name in files},
            },
        )
    return {name: out / name for name in (*arrays, GRID_FILE, MANIFEST)}


def load_train_translations(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """A's train split translated, and A's labels, verified against the manifest."""
    files = read_json_record(folder / MANIFEST, producer="sample").get("files", {})
    arrays = []
    for name in (TRAIN_SAMPLES_FILE, TRAIN_LABELS_FILE):
        if name not in files:
            raise DataError(
                f"{folder}: holds no {name}: these are not a translator's samples; rerun the "
                "sample stage with task: translate"
            )
        verify_file(folder / name, files[name].get("sha256"), MANIFEST, producer="sample")
        arrays.append(np.load(folder / name, allow_pickle=False))
    return arrays[0], arrays[1]

"""Fixtures of the text tests: real mnist-5k digits of every class, measured."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ganops.data.dataset import Split, load_split
from ganops.metrics.morpho import measure_batch

COUNT = 400  # digits of each split: measured in a few seconds


@pytest.fixture(scope="package")
def digits(prepared: Path) -> dict[str, Split]:
    """`COUNT` digits of the real train and test splits, evenly spaced through each (a split
    is stored in class order), so every class is there."""
    kept = {}
    for name in ("train", "test"):
        split = load_split(prepared / "processed", name)
        index = np.arange(COUNT) * (len(split.labels) // COUNT)
        kept[name] = Split(split.images[index], split.labels[index], split.class_names)
    return kept


@pytest.fixture(scope="package")
def measured(digits: dict[str, Split]) -> dict[str, dict[str, np.ndarray]]:
    """Morpho-MNIST measurements of those digits."""
    return {name: measure_batch(split.images, progress=False) for name, split in digits.items()}

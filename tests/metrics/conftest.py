"""Fixtures of the metrics tests: the small trained evaluator and the real splits."""

from __future__ import annotations

from pathlib import Path

import pytest

from ganops.data.dataset import Split, load_split
from ganops.metrics.evaluator import LoadedEvaluator, load_evaluator


@pytest.fixture(scope="module")
def evaluator(evaluator_file: Path) -> LoadedEvaluator:
    return load_evaluator(evaluator_file)


@pytest.fixture(scope="module")
def train(prepared: Path) -> Split:
    return load_split(prepared / "processed", "train")


@pytest.fixture(scope="module")
def test(prepared: Path) -> Split:
    return load_split(prepared / "processed", "test")

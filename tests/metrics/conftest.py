"""Fixtures of the metrics tests: the small trained evaluator and the real splits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ganops.data.dataset import Split, load_split
from ganops.metrics import shared_work
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


@pytest.fixture
def pool_starts(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The sizes of the pools `shared_work.shared()` starts, one entry a start."""
    started: list[int] = []
    spawn = shared_work._SPAWN

    class Counted:
        def Pool(self, workers: int, **kwargs: Any) -> Any:
            started.append(workers)
            return spawn.Pool(workers, **kwargs)

    monkeypatch.setattr(shared_work, "_SPAWN", Counted())
    return started

"""Shared fixtures: tiny params, a per-test MLflow store, the real mnist-5k data prepared once."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ganops.config import DataConfig, Params
from ganops.data.processing import preprocess
from ganops.data.sources import fetch_source
from tests.helpers import TINY, merged, project_params, server_state_root

# The test files that take longest, longest first, from the per-test times of whole runs on
# 2 cores, seconds per file. A 2-core Intel Xeon (2026-11-27): 607 (the emulated CPU's), 321,
# 194, 144, 144, 139, 128, 121, 116, 101, 95. A 2-core AMD EPYC (2026-11-28; the 80 slowest
# tests summed by file), where the emulated CPU's file takes 86 s: 356, 265, 258, 249, 236,
# 186, 159, 157 (CUT's, before its tiny run sampled fewer patches), 144, 133, 104. With one
# file per worker, a long file that starts last keeps one worker busy after the others have
# finished; started first, it runs beside the rest. Every other file follows in collection
# order. A rough order is enough: it is not a test.
LONGEST_FIRST = (
    "tests/test_cpu_kinds.py",
    "tests/pipeline/test_dvc_e2e.py",
    "tests/pipeline/test_retrain.py",
    "tests/test_bench.py",
    "tests/pipeline/test_faults.py",
    "tests/pipeline/test_torchrun.py",
    "tests/translation/test_translate_stages.py",
    "tests/pipeline/test_team_server.py",
    "tests/translation/test_translate_torchrun.py",
    "tests/pipeline/test_dvc_remote.py",
    "tests/pipeline/test_stage_signals.py",
    "tests/translation/test_cut.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The files of LONGEST_FIRST first, in its order; each file's tests keep theirs."""
    rank = {path: index for index, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))


@pytest.fixture
def mlflow_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh sqlite MLflow store for one test, via MLFLOW_TRACKING_URI."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.delenv("DVC_EXP_NAME", raising=False)
    return uri


@pytest.fixture(scope="session")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """mnist-5k fetched and preprocessed once per session: `<dir>/raw`, `<dir>/processed`."""
    base = tmp_path_factory.mktemp("mnist5k")
    cfg = DataConfig()
    fetch_source(cfg, base / "raw")
    preprocess(base / "raw", base / "processed", cfg)
    return base


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty directory made the working directory for the test."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


@pytest.fixture
def tiny_params() -> Callable[..., Params]:
    """Build validated tiny `Params`, with optional per-section overrides."""
    from ganops.params import parse_params

    def build(overrides: dict[str, Any] | None = None) -> Params:
        return parse_params(merged(merged(project_params(), TINY), overrides or {}))

    return build


@pytest.fixture
def venv_env() -> Iterator[dict[str, str]]:
    """Environment for subprocesses: this interpreter's bin first on PATH, no MLflow URI."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("DVC_EXP_NAME", None)
    env["PYTHONUNBUFFERED"] = "1"
    yield env


@pytest.fixture(scope="session")
def evaluator_file(prepared: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small evaluator trained on the real mnist-5k train split (a few epochs), saved with
    the test split's reference features, as the train_evaluator stage does."""
    import torch

    from ganops.config import EvaluatorConfig
    from ganops.data.dataset import load_split
    from ganops.metrics.evaluator import fit_evaluator, save_evaluator

    train = load_split(prepared / "processed", "train")
    test = load_split(prepared / "processed", "test")
    cfg = EvaluatorConfig(width=16, epochs=5)
    network, accuracy, reference = fit_evaluator(cfg, train, test, torch.device("cpu"))
    path = tmp_path_factory.mktemp("evaluator") / "evaluator.pt"
    save_evaluator(path, network, accuracy, reference)
    return path


@pytest.fixture
def server_root() -> Iterator[Path]:
    """An empty folder for a team server's state, outside pytest's temporary root
    (`tests.helpers.server_state_root`)."""
    with server_state_root() as path:
        yield path

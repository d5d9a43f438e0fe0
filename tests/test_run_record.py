"""run.json: written and read back whole, and portable between clones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ganops.errors import DataError
from ganops.run_record import RunRecord, portable_uri, resolve_uri


def test_a_record_round_trips(tmp_path: Path) -> None:
    record = RunRecord("r1", "1", "sqlite:///mlflow.db", "models:/m-1", "abc", 16, 12, 3.5)
    record.write(tmp_path / "run.json")
    assert RunRecord.read(tmp_path / "run.json") == record
    assert list(json.loads((tmp_path / "run.json").read_text())) == sorted(
        json.loads((tmp_path / "run.json").read_text())
    )  # sorted keys: stable bytes for DVC


def test_only_the_run_id_is_required(tmp_path: Path) -> None:
    (tmp_path / "run.json").write_text('{"run_id": "abc", "steps": 16}')
    assert RunRecord.read(tmp_path / "run.json") == RunRecord("abc", steps=16)
    (tmp_path / "run.json").write_text('{"steps": 16}')
    with pytest.raises(DataError, match="has no run_id; rerun the train stage"):
        RunRecord.read(tmp_path / "run.json")
    (tmp_path / "run.json").write_text('{"run_id": "abc", "steps": "many"}')
    with pytest.raises(DataError, match=r"corrupt \(steps\)"):
        RunRecord.read(tmp_path / "run.json")


def test_the_default_store_is_recorded_relative_to_the_project(tmp_path: Path) -> None:
    root = tmp_path / "project"
    assert portable_uri(f"sqlite:///{root / 'mlflow.db'}", root) == "sqlite:///mlflow.db"
    outside = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    assert portable_uri(outside, root) == outside  # a store the user put elsewhere
    assert portable_uri("http://127.0.0.1:5000", root) == "http://127.0.0.1:5000"
    # ... and every clone resolves it against its own root
    clone = tmp_path / "clone"
    record = RunRecord("r1", tracking_uri=portable_uri(f"sqlite:///{root}/mlflow.db", root))
    assert record.store_uri(clone) == f"sqlite:///{clone / 'mlflow.db'}"
    assert resolve_uri(outside, clone) == outside
    assert resolve_uri("https://mlflow.example.org", clone) == "https://mlflow.example.org"

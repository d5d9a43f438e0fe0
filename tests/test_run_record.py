"""run.json: written and read back whole, and portable between clones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ganops.errors import DataError
from ganops.run_record import LINK_FIELDS, LINK_NAME, RunRecord, portable_uri, resolve_uri


def test_a_record_round_trips_in_two_files(tmp_path: Path) -> None:
    record = RunRecord("r1", "1", "sqlite:///mlflow.db", "models:/m-1", "abc", 16, 12, 3.5)
    record.write(tmp_path / "run.json")
    assert RunRecord.read(tmp_path / "run.json") == record
    tracked = json.loads((tmp_path / "run.json").read_text())
    assert list(tracked) == sorted(tracked)  # sorted keys: stable bytes for DVC
    # what changes with every rebuild of the same params is not in the tracked file
    assert set(tracked) == {"params_hash", "steps", "published_step", "conditioning", "hardware"}
    link = json.loads((tmp_path / LINK_NAME).read_text())
    assert link == {**dict.fromkeys(LINK_FIELDS), "run_id": "r1", "experiment_id": "1",
                    "tracking_uri": "sqlite:///mlflow.db", "model_uri": "models:/m-1",
                    "train_time_s": 3.5, "params_hash": "abc"}  # fmt: skip
    # the same params trained again: the same run.json bytes, another run beside it
    before = (tmp_path / "run.json").read_bytes()
    RunRecord("r2", "1", "sqlite:///mlflow.db", "models:/m-2", "abc", 16, 12, 9.9).write(
        tmp_path / "run.json"
    )
    assert (tmp_path / "run.json").read_bytes() == before
    assert RunRecord.read(tmp_path / "run.json").run_id == "r2"


def test_a_link_of_other_params_is_not_the_records_run(tmp_path: Path) -> None:
    RunRecord("r1", params_hash="abc", steps=16).write(tmp_path / "run.json")
    RunRecord("r2", params_hash="def", steps=8).write(tmp_path / "other" / "run.json")
    (tmp_path / LINK_NAME).write_bytes((tmp_path / "other" / LINK_NAME).read_bytes())
    assert RunRecord.read(tmp_path / "run.json") == RunRecord("", params_hash="abc", steps=16)
    (tmp_path / LINK_NAME).unlink()  # restored from DVC's cache: no link at all
    assert RunRecord.read(tmp_path / "run.json").run_id == ""


def test_an_older_record_with_its_run_id_still_reads(tmp_path: Path) -> None:
    (tmp_path / "run.json").write_text('{"run_id": "abc", "steps": 16}')
    assert RunRecord.read(tmp_path / "run.json") == RunRecord("abc", steps=16)
    (tmp_path / "run.json").write_text('{"run_id": "abc", "steps": "many"}')
    with pytest.raises(DataError, match=r"corrupt \(steps\)"):
        RunRecord.read(tmp_path / "run.json")
    (tmp_path / LINK_NAME).write_text("{not json")
    (tmp_path / "run.json").write_text('{"steps": 16}')
    with pytest.raises(DataError, match=f"{LINK_NAME}: corrupt"):
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

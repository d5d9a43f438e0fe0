"""The train stage's run found again without its id in git: by the params hash, in a real
sqlite MLflow store (the later stages through MLflow's client, the report and `ganops exps`
read-only through sqlite)."""

from __future__ import annotations

import logging
from pathlib import Path

import mlflow
import pytest

from ganops.config import Params
from ganops.revisions import with_run
from ganops.run_record import LINK_NAME, RunRecord
from ganops.tracking.keys import chart_key
from ganops.tracking.train_run import open_train_run, train_run_id

HASH, OTHER = "0123456789abcdef", "fedcba9876543210"


def _run(experiment: str, params_hash: str, train_time: float | None) -> str:
    mlflow.set_experiment(experiment)
    with mlflow.start_run(tags={"params.hash": params_hash}) as run:
        if train_time is not None:
            mlflow.log_metric(chart_key("train_time_s"), train_time)  # as the stages log it
    return run.info.run_id


@pytest.fixture
def store(tmp_path: Path, mlflow_store: str, tiny_params: object) -> Params:
    params: Params = tiny_params()  # type: ignore[operator]
    mlflow.set_tracking_uri(mlflow_store)
    return params


def test_the_newest_train_run_of_the_params_is_found(store: Params, tmp_path: Path) -> None:
    experiment = store.tracking.experiment
    _run(experiment, HASH, 1.0)
    newest = _run(experiment, HASH, 2.0)
    _run(experiment, HASH, None)  # a later stage's own run of those params: not a train run
    other = _run(experiment, OTHER, 3.0)
    assert train_run_id(store.tracking, HASH, tmp_path) == newest
    assert train_run_id(store.tracking, OTHER, tmp_path) == other
    assert train_run_id(store.tracking, "0" * 16, tmp_path) is None
    assert train_run_id(store.tracking, "x' or '1'='1", tmp_path) is None  # not a hash: no query
    # the report's read-only lookup finds the same run, with its time
    found = with_run(tmp_path, {"params_hash": HASH, "steps": 4})
    assert (found["run_id"], found["train_time_s"], found["steps"]) == (newest, 2.0, 4)
    assert with_run(tmp_path, {"params_hash": "0" * 16}) == {"params_hash": "0" * 16}
    # a link of the same params wins over the store; one of other params does not
    RunRecord("linked", params_hash=HASH).write(tmp_path / "work" / "run.json")
    link = tmp_path / "work" / LINK_NAME
    assert with_run(tmp_path, {"params_hash": HASH}, link)["run_id"] == "linked"
    assert with_run(tmp_path, {"params_hash": OTHER}, link)["run_id"] == other


def test_a_later_stage_reopens_the_train_run_or_says_it_starts_one(
    store: Params, caplog: pytest.LogCaptureFixture
) -> None:
    trained = _run(store.tracking.experiment, HASH, 5.0)
    with open_train_run(store, RunRecord("", params_hash=HASH)) as run:
        assert run.run_id == trained
    assert mlflow.get_run(trained).info.status == "FINISHED"
    with (
        caplog.at_level(logging.WARNING),
        open_train_run(store, RunRecord("", params_hash=OTHER)) as run,
    ):
        assert run.run_id != trained
    assert f"no MLflow run of the train stage's params (hash {OTHER})" in caplog.text
    new = mlflow.get_run(run.run_id)
    assert new.info.status == "FINISHED" and new.data.params["task"] == store.task

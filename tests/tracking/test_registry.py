"""The model registry (a real sqlite MLflow store): each version's model card and tags, and
the champion alias that `ganops promote` moves only to a better version."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow import MlflowClient

from ganops.errors import DataError
from ganops.tracking.registry import (
    CHAMPION,
    champion,
    describe_version,
    model_card,
    promote,
    version_of_run,
)

NAME = "ganops-generator"


def _store(tmp_path: Path) -> tuple[str, MlflowClient, list[str]]:
    """A store with three runs, each registering a version of NAME."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    client.create_registered_model(NAME)
    experiment = client.create_experiment("e")
    run_ids = []
    for _ in range(3):
        run = client.create_run(experiment)
        client.create_model_version(NAME, f"runs:/{run.info.run_id}/generator", run.info.run_id)
        run_ids.append(run.info.run_id)
    return uri, client, run_ids


def test_a_version_gets_its_card_and_tags(tmp_path: Path) -> None:
    _, client, runs = _store(tmp_path)
    card = model_card({
        "what": "A dcgan generator (conditional, 10 classes)", "data": "mnist-5k",
        "images": 4000, "size": 28, "steps": 2480, "hardware": "cpu, 2 threads",
        "params_hash": "abc", "commit": "0123456789ab", "quick_fid": 3.0768,
    })  # fmt: skip
    assert describe_version(client, NAME, runs[1], card, {"params.hash": "abc"}) == "2"
    version = client.get_model_version(NAME, "2")
    assert version.description.startswith(
        "A dcgan generator (conditional, 10 classes) trained on mnist-5k (4,000 training "
        "images, 28 px), 2,480 steps on cpu, 2 threads."
    )
    assert "Quick FID 3.077" in version.description and "Limits:" in version.description
    assert version.tags == {"params.hash": "abc"}
    assert describe_version(client, NAME, "no-such-run", card, {}) is None


def test_the_champion_moves_only_to_a_better_version(tmp_path: Path) -> None:
    uri, client, runs = _store(tmp_path)
    assert champion(client, NAME) is None
    first = promote(uri, NAME, runs[0], better=False, why="fid within noise against main")
    assert first == f"{NAME}@{CHAMPION} is now version 1 (had none): fid within noise against main"
    again = promote(uri, NAME, runs[0], better=True, why="x")
    assert again == f"{NAME} version 1 is the champion already"
    stays = promote(uri, NAME, runs[1], better=False, why="fid worse against main")
    assert stays == f"{NAME}@{CHAMPION} stays version 1: fid worse against main"
    assert champion(client, NAME) == "1"
    moved = promote(uri, NAME, runs[2], better=True, why="fid better against main")
    assert moved == f"{NAME}@{CHAMPION} is now version 3 (was version 1): fid better against main"
    assert client.get_model_version_by_alias(NAME, CHAMPION).run_id == runs[2]
    assert str(version_of_run(client, NAME, runs[2]).version) == "3"


def test_a_run_that_registered_nothing_is_one_line(tmp_path: Path) -> None:
    uri, _, _ = _store(tmp_path)
    with pytest.raises(DataError, match=r"^run nope registered no version of ganops-generator"):
        promote(uri, NAME, "nope", better=True, why="")

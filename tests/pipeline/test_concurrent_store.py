"""Many workers, one store: `make retrain SEEDS=N` runs `JOBS` experiments at once, all
logging to the workspace's one SQLite `mlflow.db`, or to the team's server. Four real train
stages started together must all finish, with every step of every run logged once and four
model versions registered: on a SQLite store that does not exist yet (so they also race to
create its tables), and on the team server (`make server`: PostgreSQL behind `mlflow
server`)."""

from __future__ import annotations

import shutil
from pathlib import Path

import mlflow
import pytest

from tests.helpers import assert_every_step_once, team_server, train_stage, write_params

pytestmark = pytest.mark.slow

WORKERS = 4
STEPS = 40  # one epoch: 4,000 training images in batches of 100
# Each run delivers its buffered steps at every checkpoint: 8 writes a run, 4 runs at once.
CONCURRENT = {
    "model": {"width": 4},
    "train": {"epochs": 1, "batch_size": 100, "eval_every": 1},
    "run": {"checkpoint_every": 5},
}
# One thread each: four processes with a thread per core each fight over the cores (as many
# workers as cores is what `make retrain` runs, but the tests share the machine).
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
REGISTERED = "ganops-generator"  # tracking.registered_model


def _workspace(work: Path, prepared: Path, evaluator_file: Path, seed: int) -> Path:
    shutil.copytree(prepared / "processed", work / "data" / "processed")
    (work / "data" / "models").mkdir()
    shutil.copy2(evaluator_file, work / "data" / "models" / "evaluator.pt")
    write_params(work / "params.yaml", CONCURRENT | {"train": CONCURRENT["train"] | {"seed": seed}})
    return work


def _train_together(works: list[Path], uri: str) -> list[str]:
    """Start the train stage in every workspace at once; their outputs, once all have ended
    (whatever is still running when one fails or times out is killed)."""
    processes = [train_stage(work, uri, env=ONE_THREAD) for work in works]
    try:
        outputs = [process.communicate(timeout=600)[0] for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)
    for process, output in zip(processes, outputs, strict=True):
        assert process.returncode == 0, output[-3000:]
    return outputs


def _four_at_once(uri: str, base: Path, prepared: Path, evaluator_file: Path) -> None:
    """Four train stages of seeds 0-3 at once on the store `uri`: all finish, every step of
    each logged once, a model version each."""
    works = [
        _workspace(base / f"w{seed}", prepared, evaluator_file, seed) for seed in range(WORKERS)
    ]
    outputs = _train_together(works, uri)
    for output in outputs:  # no write was refused, retried or sent elsewhere
        for said in ("locked", "unreachable", "local store", "Traceback"):
            assert said not in output, output[-3000:]
    client = mlflow.MlflowClient(uri)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert len(runs) == WORKERS
    assert sorted(run.data.params["train.seed"] for run in runs) == ["0", "1", "2", "3"]
    for run in runs:
        assert run.info.status == "FINISHED"
        assert_every_step_once(uri, run.info.run_id, total_steps=STEPS, epochs=1)
    versions = client.search_model_versions(f"name = '{REGISTERED}'")
    assert sorted(int(v.version) for v in versions) == list(range(1, WORKERS + 1))
    assert {v.run_id for v in versions} == {run.info.run_id for run in runs}


def test_four_runs_at_once_on_one_sqlite_store_lose_nothing(
    tmp_path: Path, prepared: Path, evaluator_file: Path
) -> None:
    uri = f"sqlite:///{tmp_path / 'shared' / 'mlflow.db'}"  # not made yet: all four make it
    _four_at_once(uri, tmp_path, prepared, evaluator_file)


def test_four_runs_at_once_on_the_team_server_lose_nothing(
    tmp_path: Path, prepared: Path, evaluator_file: Path
) -> None:
    with team_server(tmp_path / "server") as server:
        _four_at_once(server.uri, tmp_path, prepared, evaluator_file)

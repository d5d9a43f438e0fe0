"""Data-parallel training through torchrun: two Gloo processes on CPU, launched the way
`dvc repro` does with `train.nproc: 2` (the stage reruns itself under torchrun)."""

from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest

from ganops.artifacts import load_generator
from ganops.training.distributed import weights_digest
from tests.helpers import ROOT, STAGE_ARGS, write_params

pytestmark = pytest.mark.slow

EPOCHS, BATCH = 2, 100  # 4,000 training images: 40 steps an epoch, 50 images per rank a step
DIGESTS = re.compile(r"rank (\d)/2 weights: generator sha256 (\w+), discriminator sha256 (\w+)")


def test_two_gloo_ranks_train_as_one_and_only_rank_0_writes(
    tmp_path: Path, prepared: Path, evaluator_file: Path
) -> None:
    work = tmp_path / "w"
    shutil.copytree(prepared / "processed", work / "data" / "processed")
    (work / "data" / "models").mkdir()
    shutil.copy2(evaluator_file, work / "data" / "models" / "evaluator.pt")
    train = {"nproc": 2, "epochs": EPOCHS, "batch_size": BATCH, "checkpoint_every": 10}
    write_params(work / "params.yaml", {"train": train})
    uri = f"sqlite:///{work / 'mlflow.db'}"

    done = subprocess.run(
        [sys.executable, str(ROOT / "pipeline" / "train.py"), *STAGE_ARGS["train"]],
        cwd=work,
        env={**_clean_env(), "MLFLOW_TRACKING_URI": uri, "PYTHONUNBUFFERED": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "launching 2 training processes" in output

    # both ranks end with identical weights, and rank 0 published them
    digests = {int(rank): (g, d) for rank, g, d in DIGESTS.findall(output)}
    assert set(digests) == {0, 1}, output
    assert digests[0] == digests[1]
    generator, _ = load_generator(work / "data" / "models" / "generator.pt")
    assert weights_digest(generator) == digests[0][0]

    # one MLflow run, from rank 0 only: every step once, the world size recorded
    client = mlflow.MlflowClient(uri)
    (run,) = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert run.info.status == "FINISHED"
    assert run.data.params["train.nproc"] == "2"
    assert run.data.tags["ganops.world_size"] == "2"
    total = EPOCHS * 4000 // BATCH
    steps = [m.step for m in client.get_metric_history(run.info.run_id, "train/loss_d")]
    assert sorted(steps) == list(range(1, total + 1))
    with (work / "data" / "train" / "history.tsv").open() as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    assert [int(row["step"]) for row in rows] == list(range(1, total + 1))
    assert output.count("epoch 2/2") == 1  # progress is logged by rank 0 alone


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DVC_EXP_NAME", "MLFLOW_RUN_ID")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env

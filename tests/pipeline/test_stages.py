"""Stage scripts called in-process: outputs, MLflow records, determinism, bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pytest
from PIL import Image

from tests.helpers import load_stage, write_params

FETCH, PREPROCESS, TRAIN, SAMPLE = (
    load_stage(n) for n in ("fetch", "preprocess", "train", "sample")
)
TRAIN_ARGS = [
    "--data", "data/processed", "--generator", "data/models/generator.pt",
    "--history", "data/train/history.tsv", "--metrics", "data/train/metrics.json",
    "--run-record", "data/train/run.json", "--checkpoints", "data/checkpoints",
]  # fmt: skip
SAMPLE_ARGS = [
    "--generator", "data/models/generator.pt", "--run-record", "data/train/run.json",
    "--out", "data/samples",
]  # fmt: skip


def run_all(overrides: dict[str, Any] | None = None) -> None:
    """fetch -> preprocess -> train -> sample in the current directory."""
    write_params(Path("params.yaml"), overrides)
    assert FETCH.main(["--out", "data/raw"]) == 0
    assert PREPROCESS.main(["--raw", "data/raw", "--out", "data/processed"]) == 0
    assert TRAIN.main(TRAIN_ARGS) == 0
    assert SAMPLE.main(SAMPLE_ARGS) == 0


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace where the four stages ran once (with its own MLflow store)."""
    base = tmp_path_factory.mktemp("finished")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(base)
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{base / 'mlflow.db'}")
        patch.delenv("DVC_EXP_NAME", raising=False)
        run_all()
    return base


@pytest.fixture
def copy_of_finished(finished: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A private copy of `finished`, made the working directory; returns its store URI."""
    work = tmp_path / "work"
    shutil.copytree(finished, work)
    monkeypatch.chdir(work)
    uri = f"sqlite:///{work / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri


def test_stages_produce_everything(copy_of_finished: str) -> None:
    mlflow_store = copy_of_finished
    assert (
        json.loads(Path("data/processed/manifest.json").read_text())["splits"]["test"]["count"]
        == 1000
    )
    history = Path("data/train/history.tsv").read_text().splitlines()
    assert history[0].split("\t") == [
        "step",
        "loss_d",
        "loss_g",
        "d_real",
        "d_fake",
        "images_per_s",
    ]
    assert len(history) == 1 + 16  # 4000 images / batch 250, one epoch, every step
    metrics = json.loads(Path("data/train/metrics.json").read_text())
    assert (
        set(metrics) == {"loss_d", "loss_g", "d_real", "d_fake", "steps"} and metrics["steps"] == 16
    )
    samples = np.load("data/samples/samples.npy")
    assert samples.shape == (100, 1, 28, 28) and samples.dtype == np.uint8
    assert Image.open("data/samples/grid.png").size == (4 * 30 + 2, 4 * 30 + 2)
    assert Image.open("data/samples/interpolation.png").size == (4 * 30 + 2, 2 * 30 + 2)

    record = json.loads(Path("data/train/run.json").read_text())
    client = mlflow.MlflowClient(mlflow_store)
    run = client.get_run(record["run_id"])
    assert run.info.status == "FINISHED"
    assert len(client.get_metric_history(run.info.run_id, "loss_g")) == 16
    artifacts = [a.path for a in client.list_artifacts(run.info.run_id, "samples")]
    assert artifacts == ["samples/grid.png", "samples/interpolation.png"]
    assert record["model_uri"].startswith("models:/")
    assert client.get_registered_model("ganops-generator").latest_versions


def test_same_params_and_seed_give_identical_bytes(
    mlflow_store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outputs = []
    for name in ("first", "second"):
        (tmp_path / name).mkdir()
        monkeypatch.chdir(tmp_path / name)
        run_all()
        outputs.append(
            {
                p: Path(p).read_bytes()
                for p in (
                    "data/models/generator.pt",
                    "data/train/metrics.json",
                    "data/samples/samples.npy",
                )
            }
        )
    assert outputs[0] == outputs[1]


def _snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


BAD_TRAIN_PARAMS = [
    ({"train": {"lr": 0}}, "train.lr: Input should be greater than 0"),
    ({"train": {"lr": "fast"}}, "train.lr: Input should be a valid number"),
    ({"train": {"epochs": 1.5}}, "train.epochs: Input should be a valid integer"),
    ({"train": {"speed": 3}}, "train.speed: unknown key"),
    (
        {"train": {"batch_size": 5000}},
        "train.batch_size: 5000 is larger than the training set (4000 images)",
    ),
    ({"data": {"image_size": 50}}, "data.image_size: dcgan supports 28 or a power of two"),
    ({"data": {"source": "nope"}}, "data.source: unknown source 'nope'"),
    (
        {"train": {"device": "cuda"}},
        "train.device: cuda was asked for but PyTorch sees no CUDA GPU",
    ),
]


@pytest.mark.parametrize(("overrides", "message"), BAD_TRAIN_PARAMS)
def test_bad_params_stop_train_before_any_work(
    copy_of_finished: str,
    overrides: dict[str, Any],
    message: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    workdir = Path.cwd()
    before = _snapshot(workdir / "data")
    runs_before = len(mlflow.search_runs(search_all_experiments=True))
    write_params(Path("params.yaml"), overrides)
    capsys.readouterr()
    assert TRAIN.main(TRAIN_ARGS) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("train: error: ") and "\n" not in err
    assert message in err
    assert _snapshot(workdir / "data") == before  # nothing overwritten
    runs = mlflow.search_runs(search_all_experiments=True)
    assert len(runs) == runs_before and set(runs["status"]) == {"FINISHED"}


def test_missing_inputs_name_the_stage_to_run(
    mlflow_store: str, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_params(Path("params.yaml"))
    assert TRAIN.main(TRAIN_ARGS) == 1
    assert (
        "data/processed/manifest.json: missing; run the preprocess stage first"
        in capsys.readouterr().err
    )
    assert SAMPLE.main(SAMPLE_ARGS) == 1
    assert "generator.pt: generator not found" in capsys.readouterr().err
    assert not Path("data").exists()


def test_failing_sample_marks_the_run_failed(
    copy_of_finished: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    mlflow_store, workdir = copy_of_finished, Path.cwd()
    run_id = json.loads(Path("data/train/run.json").read_text())["run_id"]
    before = _snapshot(workdir / "data" / "samples")
    import ganops.sampling

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(ganops.sampling, "save_npy", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        SAMPLE.main(SAMPLE_ARGS)
    assert _snapshot(workdir / "data" / "samples") == before
    run = mlflow.MlflowClient(mlflow_store).get_run(run_id)
    assert run.info.status == "FAILED" and run.data.tags["error"] == "RuntimeError: disk full"

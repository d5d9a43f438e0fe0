"""The downstream stage after a real (tiny) conditional training run: numbers, plots, MLflow;
and what it does with an unconditional generator's samples or bad input."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pytest
import torch

from ganops.config import SampleConfig
from ganops.io import save_npy, sha256_file, write_json
from ganops.models import GeneratorSpec, build_generator
from ganops.sampling import write_samples
from tests.helpers import (
    STAGE_ARGS,
    load_stage,
    private_copy,
    run_stages_in,
    train_record,
    write_params,
)

DOWNSTREAM = load_stage("downstream")
ARGS = STAGE_ARGS["downstream"]
CONDITIONAL = {
    "model": {"conditional": True},
    "train": {"mode_seeking": 0.1, "lr_d": 4e-4, "class_loss": 0.2},
    "sample": {"num_samples": 200},
    "downstream": {"seeds": 2, "steps": 8},
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace where a tiny conditional GAN was trained and sampled, with its own store."""
    base = tmp_path_factory.mktemp("conditional")
    run_stages_in(base, ("fetch", "preprocess", "train_evaluator", "train", "sample"), CONDITIONAL)
    return base


@pytest.fixture
def workspace(trained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    return private_copy(trained, tmp_path, monkeypatch)


def test_arms_gains_plots_and_mlflow(workspace: str) -> None:
    assert DOWNSTREAM.main(ARGS) == 0
    metrics = json.loads(Path("data/downstream/metrics.json").read_text())
    for arm in ("real", "real_synthetic", "real_affine"):
        assert 0 <= metrics[arm]["accuracy_mean"] <= 1 and metrics[arm]["accuracy_std"] >= 0
    for gain in ("gain_synthetic_vs_real", "gain_synthetic_vs_affine"):
        assert set(metrics[gain]) == {"mean", "stderr", "band", "significant"}
        assert metrics[gain]["stderr"] >= 0 and isinstance(metrics[gain]["significant"], bool)
    assert metrics["real_images"] == 4000 and metrics["synthetic_images"] == 200
    table = Path("data/downstream/plots/accuracy.tsv").read_text().splitlines()
    assert table[0] == "arm\taccuracy_mean\taccuracy_std" and len(table) == 4
    assert Path("data/downstream/plots/arms.png").read_bytes()[:4] == b"\x89PNG"

    record = train_record()
    client = mlflow.MlflowClient(workspace)
    run = client.get_run(record["run_id"])
    assert run.info.status == "FINISHED"
    logged = run.data.metrics
    assert logged["downstream/real_synthetic.accuracy_mean"] == pytest.approx(
        metrics["real_synthetic"]["accuracy_mean"]
    )
    assert logged["downstream/gain_synthetic_vs_real.significant"] in (0.0, 1.0)
    artifacts = {a.path for a in client.list_artifacts(record["run_id"], "downstream")}
    assert artifacts == {"downstream/accuracy.tsv", "downstream/arms.png"}


def test_unconditional_samples_get_one_line_and_no_numbers(
    workspace: str, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = GeneratorSpec("dcgan", 8, 4, (1, 28, 28))
    torch.manual_seed(0)
    cfg = SampleConfig(num_samples=20, batch_size=20, grid_size=4)
    write_samples(build_generator(spec), spec, cfg, Path("data/samples"), torch.device("cpu"))
    client = mlflow.MlflowClient(workspace)
    logged = {r.info.run_id: r.data.metrics for r in client.search_runs(["0", "1"])}
    assert DOWNSTREAM.main(ARGS) == 0
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "data/samples holds no class labels (an unconditional generator)" in line
    assert json.loads(Path("data/downstream/metrics.json").read_text()) == {}
    assert list(Path("data/downstream/plots").iterdir()) == []
    assert {r.info.run_id: r.data.metrics for r in client.search_runs(["0", "1"])} == logged


def _earlier_outputs() -> dict[str, bytes]:
    assert DOWNSTREAM.main(ARGS) == 0
    return {str(p): p.read_bytes() for p in Path("data/downstream").rglob("*") if p.is_file()}


def test_labels_out_of_range_stop_with_one_line_and_keep_earlier_outputs(
    workspace: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _earlier_outputs()
    capsys.readouterr()
    folder = Path("data/samples")
    labels = np.load(folder / "labels.npy")
    labels[0] = 12
    save_npy(folder / "labels.npy", labels)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["files"]["labels.npy"]["sha256"] = sha256_file(folder / "labels.npy")
    write_json(folder / "manifest.json", manifest)
    assert DOWNSTREAM.main(ARGS) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("downstream: error: data/samples: labels run from 0 to 12")
    assert "\n" not in err
    after = {str(p): p.read_bytes() for p in Path("data/downstream").rglob("*") if p.is_file()}
    assert after == before


def test_a_bad_param_stops_before_any_work(
    workspace: str, capsys: pytest.CaptureFixture[str]
) -> None:
    write_params(Path("params.yaml"), {**CONDITIONAL, "downstream": {"synthetic_share": 0.7}})
    assert DOWNSTREAM.main(ARGS) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("downstream: error: params.yaml: downstream.synthetic_share")
    assert not Path("data/downstream").exists()

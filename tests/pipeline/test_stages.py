"""Stage scripts called in-process: outputs, MLflow records, determinism, bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pytest
import torch
from PIL import Image

from tests.helpers import (
    STAGE_ARGS,
    load_stage,
    private_copy,
    project_params,
    run_stages_in,
    train_record,
    write_params,
)

TRAIN_EVALUATOR, TRAIN, SAMPLE, EVALUATE = (
    load_stage(n) for n in ("train_evaluator", "train", "sample", "evaluate")
)
EVALUATOR_ARGS, TRAIN_ARGS, SAMPLE_ARGS, EVALUATE_ARGS = (
    STAGE_ARGS[name] for name in ("train_evaluator", "train", "sample", "evaluate")
)


SIX = ("fetch", "preprocess", "train_evaluator", "train", "sample", "evaluate")


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace where the six stages ran once (with its own MLflow store)."""
    base = tmp_path_factory.mktemp("finished")
    run_stages_in(base, SIX)
    return base


@pytest.fixture
def copy_of_finished(finished: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A private copy of `finished`, made the working directory; returns its store URI."""
    return private_copy(finished, tmp_path, monkeypatch)


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
    ]  # no timing: the file is in git, and a rebuild must not change it
    assert len(history) == 1 + 16  # 4000 images / batch 250, one epoch, every step
    metrics = json.loads(Path("data/train/metrics.json").read_text())
    assert set(metrics) == {
        "loss_d", "loss_g", "d_real", "d_fake", "steps", "quick_fid", "published_step",
        "quick_intra_class_diversity", "quick_intra_class_diversity_min",
    }  # fmt: skip
    assert metrics["steps"] == metrics["published_step"] == 16
    assert Path("data/train/fid.tsv").read_text().splitlines()[0] == (
        "step\tquick_fid\tquick_intra_class_diversity\tquick_intra_class_diversity_min"
    )
    assert json.loads(Path("data/evaluator/metrics.json").read_text())["accuracy"] > 0.5
    samples = np.load("data/samples/samples.npy")
    assert samples.shape == (100, 1, 28, 28) and samples.dtype == np.uint8
    # the default on ten classes is conditional (model.conditional: auto): a class per sample
    assert set(np.load("data/samples/labels.npy").tolist()) == set(range(10))
    # 28 px digits shown at 84 px (READABLE_PX): a row per class (grid_size 16 // 10 columns)
    assert Image.open("data/samples/grid.png").size == (1 * 86 + 2, 10 * 86 + 2)
    # interpolation_rows 2 of 10 classes: a row a class, so that every class shows
    assert Image.open("data/samples/interpolation.png").size == (4 * 86 + 2, 10 * 86 + 2)

    record = train_record()
    assert record["conditioning"] == "conditional, 10 classes (model.conditional: auto)"
    # what the bytes depend on beyond params: the threads, not the kind of CPU
    assert record["hardware"] == f"cpu, {torch.get_num_threads()} threads"
    client = mlflow.MlflowClient(mlflow_store)
    run = client.get_run(record["run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.tags["ganops.conditioning"] == record["conditioning"]
    assert len(client.get_metric_history(run.info.run_id, "train/loss_g")) == 16
    artifacts = [a.path for a in client.list_artifacts(run.info.run_id, "samples")]
    assert artifacts == ["samples/grid.png", "samples/interpolation.png"]
    assert record["model_uri"].startswith("models:/")
    assert client.get_registered_model("ganops-generator").latest_versions
    # the version the run registered carries its model card and tags
    version = client.search_model_versions(
        f"name = 'ganops-generator' and run_id = '{run.info.run_id}'"
    )[0]
    assert "trained on mnist-5k (4,000 training images, 28 px), 16 steps" in version.description
    assert "Limits:" in version.description
    assert (
        version.tags["params.hash"] == record["params_hash"]
        and version.tags["ganops.steps"] == "16"
    )
    assert float(version.tags["ganops.quick_fid"]) > 0
    assert [m.step for m in client.get_metric_history(run.info.run_id, "train/quick_fid")] == [16]


def test_evaluate_writes_scores_plots_and_logs_them(copy_of_finished: str) -> None:
    scores = json.loads(Path("data/eval/metrics.json").read_text())
    keys = {"fid", "kid_mean", "kid_std", "precision", "recall", "isc_mean", "isc_std",
            "classes_covered", "class_kl"}  # fmt: skip
    diversity = {"intra_class_diversity", "intra_class_diversity_min"}
    conditional = {"conditional_accuracy", "cas", "cas_real"}  # the default is conditional
    # the weakest class (its index) and its score
    weakest = {"intra_class_diversity_min_class", "conditional_accuracy_min",
               "conditional_accuracy_min_class"}  # fmt: skip
    others = {"nn_distance_ratio", "num_samples", "real_floor"}
    assert keys | diversity | conditional | weakest | others == set(scores)
    assert scores["conditional_accuracy_min"] <= scores["conditional_accuracy"]
    assert set(scores["real_floor"]) == keys | diversity
    # the real train split is about as varied as the test split, class by class (its images
    # trained the evaluator, which packs them a little tighter)
    floor = scores["real_floor"]
    assert 0.6 < floor["intra_class_diversity_min"] <= floor["intra_class_diversity"] < 1.2
    assert scores["real_floor"]["fid"] < scores["fid"]  # a one-epoch GAN is far from real data
    assert scores["num_samples"] == 100
    table = Path("data/eval/plots/class_histogram.tsv").read_text().splitlines()
    assert table[0] == "class\tgenerated\treal" and len(table) == 11
    width, height = Image.open("data/eval/plots/nearest_neighbours.png").size
    assert height == 2 * 86 + 2 and width > 8 * 86 + 2 + 40  # 8 samples, and their rows' names
    per_class = Path("data/eval/plots/per_class.tsv").read_text().splitlines()
    assert per_class[0] == "class\tdiversity\taccuracy" and len(per_class) == 11
    record = train_record()
    client = mlflow.MlflowClient(copy_of_finished)
    run = client.get_run(record["run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.metrics["eval/fid"] == pytest.approx(scores["fid"], rel=1e-5)
    assert run.data.metrics["eval_real_floor/fid"] == pytest.approx(
        scores["real_floor"]["fid"], rel=1e-5
    )
    logged = {a.path for a in client.list_artifacts(run.info.run_id, "eval")}
    assert logged == {
        "eval/class_histogram.png",
        "eval/class_histogram.tsv",
        "eval/nearest_neighbours.png",
        "eval/per_class.png",
        "eval/per_class.tsv",
    }


def test_same_params_and_seed_give_identical_bytes(
    mlflow_store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outputs = []
    for name in ("first", "second"):
        (tmp_path / name).mkdir()
        run_stages_in(tmp_path / name, SIX)
        monkeypatch.chdir(tmp_path / name)
        outputs.append(
            {
                p: Path(p).read_bytes()
                for p in (
                    "data/models/evaluator.pt",
                    "data/models/model.pt",
                    "data/train/metrics.json",
                    "data/train/fid.tsv",
                    "data/samples/samples.npy",
                    "data/eval/metrics.json",
                )
            }
        )
    assert outputs[0] == outputs[1]


def all_runs(uri: str) -> list[mlflow.entities.Run]:
    """Every run in the store at `uri` (explicit: the fluent API remembers an older URI)."""
    client = mlflow.MlflowClient(uri)
    ids = [experiment.experiment_id for experiment in client.search_experiments()]
    return list(client.search_runs(ids))


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
    ({"data": {"source": "nope"}}, "data.source: unknown data source 'nope'"),
    (
        {"run": {"device": "cuda"}},
        "run.device: cuda was asked for but PyTorch sees no CUDA GPU",
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
    runs_before = len(all_runs(copy_of_finished))
    write_params(Path("params.yaml"), overrides)
    capsys.readouterr()
    assert TRAIN.main(TRAIN_ARGS) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("train: error: ") and "\n" not in err
    assert message in err
    assert _snapshot(workdir / "data") == before  # nothing overwritten
    runs = all_runs(copy_of_finished)
    assert len(runs) == runs_before and {run.info.status for run in runs} == {"FINISHED"}


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
    assert "model.pt: generator not found" in capsys.readouterr().err
    assert not Path("data").exists()


def test_failing_sample_marks_the_run_failed(
    copy_of_finished: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    mlflow_store, workdir = copy_of_finished, Path.cwd()
    run_id = train_record()["run_id"]
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


def test_bad_eval_inputs_stop_evaluate_before_any_work(
    copy_of_finished: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _snapshot(Path("data"))
    write_params(Path("params.yaml"), {"eval": {"kid_subset_size": 500}})  # only 100 samples
    assert EVALUATE.main(EVALUATE_ARGS) == 1
    err = capsys.readouterr().err  # refused by the params check, before reading any data
    assert "eval.kid_subset_size: 500 is more than the 100 images KID draws its subsets" in err
    write_params(Path("params.yaml"))
    samples = Path("data/samples/samples.npy")
    samples.write_bytes(samples.read_bytes()[:-10])
    assert EVALUATE.main(EVALUATE_ARGS) == 1
    assert "samples.npy: sha256 does not match manifest.json" in capsys.readouterr().err
    samples.unlink()
    after = _snapshot(Path("data"))
    assert {k: v for k, v in after.items() if "samples" not in k} == {
        k: v for k, v in before.items() if "samples" not in k
    }
    assert {run.info.status for run in all_runs(copy_of_finished)} == {"FINISHED"}


def test_weak_evaluator_fails_its_stage(
    copy_of_finished: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = Path("data/models/evaluator.pt").read_bytes()
    write_params(Path("params.yaml"), {"evaluator": {"epochs": 1, "min_accuracy": 0.999}})
    assert TRAIN_EVALUATOR.main(EVALUATOR_ARGS) == 1
    err = capsys.readouterr().err
    assert "below evaluator.min_accuracy 0.999" in err and "raise evaluator.epochs" in err
    assert Path("data/models/evaluator.pt").read_bytes() == before


def test_publishing_the_best_quick_fid(copy_of_finished: str) -> None:
    write_params(Path("params.yaml"), {"train": {"epochs": 2, "publish": "best_fid"}})
    assert TRAIN.main(TRAIN_ARGS) == 0
    metrics = json.loads(Path("data/train/metrics.json").read_text())
    fids = [line.split("\t") for line in Path("data/train/fid.tsv").read_text().splitlines()[1:]]
    best_step = min(fids, key=lambda row: float(row[1]))[0]
    assert metrics["published_step"] == int(best_step)
    assert train_record()["published_step"] == int(best_step)


def test_a_suspected_collapse_is_said_once_and_tags_the_run(
    copy_of_finished: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # a threshold no generator reaches: every quick measurement counts as a collapse
    write_params(Path("params.yaml"), {"train": {"epochs": 2, "collapse_threshold": 10.0}})
    capsys.readouterr()
    assert TRAIN.main(TRAIN_ARGS) == 0
    err = capsys.readouterr().err
    assert err.count("mode collapse suspected") == 1
    assert "mode collapse suspected at step 16: the intra-class diversity" in err
    run_id = train_record()["run_id"]
    client = mlflow.MlflowClient(copy_of_finished)
    tag = client.get_run(run_id).data.tags["ganops.warning"]
    assert tag.startswith("mode collapse suspected at step 16")
    history = client.get_metric_history(run_id, "train/quick_intra_class_diversity_min")
    assert [m.step for m in history] == [16, 32]


def test_divergence_stops_train_and_keeps_the_last_good_checkpoint(
    copy_of_finished: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import torch

    from ganops import losses

    loss = project_params()["train"]["loss"]  # the default's loss, whichever it is
    d_loss, g_loss = losses.LOSSES[loss]
    calls = {"n": 0}

    def diverging(real: torch.Tensor, fake: torch.Tensor, smoothing: float) -> torch.Tensor:
        calls["n"] += 1  # one call per step
        loss = d_loss(real, fake, smoothing)
        return loss * float("nan") if calls["n"] >= 20 else loss

    monkeypatch.setitem(losses.LOSSES, loss, (diverging, g_loss))
    write_params(Path("params.yaml"), {"train": {"epochs": 2}})  # 16 steps an epoch
    generator = Path("data/models/model.pt").read_bytes()
    runs_before = {run.info.run_id for run in all_runs(copy_of_finished)}
    capsys.readouterr()

    assert TRAIN.main(TRAIN_ARGS) == 1
    err = capsys.readouterr().err
    (line,) = [line for line in err.splitlines() if line.startswith("train: error: ")]
    assert line.startswith("train: error: training diverged at step 20: loss_d is nan")
    assert "Traceback" not in err
    checkpoint = torch.load("data/checkpoints/last.pt", map_location="cpu", weights_only=True)
    assert checkpoint["state"]["step"] == 16  # the end of epoch 1: the last good state
    assert Path("data/models/model.pt").read_bytes() == generator  # nothing published
    (run,) = [r for r in all_runs(copy_of_finished) if r.info.run_id not in runs_before]
    assert run.info.status == "FAILED"
    assert run.data.tags["error"].startswith("TrainingDiverged: training diverged at step 20")


def test_conditional_gan_with_regularisers_through_the_stages(copy_of_finished: str) -> None:
    stronger = {
        "model": {"conditional": True, "spectral_norm": True},
        "train": {
            "loss": "hinge",
            "r1_gamma": 0.5,
            "ema_kimg": 0,
            "ema_decay": 0.99,
            "augment": "translation",
        },
        "eval": {"cas_epochs": 1},
    }
    write_params(Path("params.yaml"), stronger)
    assert TRAIN.main(TRAIN_ARGS) == 0
    assert SAMPLE.main(SAMPLE_ARGS) == 0
    assert EVALUATE.main(EVALUATE_ARGS) == 0
    # the samples carry their classes, drawn evenly, and the grid has a row per class
    labels = np.load("data/samples/labels.npy")
    assert labels.shape == (100,) and set(labels.tolist()) == set(range(10))
    manifest = json.loads(Path("data/samples/manifest.json").read_text())
    assert manifest["num_classes"] == 10 and "labels.npy" in manifest["files"]
    grid = Image.open("data/samples/grid.png")
    assert grid.size[1] == 10 * 86 + 2  # 10 rows of 28 px images shown 3x, 2 px padding
    # the conditional scores, beside the usual ones
    scores = json.loads(Path("data/eval/metrics.json").read_text())
    for key in ("conditional_accuracy", "cas", "cas_real"):
        assert 0 <= scores[key] <= 1, key
    # every choice reached MLflow as a param, and the run finished
    record = train_record()
    run = mlflow.MlflowClient(copy_of_finished).get_run(record["run_id"])
    assert run.info.status == "FINISHED"
    logged = run.data.params
    assert logged["model.conditional"] == "True" and logged["model.spectral_norm"] == "True"
    assert logged["train.loss"] == "hinge" and float(logged["train.r1_gamma"]) == 0.5
    assert float(logged["train.ema_decay"]) == 0.99 and logged["train.augment"] == "translation"
    assert run.data.metrics["eval/cas"] == pytest.approx(scores["cas"], rel=1e-5)

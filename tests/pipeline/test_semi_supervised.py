"""Few labels, many images: the seven stages on mnist-5k with 10 labels a class, a tiny
semi-supervised GAN and the downstream arms; what each stage makes of the unlabelled images,
and the errors of a conditional GAN on them."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pytest
import torch

from ganops.artifacts import load_classifier
from ganops.data.dataset import UNLABELLED, load_split
from ganops.few_labels import GAN_ARM, SEMI_ARMS
from ganops.models.semi import classifier_logits
from tests.helpers import (
    STAGE_ARGS,
    load_stage,
    private_copy,
    run_stages_in,
    train_record,
    write_params,
)

pytestmark = pytest.mark.slow  # the seven stages, if tiny

FEW_LABELS = {
    "data": {"labelled_per_class": 10},
    "evaluator": {"epochs": 60, "min_accuracy": 0.3},  # a step an epoch: 100 images
    "model": {"arch": "mlp", "latent_dim": 16, "width": 16},
    "train": {
        "semi_supervised": True,
        "epochs": 2,
        "batch_size": 100,
        "augment": "",
        "eval_every": 2,
    },
    "downstream": {"seeds": 2, "steps": 8},
}
STAGES = ("fetch", "preprocess", "train_evaluator", "train", "sample", "evaluate", "downstream")


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace where the seven stages ran on 10 labels a class, with its own store."""
    base = tmp_path_factory.mktemp("few_labels")
    run_stages_in(base, STAGES, FEW_LABELS)
    return base


@pytest.fixture
def workspace(trained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    return private_copy(trained, tmp_path, monkeypatch)


def test_no_stage_sees_a_label_the_data_does_not_keep(trained: Path) -> None:
    train = load_split(trained / "data" / "processed", "train")
    assert len(train.labels) == 4000 and (train.labels == UNLABELLED).sum() == 3900
    evaluator_log = json.loads((trained / "data" / "evaluator" / "metrics.json").read_text())
    assert 0.3 <= evaluator_log["accuracy"] < 1  # learned from the 100 labelled images


def test_the_discriminator_is_a_classifier_scored_every_epoch(workspace: str) -> None:
    metrics = json.loads(Path("data/train/metrics.json").read_text())
    accuracy = metrics["classifier_accuracy"]
    assert 0.2 < accuracy <= 1  # 10 classes: chance is 0.1
    record = train_record()
    assert record["conditioning"].startswith("unconditional")
    client = mlflow.MlflowClient(workspace)
    history = client.get_metric_history(record["run_id"], "train/classifier_accuracy")
    assert sorted(m.step for m in history) == [40, 80]  # every epoch, once
    assert max(history, key=lambda m: m.step).value == pytest.approx(accuracy)
    # the quick scores' file keeps its own cadence and columns
    columns = Path("data/train/fid.tsv").read_text().splitlines()[0].split("\t")
    assert "classifier_accuracy" not in columns
    # the generator's file carries it: the same accuracy on the test split
    loaded = load_classifier(Path("data/models/model.pt"))
    assert loaded is not None
    test = load_split(Path("data/processed"), "test")
    logits = classifier_logits(loaded[0], test.images, torch.device("cpu"))
    assert float((logits.argmax(1).numpy() == test.labels).mean()) == pytest.approx(accuracy)


def test_downstream_compares_the_gan_with_the_arms_that_need_none(workspace: str) -> None:
    metrics = json.loads(Path("data/downstream/metrics.json").read_text())
    for arm in (*SEMI_ARMS, GAN_ARM):
        assert 0 <= metrics[arm]["accuracy_mean"] <= 1
    assert metrics[GAN_ARM]["accuracy_mean"] == pytest.approx(
        json.loads(Path("data/train/metrics.json").read_text())["classifier_accuracy"]
    )
    for gain in ("gain_gan_vs_labelled_affine", "gain_gan_vs_pseudo_label",
                 "gain_pseudo_label_vs_labelled_affine"):  # fmt: skip
        assert set(metrics[gain]) == {"mean", "stderr", "band", "significant"}
    assert metrics["labelled_images"] == 100 and metrics["unlabelled_images"] == 3900
    assert metrics["steps"] == 8 and metrics["gan_steps"] == 80
    table = Path("data/downstream/plots/accuracy.tsv").read_text().splitlines()
    assert [row.split("\t")[0] for row in table[1:]] == [*SEMI_ARMS, GAN_ARM]


def test_without_a_semi_supervised_gan_the_arms_run_alone(workspace: str) -> None:
    write_params(Path("params.yaml"), FEW_LABELS | {"train": {"semi_supervised": False}})
    for stage in ("train", "sample", "downstream"):
        assert load_stage(stage).main(STAGE_ARGS[stage]) == 0, stage
    assert load_classifier(Path("data/models/model.pt")) is None
    metrics = json.loads(Path("data/downstream/metrics.json").read_text())
    assert set(SEMI_ARMS) <= set(metrics) and GAN_ARM not in metrics
    assert set(metrics) >= {"gain_pseudo_label_vs_labelled_affine"}
    assert "gain_gan_vs_pseudo_label" not in metrics


def test_a_conditional_gan_on_unlabelled_images_is_one_line(
    workspace: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = Path("data/models/model.pt").read_bytes()
    write_params(
        Path("params.yaml"),
        FEW_LABELS | {"model": {"conditional": True}, "train": {"semi_supervised": False}},
    )
    assert load_stage("train").main(STAGE_ARGS["train"]) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "a conditional GAN needs the class of every training image" in line
    assert "left 3900 without one" in line
    assert Path("data/models/model.pt").read_bytes() == before  # nothing overwritten


def test_the_labelled_images_are_the_same_in_every_stage(trained: Path) -> None:
    train = load_split(trained / "data" / "processed", "train")
    known = np.flatnonzero(train.labels != UNLABELLED)
    assert np.bincount(train.labels[known]).tolist() == [10] * 10

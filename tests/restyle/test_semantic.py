"""The semantic term (`restyle.semantic`): a frozen classifier's cross-entropy on the outputs
against their content's class. Off, the step is the default's; on, it trains the restyler
toward outputs the classifier reads as their content's class; through the train stage its
classifier is trained with a seed of its own (not the evaluator) and where the two domains
share no classes the stage refuses it in one line before writing."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pytest
import torch
from torch import nn

from ganops.config import RestyleConfig
from ganops.data.dataset import load_split
from ganops.metrics.evaluator import load_evaluator
from ganops.params import load_params
from ganops.restyle.domains import load_restyle_split
from ganops.restyle.loop import build_restyler, restyle_step, restyler_spec
from ganops.restyle.training import semantic_reader
from tests.helpers import (
    STAGE_ARGS,
    load_script,
    load_stage,
    private_copy,
    run_stages_in,
    train_record,
    write_params,
)
from tests.restyle.test_restyle_domains import FOLDER_RUN, user_folder
from tests.restyle.test_restyle_stages import TINY_RESTYLE, digest
from tests.resume import MODEL, killed_then_resumed

CLASSES = 3


def _batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    rng = torch.Generator().manual_seed(3)
    images = torch.rand(6, 1, 28, 28, generator=rng) * 2 - 1
    return images, torch.arange(6) % CLASSES, images.roll(1, 0), torch.randn(2, 6, 4, generator=rng)


def _reader() -> nn.Module:
    """A fixed classifier of 28 px images into `CLASSES` classes, frozen."""
    torch.manual_seed(11)
    return nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, CLASSES)).requires_grad_(False)


def _weights(state: Any) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in state.restyler.parameters()])


def test_off_the_step_is_the_defaults_and_on_it_changes_the_weights() -> None:
    batch, reader = _batch(), _reader()
    weights, losses = {}, {}
    for name, weight, given in (("plain", 0.0, None), ("on", 1.0, reader)):
        cfg = RestyleConfig(width=8, style_dim=4, blocks=1, semantic=weight)
        state = build_restyler(cfg, restyler_spec(cfg, 1, 28, CLASSES), torch.device("cpu"))
        losses[name] = restyle_step(state, cfg, batch, diversity=0.0, reader=given)
        weights[name] = _weights(state)
    assert losses["plain"]["loss_semantic"] == 0.0
    assert losses["on"]["loss_semantic"] > 0.5  # a random reader: about ln 3 = 1.1
    assert not torch.equal(weights["plain"], weights["on"])
    assert losses["on"]["loss_g"] > losses["plain"]["loss_g"]  # the term is in G's loss


def test_on_it_teaches_the_restyler_to_draw_what_the_reader_reads_as_the_content() -> None:
    """Twenty steps at a high weight lower the reader's cross-entropy on the outputs; the
    same twenty without the term do not lower it as far."""
    batch, reader = _batch(), _reader()
    last = {}
    for weight in (0.0, 10.0):
        cfg = RestyleConfig(width=8, style_dim=4, blocks=1, semantic=weight, lr=0.001)
        state = build_restyler(cfg, restyler_spec(cfg, 1, 28, CLASSES), torch.device("cpu"))
        first = restyle_step(state, cfg, batch, diversity=0.0, reader=reader)["loss_semantic"]
        for _ in range(20):
            ce = restyle_step(state, cfg, batch, diversity=0.0, reader=reader)["loss_semantic"]
        last[weight] = ce
        if weight > 0:
            assert ce < 0.5 * first
    assert last[10.0] < 0.5 * last[0.0]


@pytest.fixture(scope="module")
def semantic_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny restyle run through train and sample with the term on."""
    base = tmp_path_factory.mktemp("semantic")
    overrides = TINY_RESTYLE | {"restyle": TINY_RESTYLE["restyle"] | {"semantic": 1.0}}
    run_stages_in(base, ("fetch", "preprocess", "train_evaluator", "train", "sample"), overrides)
    return base


def test_the_train_stage_trains_its_own_classifier_and_logs_the_term(semantic_run: Path) -> None:
    metrics = json.loads((semantic_run / "data/train/metrics.json").read_text())
    assert 0.2 < metrics["reader_accuracy"] <= 1.0  # 10 classes: above chance
    mlflow.set_tracking_uri(f"sqlite:///{semantic_run / 'mlflow.db'}")
    run = mlflow.get_run(train_record(semantic_run / "data/train/run.json")["run_id"])
    assert run.data.metrics["eval/reader_accuracy"] == metrics["reader_accuracy"]
    with (semantic_run / "data/train/history.tsv").open() as rows:
        history = list(csv.DictReader(rows, delimiter="\t"))
    assert all(float(row["loss_semantic"]) > 0 for row in history)
    # the classifier is not the evaluator that scores the run: another seed, other weights
    evaluator = load_evaluator(semantic_run / "data/models/evaluator.pt").network
    params = load_params(semantic_run / "params.yaml")
    train, test = (load_restyle_split(params, semantic_run / "data/processed", name)
                   for name in ("train", "test"))  # fmt: skip
    reader, accuracy = semantic_reader(params, train, test, torch.device("cpu"))
    assert reader is not None and accuracy == {"reader_accuracy": metrics["reader_accuracy"]}
    ours = torch.cat([p.flatten() for p in reader.parameters()])
    theirs = torch.cat([p.flatten() for p in evaluator.parameters()])
    assert ours.shape == theirs.shape and not torch.equal(ours, theirs)


def test_two_domains_without_shared_classes_refuse_it_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = user_folder(tmp_path / "mine")  # no class sub-folders
    base = tmp_path / "work"
    base.mkdir()
    overrides = FOLDER_RUN | {"restyle": FOLDER_RUN["restyle"] | {"folder": str(root)}}
    run_stages_in(base, ("fetch", "preprocess", "train_evaluator"), overrides)
    capsys.readouterr()
    monkeypatch.chdir(base)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{base / 'mlflow.db'}")
    on = overrides | {"restyle": overrides["restyle"] | {"semantic": 1.0}}
    write_params(Path("params.yaml"), on)
    assert load_stage("train").main(STAGE_ARGS["train"]) != 0
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "restyle.semantic: the two domains do not share" in error[0]
    assert not (base / "data/train").exists()


def test_the_nearest_image_reader_reads_the_samples_and_the_contents(semantic_run: Path) -> None:
    """bench/restyle_geometry.py --nearest: the second reader of content kept, the class of
    the nearest train image, on every restyled test image and on the contents themselves,
    the latter checked against a nearest neighbour found another way."""
    read = load_script("bench", "restyle_geometry").nearest_reader(semantic_run)
    train = load_split(semantic_run / "data/processed", "train")
    test = load_split(semantic_run / "data/processed", "test")
    assert read["images"] == len(test.labels)  # every test image is a content once
    bank = train.images.reshape(len(train.images), -1).astype(np.float64)
    flat = test.images.reshape(len(test.images), -1).astype(np.float64)
    squared = (flat**2).sum(1)[:, None] - 2 * flat @ bank.T + (bank**2).sum(1)[None]
    expected = (train.labels[squared.argmin(1)] == test.labels).mean()
    assert read["content_as_it_is_nn"] == pytest.approx(expected, abs=1e-6)
    assert 0.5 < read["content_as_it_is_nn"] <= 1.0  # 500 train digits: far above chance
    assert 0.0 <= read["content_kept_nn"] <= 1.0


def test_a_sigkilled_run_with_the_term_resumes_to_the_same_bytes(
    semantic_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed with SIGKILL after a checkpoint and run again, the run with the term (its
    classifier trained anew at each start, from its own seed) ends in the uninterrupted
    run's bytes."""
    private_copy(semantic_run, tmp_path, monkeypatch)
    killed_at, _ = killed_then_resumed()
    assert 0 < killed_at < 40
    assert digest(MODEL) == digest(semantic_run / MODEL)

"""The restyle task through the seven stage scripts, in-process, on a real tiny run: what
each stage writes and records, exact resume after SIGKILL, and one-line errors before any
write."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pytest
import torch
from PIL import Image

from ganops.classifier_arms import Labelled, train_arm
from ganops.data.dataset import load_split
from ganops.metrics.evaluator import accuracy, extract, load_evaluator
from ganops.params import load_params
from ganops.restyle.domains import RestyleSplit, load_restyle_split
from ganops.restyle.downstream import ARMS, GAINS, unseen_writers
from ganops.restyle.outputs import load_restyled
from ganops.restyle.scoring import scored_ways
from ganops.translation.baselines import mnist_geometry
from tests.helpers import (
    STAGE_ARGS,
    STAGE_NAMES,
    load_stage,
    private_copy,
    run_stages_in,
    train_record,
    write_params,
)
from tests.resume import MODEL, killed_then_resumed, logged_steps

# 500 training images in batches of 25: the 20 steps an epoch that 4,000 in batches of 200
# gave, at an eighth of the work a step; the evaluator, on those 500, at 8 epochs (32 steps)
# reaches about 0.74 test accuracy. 100 pairs measured by evaluate, not 500: the per-image
# shape measurements were most of that stage.
TINY_RESTYLE: dict[str, Any] = {
    "task": "restyle",
    "restyle": {"epochs": 2, "batch_size": 25, "width": 4, "style_dim": 2, "blocks": 1},
    "run": {"checkpoint_every": 5},
    "data": {"train_per_class": 50},
    "evaluator": {"epochs": 8},
    "eval": {"style_pairs": 100},
    # the four arms, 2 seeds of 2 steps (what they learn is not asked, only that each ran and
    # is reported); 2 digits of each class hand-made (36 ms a digit) and restyled
    "downstream": {"seeds": 2, "steps": 2, "transformed_per_class": 2},
}


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def restyle_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace where the seven stages ran the restyle task (tiny)."""
    base = tmp_path_factory.mktemp("restyle")
    run_stages_in(base, STAGE_NAMES, TINY_RESTYLE)
    return base


def test_sample_pairs_every_test_image_with_a_style_of_another_class(restyle_run: Path) -> None:
    arrays = load_restyled(restyle_run / "data/samples")
    test_labels = np.load(restyle_run / "data/processed/test_labels.npy")
    outputs, labels = arrays["samples.npy"], arrays["labels.npy"]
    assert outputs.dtype == np.uint8 and outputs.shape == (len(test_labels), 1, 28, 28)
    assert np.array_equal(arrays["content_index.npy"], np.arange(len(test_labels)))
    assert np.array_equal(labels, test_labels[arrays["content_index.npy"]])
    assert np.array_equal(arrays["style_labels.npy"], test_labels[arrays["style_index.npy"]])
    assert (arrays["style_labels.npy"] != labels).all()
    # and 50 contents, each in 10 distinct styles of other classes, for the spread over styles
    spread, contents = arrays["spread_samples.npy"], arrays["spread_content_index.npy"]
    styles = arrays["spread_style_index.npy"]
    assert spread.shape == (50, 10, 1, 28, 28) and styles.shape == (50, 10)
    assert all(len(set(row.tolist())) == 10 for row in styles)
    assert (test_labels[styles] != test_labels[contents][:, None]).all()
    grid = Image.open(restyle_run / "data/samples/grid.png")
    assert grid.size == (2 + 11 * 86, 2 + 11 * 86)  # styles on top, contents on the left


def test_evaluate_scores_content_kept_and_realism(restyle_run: Path) -> None:
    metrics = json.loads((restyle_run / "data/eval/metrics.json").read_text())["restyle"]
    assert {"content_kept", "fid", "kid_mean", "precision", "recall", "nn_distance_ratio"} <= set(
        metrics
    )
    assert 0.0 <= metrics["content_kept"] <= 1.0 and metrics["fid"] > 0
    table = (restyle_run / "data/eval/plots/scores.tsv").read_text().splitlines()
    assert table[0].startswith("method\t") and table[1].startswith("restyle\t")
    # beside it, the four ways that need no GAN, scored alike on the same pairs
    ways = json.loads((restyle_run / "data/eval/metrics.json").read_text())
    names = ["restyle", "content", "style", "hand_made", "retrieval"]
    assert set(ways) == set(names) and [row.split("\t")[0] for row in table[1:]] == names
    for measurement in ("slant", "thickness", "width", "height"):  # exact by construction
        assert ways["content"][f"content_r_{measurement}"] == pytest.approx(1.0)
        assert ways["style"][f"style_r_{measurement}"] == pytest.approx(1.0)
    assert ways["hand_made"]["style_r_slant"] > 0.8  # it sets the very slant it is scored on
    assert ways["style"]["content_kept"] < 0.3 < ways["retrieval"]["content_kept"]
    tests = len(np.load(restyle_run / "data/processed/test_labels.npy"))
    pairs = TINY_RESTYLE["eval"]["style_pairs"]
    assert ways["restyle"]["pairs"] == ways["retrieval"]["pairs"] == min(pairs, tests)
    # style retrieval and the spread over styles, for every way: the style image as it is is
    # retrieval's ceiling, the content as it is does not spread; 100 pairs' worth of spread
    # outputs is 10 contents in 10 styles
    for name, scores in ways.items():
        assert scores["style_retrieval"] is not None and 0.0 <= scores["style_retrieval"] <= 1.0
        assert (scores["spread_contents"], scores["spread_styles"]) == (10, 10), name
        assert scores["style_spread_real"] == ways["restyle"]["style_spread_real"] > 0
        assert scores["style_spread_min"] <= scores["style_spread"]
    assert ways["style"]["style_retrieval"] > 0.99  # 1 but for pairs that share a style image
    assert ways["content"]["style_retrieval"] < 0.6  # the content knows nothing of its style
    # within one class of content the class cannot help or hurt: about chance for the content
    assert ways["style"]["style_retrieval_in_class"] > 0.99
    assert 0.3 < ways["content"]["style_retrieval_in_class"] < 0.7
    assert "style_retrieval_in_class" in table[0].split("\t")
    assert ways["content"]["style_spread"] == ways["content"]["style_spread_ratio"] == 0.0
    assert ways["style"]["style_spread_ratio"] > 1  # ten styles of other classes, not one's
    assert ways["retrieval"]["style_spread"] > 0 and ways["hand_made"]["style_spread"] > 0
    assert "style_retrieval" in table[0].split("\t") and "style_spread_ratio" in table[0]


def test_the_scores_read_each_output_beside_its_own_style(restyle_run: Path) -> None:
    """The evaluate stage's scoring on the run's own split and evaluator, with outputs whose
    answer is known: each pair's style image as its output finds its style every time, one
    content's outputs all alike do not spread, and the style images as the spread outputs
    spread as much as the style way does."""
    params = load_params(restyle_run / "params.yaml")
    processed = restyle_run / "data/processed"
    test = load_restyle_split(params, processed, "test")
    test = RestyleSplit(test.content, test.style, by_class=True, digits=False)  # no Morpho
    arrays = load_restyled(restyle_run / "data/samples")
    evaluator = load_evaluator(restyle_run / "data/models/evaluator.pt")
    cfg = params.eval
    cpu = torch.device("cpu")
    train = load_split(processed, "train")
    contents = test.content.images[arrays["spread_content_index.npy"]]  # (S, C, H, W)
    known = arrays | {
        "samples.npy": test.style.images[arrays["style_index.npy"]],
        "spread_samples.npy": np.repeat(contents[:, None], 10, axis=1),  # (S, K, C, H, W)
    }
    ways = scored_ways(known, test, train, evaluator, cfg, cpu)
    assert ways["restyle"]["style_retrieval"] == ways["style"]["style_retrieval"] > 0.99
    assert ways["restyle"]["style_spread"] == ways["content"]["style_spread"] == 0.0
    assert ways["hand_made"]["style_retrieval"] is None  # not defined: not digits
    known["spread_samples.npy"] = test.style.images[arrays["spread_style_index.npy"]]
    ways = scored_ways(known, test, train, evaluator, cfg, cpu)
    assert ways["restyle"]["style_spread"] == pytest.approx(ways["style"]["style_spread"])
    assert ways["restyle"]["style_spread"] > 0


SETS = ("test", "uci", "uci_mnist_geometry")  # the test split; UCI as preprocess sizes it, and
# in MNIST's geometry


def test_downstream_tests_every_arm_on_the_test_split_and_on_uci(restyle_run: Path) -> None:
    metrics = json.loads((restyle_run / "data/downstream/metrics.json").read_text())
    tests = len(np.load(restyle_run / "data/processed/test_labels.npy"))
    assert (metrics["test_images"], metrics["uci_images"]) == (tests, 1797)  # all of UCI
    assert metrics["uci_mnist_geometry_images"] == 1797
    assert (metrics["train_images"], metrics["transformed_images"], metrics["steps"]) == (
        500, 20, 2,
    )  # fmt: skip
    per_seed = metrics["per_seed"]
    assert list(per_seed) == list(SETS)
    for name in SETS:
        for arm in ARMS:
            assert list(per_seed[name][arm]) == ["0", "1"]  # every arm on the same seeds
            values = list(per_seed[name][arm].values())
            assert all(0.0 <= value <= 1.0 for value in values)
            assert metrics[name][arm]["accuracy_mean"] == pytest.approx(np.mean(values), abs=1e-6)
        for gain, arm, baseline in GAINS:  # paired by seed, with a standard error
            differences = [per_seed[name][arm][s] - per_seed[name][baseline][s] for s in "01"]
            assert metrics[name][gain]["mean"] == pytest.approx(np.mean(differences), abs=1e-5)
            assert metrics[name][gain]["stderr"] > 0
    # a number of the table is its classifier's: seed 1 of `real` trained again, on UCI
    params = load_params(restyle_run / "params.yaml")
    evaluator = load_evaluator(restyle_run / "data/models/evaluator.pt")
    train = load_split(restyle_run / "data/processed", "train")
    real = Labelled(train.images, train.labels)
    cpu = torch.device("cpu")
    again = train_arm(
        "real", params.evaluator, evaluator.network.spec, real, real, params.downstream, 1, cpu
    )
    uci = unseen_writers(params, 28)
    _, logits = extract(again, uci.images, 500, cpu)
    assert accuracy(logits, uci.labels) == pytest.approx(per_seed["uci"]["real"]["1"], abs=1e-6)
    _, logits = extract(again, mnist_geometry(uci.images), 500, cpu)
    framed = per_seed["uci_mnist_geometry"]["real"]["1"]
    assert accuracy(logits, uci.labels) == pytest.approx(framed, abs=1e-6)
    rows = (restyle_run / "data/downstream/plots/accuracy.tsv").read_text().splitlines()
    assert [row.split("\t")[0] for row in rows[1:]] == [
        f"{arm} ({name})" for name in SETS for arm in ARMS
    ]
    mlflow.set_tracking_uri(f"sqlite:///{restyle_run / 'mlflow.db'}")
    run = mlflow.get_run(train_record(restyle_run / "data/train/run.json")["run_id"])
    assert "downstream/uci.gain_restyled_vs_handmade.mean" in run.data.metrics


def test_the_run_logs_losses_quick_scores_and_a_grid_per_epoch(restyle_run: Path) -> None:
    record = train_record(restyle_run / "data/train/run.json")
    assert record["steps"] == 2 * 20 and record["model_uri"].startswith("models:/")
    mlflow.set_tracking_uri(f"sqlite:///{restyle_run / 'mlflow.db'}")
    run = mlflow.get_run(record["run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.params["restyle.width"] == "4"
    for key in ("loss_d", "loss_g", "loss_style", "loss_content", "quick_fid",
                "quick_content_kept", "restyle.content_kept"):  # fmt: skip
        assert any(name.endswith(key) for name in run.data.metrics), key
    artifacts = mlflow.MlflowClient().list_artifacts(record["run_id"])
    assert {"samples", "eval"} <= {a.path for a in artifacts}
    assert (
        mlflow.MlflowClient().get_model_version("ganops-restyler", "1").run_id == record["run_id"]
    )
    fid_rows = (restyle_run / "data/train/fid.tsv").read_text().splitlines()
    assert len(fid_rows) == 1 + 2  # a quick score at each epoch's end


def test_a_sigkilled_run_resumes_to_the_same_bytes(
    restyle_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The train stage killed with SIGKILL after a checkpoint, then run again: the
    restyler's bytes are those of the uninterrupted run, and every step is logged once."""
    private_copy(restyle_run, tmp_path, monkeypatch)
    write_params(Path("params.yaml"), TINY_RESTYLE)
    killed_at, _ = killed_then_resumed()
    assert 0 < killed_at < 40
    assert digest(MODEL) == digest(restyle_run / MODEL)
    steps = logged_steps()
    assert steps == sorted(set(steps)) and steps[-1] == 40  # every step once


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"data": {"labelled_per_class": 10}}, "data.labelled_per_class"),
        ({"restyle": {"width": 2}}, "restyle.width"),
        ({"restyle": {"colour": 1}}, "restyle.colour"),
    ],
)
def test_bad_restyle_params_are_one_line_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    overrides: dict[str, Any], named: str,
) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    write_params(Path("params.yaml"), TINY_RESTYLE | overrides)
    assert load_stage("train").main(STAGE_ARGS["train"]) != 0
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and named in error[0]
    assert not Path("data/models").exists()


def test_promote_says_it_does_not_judge_a_restyler(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from ganops.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    write_params(Path("params.yaml"), TINY_RESTYLE)
    assert main(["promote", "--baseline", "HEAD"]) != 0
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "promote judges one fid" in error[0]

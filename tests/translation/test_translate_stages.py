"""The translate task through the seven stage scripts, in-process, on real tiny runs: what
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
from PIL import Image

from ganops.data.dataset import load_split
from ganops.translation import loop
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

# 120 train images a class (of 400 in mnist-5k; UCI's smallest class has 126): a translator's
# epoch of 6 steps instead of 20, which the stages, resume and torchrun tests each pay; the
# evaluator takes about as many steps as before in 6 epochs (at 2 it read 0.15 of the test
# split)
TINY_TRANSLATE: dict[str, Any] = {
    "task": "translate",
    "data": {"train_per_class": 120},
    "evaluator": {"epochs": 6},
    "translate": {"epochs": 1, "batch_size": 200, "width": 8, "blocks": 1},
    "run": {"checkpoint_every": 2},  # a SIGKILL after the first leaves 4 steps to resume
    "downstream": {"seeds": 2, "steps": 20},
}
UNPAIRED = TINY_TRANSLATE | {
    "data": TINY_TRANSLATE["data"] | {"source": "uci-digits", "test_size": 500},
    "translate": TINY_TRANSLATE["translate"] | {"source": "mnist-5k"},
}


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def paired_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace where the seven stages ran the default paired task (tiny)."""
    base = tmp_path_factory.mktemp("paired")
    run_stages_in(base, STAGE_NAMES, TINY_TRANSLATE)
    return base


@pytest.fixture(scope="module")
def unpaired_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace where the seven stages ran MNIST -> UCI digits, unpaired (tiny)."""
    base = tmp_path_factory.mktemp("unpaired")
    run_stages_in(base, STAGE_NAMES, UNPAIRED)
    return base


def test_paired_task_writes_both_domains_aligned(paired_run: Path) -> None:
    processed = paired_run / "data/processed"
    a = json.loads((processed / "A/manifest.json").read_text())
    b = json.loads((processed / "manifest.json").read_text())
    assert a["source"] == "mnist-5k:uci" and b["source"] == "mnist-5k"
    assert a["splits"] == b["splits"]  # the same images, class by class
    degraded = np.load(processed / "A/test_images.npy")
    clean = np.load(processed / "test_images.npy")
    assert degraded.shape == clean.shape
    assert not np.array_equal(degraded, clean)
    # 8x8 blocks at 17 levels, resized back up: far less detail than the original
    assert len(np.unique(degraded[:, :, ::4, ::4])) < len(np.unique(clean))


def test_paired_task_scores_translation_beside_baselines(paired_run: Path) -> None:
    metrics = json.loads((paired_run / "data/eval/metrics.json").read_text())
    assert set(metrics) == {"translation", "identity", "bicubic"}
    for scores in metrics.values():
        assert {"fid", "kid_mean", "precision", "recall", "label_preservation"} <= set(scores)
        assert {"l1", "psnr", "ssim"} <= set(scores)
    table = (paired_run / "data/eval/plots/scores.tsv").read_text().splitlines()
    assert [row.split("\t")[0] for row in table] == ["method", "translation", "identity", "bicubic"]


def test_paired_task_records_its_run(paired_run: Path) -> None:
    record = train_record(paired_run / "data/train/run.json")
    mlflow.set_tracking_uri(f"sqlite:///{paired_run / 'mlflow.db'}")
    run = mlflow.get_run(record["run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.params["task"] == "translate"
    assert run.data.params["translate.l1"] == "100.0"
    logged = set(run.data.metrics)
    losses = {f"train/{name}" for name in loop.PAIRED_METRICS}
    assert losses | {"train/quick_fid", "train/quick_label_preservation"} <= logged
    scored = {f"eval/{method}.{score}" for method in ("translation", "identity", "bicubic")
              for score in ("fid", "label_preservation", "psnr", "ssim")}  # fmt: skip
    assert scored | {"downstream/gain_translated_vs_source.mean"} <= logged
    history = (paired_run / "data/train/history.tsv").read_text().splitlines()
    assert history[0].split("\t") == ["step", *loop.PAIRED_METRICS]
    grid = Image.open(paired_run / "data/samples/grid.png")
    assert grid.width > grid.height / 2  # rows of input | translation | target, two a row


def test_sample_translates_both_splits_of_a(paired_run: Path) -> None:
    samples = paired_run / "data/samples"
    test = np.load(samples / "samples.npy")
    train = np.load(samples / "train_samples.npy")
    assert test.shape == (1000, 1, 28, 28) and test.dtype == np.uint8
    assert len(train) == len(np.load(paired_run / "data/processed/A/train_labels.npy"))
    labels = np.load(samples / "labels.npy")
    assert np.array_equal(labels, np.load(paired_run / "data/processed/A/test_labels.npy"))


def test_paired_downstream_has_its_arms(paired_run: Path) -> None:
    summary = json.loads((paired_run / "data/downstream/metrics.json").read_text())
    assert {"source", "source_affine", "translated"} <= set(summary)
    assert "handmade" not in summary  # the paired super-resolution has none: bicubic is a score
    assert summary["gain_translated_vs_source"]["stderr"] is not None  # two paired seeds


def test_unpaired_task_has_its_own_domain_a(unpaired_run: Path) -> None:
    a = json.loads((unpaired_run / "data/processed/A/manifest.json").read_text())
    b = json.loads((unpaired_run / "data/processed/manifest.json").read_text())
    assert (a["source"], b["source"]) == ("mnist-5k", "uci-digits")
    assert "paired_with" not in a
    history = (unpaired_run / "data/train/history.tsv").read_text().splitlines()
    assert history[0].split("\t") == ["step", *loop.UNPAIRED_METRICS]


def test_unpaired_task_scores_and_arms_include_the_handmade_transform(unpaired_run: Path) -> None:
    metrics = json.loads((unpaired_run / "data/eval/metrics.json").read_text())
    assert set(metrics) == {"translation", "identity", "handmade"}
    assert "psnr" not in metrics["translation"]  # no ground truth without pairs
    summary = json.loads((unpaired_run / "data/downstream/metrics.json").read_text())
    assert {"source", "source_affine", "translated", "handmade"} <= set(summary)
    assert "gain_translated_vs_handmade" in summary


def test_the_alignment_arms_run_beside_source_only(
    unpaired_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """downstream.alignment: self-training, DANN and FixMatch, from A and from A translated
    (FixMatch from A hand-made too, where the task has that arm), on B's unlabelled train
    images, reported beside source-only with the paired t-test."""
    private_copy(unpaired_run, tmp_path, monkeypatch)
    write_params(Path("params.yaml"), UNPAIRED | {"downstream": {"seeds": 2, "steps": 4,
                                                                  "alignment": True}})  # fmt: skip
    assert load_stage("downstream").main(STAGE_ARGS["downstream"]) == 0
    summary = json.loads(Path("data/downstream/metrics.json").read_text())
    arms = {"source_dann", "translated_dann", "self_training", "translated_self_training",
            "fixmatch", "translated_fixmatch"} | ({"handmade_fixmatch"} & set(summary))  # fmt: skip
    assert arms <= set(summary) and ("handmade" in summary) == ("handmade_fixmatch" in summary)
    for arm in arms:
        assert 0.0 <= summary[arm]["accuracy_mean"] <= 1.0
    b_train = len(load_split(Path("data/processed"), "train").labels)
    for arm in ("self_training", "translated_self_training"):
        assert 0 <= summary[f"{arm}_pseudo_labels"] <= b_train
    gains = (
        "gain_self_training_vs_source",
        "gain_source_dann_vs_source",
        "gain_translated_dann_vs_translated",
        "gain_translated_dann_vs_source_dann",
    )
    gains += (
        "gain_fixmatch_vs_self_training",
        "gain_fixmatch_vs_source_dann",
        "gain_translated_fixmatch_vs_translated_self_training",
        "gain_translated_fixmatch_vs_translated_dann",
    )
    for name in gains:
        assert set(summary[name]) == {"mean", "stderr", "band", "significant"}
        assert summary[name]["stderr"] >= 1 / 500 / np.sqrt(2) - 1e-6  # floored at one image
    # every classifier's accuracy by seed: the pairs each gain is the mean difference of
    measured = {k for k, v in summary.items() if isinstance(v, dict) and "accuracy_mean" in v}
    assert set(summary["per_seed"]) == measured
    assert all(list(seeds) == ["0", "1"] for seeds in summary["per_seed"].values())
    ours, theirs = (summary["per_seed"][arm] for arm in ("translated_fixmatch", "translated_dann"))
    differences = [ours[seed] - theirs[seed] for seed in ours]
    assert summary["gain_translated_fixmatch_vs_translated_dann"]["mean"] == pytest.approx(
        float(np.mean(differences)), abs=2e-6
    )
    plot = Path("data/downstream/plots/accuracy.tsv").read_text()
    assert all(f"\n{arm}\t" in plot for arm in arms)


def test_the_semantic_term_can_read_translations_through_the_handmade_transform(
    unpaired_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`translate.semantic_classifier: handmade_fixmatch` on MNIST -> UCI: the train stage
    trains both classifiers of A (the second through the hand-made transform, adapted to B's
    unlabelled train images; `handmade` trains it without them, the same code otherwise:
    tests/translation/test_semantic.py), records both accuracies, and the term is in the
    generator's loss; so is the term the other way (`semantic_b`, which counts only B's images
    the reader is sure of: tests/translation/test_semantic_b.py), and GcGAN's geometry term
    beside them (tests/translation/test_geometry.py)."""
    mlflow.set_tracking_uri(private_copy(unpaired_run, tmp_path, monkeypatch))
    reader = {"semantic": 1.0, "semantic_classifier": "handmade_fixmatch", "semantic_b": 1.0}
    reader |= {"geometry": 2.0}
    write_params(
        Path("params.yaml"),
        UNPAIRED
        | {"translate": UNPAIRED["translate"] | reader, "evaluator": {"epochs": None, "steps": 8}},
    )
    assert load_stage("train").main(STAGE_ARGS["train"]) == 0
    metrics = json.loads(Path("data/train/metrics.json").read_text())
    logged = mlflow.get_run(train_record()["run_id"]).data.metrics
    for name in ("classifier_a_accuracy", "classifier_a_handmade_fixmatch_accuracy"):
        assert 0.0 <= metrics[name] <= 1.0 and logged[f"eval/{name}"] == metrics[name]
    assert metrics["loss_semantic"] > 0 and metrics["loss_semantic_b"] >= 0
    history = Path("data/train/history.tsv").read_text().splitlines()
    column = history[0].split("\t").index("loss_semantic")
    assert all(float(row.split("\t")[column]) > 0 for row in history[1:])
    column = history[0].split("\t").index("loss_semantic_b")
    assert all(np.isfinite(float(row.split("\t")[column])) for row in history[1:])
    column = history[0].split("\t").index("loss_geometry")
    assert all(float(row.split("\t")[column]) > 0 for row in history[1:])


def test_a_sigkilled_run_resumes_to_the_same_bytes(
    unpaired_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The train stage killed with SIGKILL after a checkpoint, then run again: the
    translator's bytes are those of the uninterrupted run, and every step is logged once."""
    private_copy(unpaired_run, tmp_path, monkeypatch)
    write_params(Path("params.yaml"), UNPAIRED)
    killed_then_resumed()
    assert digest(MODEL) == digest(unpaired_run / MODEL)
    steps = logged_steps()
    assert steps == sorted(set(steps))  # every step once


def test_translation_on_a_generation_workspace_names_the_fix(
    paired_run: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    private_copy(paired_run, tmp_path, monkeypatch)
    write_params(Path("params.yaml"), TINY_TRANSLATE)
    before = digest(Path("data/models/model.pt"))
    for name in ("A/manifest.json",):
        (Path("data/processed") / name).unlink()
    assert load_stage("train").main(STAGE_ARGS["train"]) == 1
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("train: error: ") and "rerun the preprocess stage" in error
    assert digest(Path("data/models/model.pt")) == before  # nothing overwritten


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"translate": {"source": "mnist-5k"}}, "same source as domain B"),
        ({"translate": {"source": "nope"}}, "unknown data source 'nope'"),
        (
            {"run": {"nproc": 3}},
            "translate.batch_size: 200 does not split evenly between run.nproc: 3 processes",
        ),
        ({"translate": {"generator": "vit"}}, "translate.generator"),
        ({"translate": {"semantic_b": 1.0}}, "translate.semantic_b is for unpaired domains"),
        (
            {"translate": {"source": "mnist-5k", "semantic_b": 1.0}},
            "translate.semantic_b labels B's images by a reader of B",
        ),
        (
            {
                "translate": {"source": "mnist-5k", "method": "cut", "semantic_b": 1.0}
                | {"semantic_classifier": "handmade"}
            },
            "translate.semantic_b needs translate.method: cyclegan",
        ),
        ({"translate": {"source": "mnist-5k", "semantic_b": -1}}, "translate.semantic_b"),
        ({"translate": {"geometry": 2.0}}, "translate.geometry is for unpaired domains"),
        ({"translate": {"source": "mnist-5k", "geometry": -1}}, "translate.geometry"),
    ],
)
def test_bad_translate_params_are_one_line_errors(
    overrides: dict[str, Any], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    write_params(Path("params.yaml"), TINY_TRANSLATE | overrides)
    assert load_stage("fetch").main(STAGE_ARGS["fetch"]) == 1
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and error[0].startswith("fetch: error: ") and message in error[0]
    assert not Path("data").exists()  # nothing written


def test_domains_of_different_channel_counts_stop_preprocess(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Colour images as B, grey MNIST digits as A: one line, and no processed data."""
    folder = tmp_path / "colour"
    rng = np.random.default_rng(0)
    for cls in ("a", "b"):
        (folder / cls).mkdir(parents=True)
        for index in range(6):
            pixels = rng.integers(0, 256, (28, 28, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / cls / f"{index}.png")
    monkeypatch.chdir(tmp_path)
    overrides = TINY_TRANSLATE | {
        "data": {"source": "folder", "folder": str(folder), "test_size": 4},
        "eval": {"kid_subset_size": 4},
        "translate": TINY_TRANSLATE["translate"] | {"source": "mnist-5k"},
    }
    write_params(Path("params.yaml"), overrides)
    assert load_stage("fetch").main(STAGE_ARGS["fetch"]) == 0
    assert load_stage("preprocess").main(STAGE_ARGS["preprocess"]) == 1
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert "domain A (mnist-5k) has 1 channel(s) and domain B (folder) 3" in error
    assert not Path("data/processed").exists()

"""The text task through the seven stage scripts, in-process, on a real tiny run: the
captions preprocess makes, the run's grid of prompts, the samples and the scores beside the
baselines, `ganops sample --text` and its one-line errors, exact resume after SIGKILL."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pytest
from PIL import Image

from ganops.cli import main as cli_main
from ganops.text.corpus import load_corpus
from tests.helpers import (
    ROOT,
    STAGE_ARGS,
    STAGE_NAMES,
    load_script,
    load_stage,
    merged,
    private_copy,
    run_stages_in,
    train_record,
    write_params,
)
from tests.resume import MODEL, killed_then_resumed, logged_steps

TINY_TEXT: dict[str, Any] = {
    "task": "text",
    "data": {"train_per_class": 30, "test_size": 200},
    "evaluator": {"min_accuracy": 0.1},
    "text": {"epochs": 2, "batch_size": 50, "width": 4, "noise_dim": 4, "embed_dim": 8,
             "matching_epochs": 1},
    "run": {"checkpoint_every": 3},
}  # fmt: skip
STEPS = 2 * 6  # 300 training digits in batches of 50, two epochs


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def text_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace where the seven stages ran the text task (tiny)."""
    base = tmp_path_factory.mktemp("text")
    run_stages_in(base, STAGE_NAMES, TINY_TEXT)
    return base


def test_preprocess_captions_every_digit_from_its_label_and_shape(text_run: Path) -> None:
    corpus = load_corpus(text_run / "data/processed")
    assert len(corpus.train.captions) == 300 and len(corpus.test.captions) == 200
    assert [c.digit for c in corpus.test.captions] == corpus.test.split.labels.tolist()
    # the bins each caption states are those of the digit's own measurements
    named = corpus.bins.names(corpus.test.measurements)
    for caption, bins in zip(corpus.test.captions, named, strict=True):
        assert {"thickness", "slant"} <= set(caption.states)
        assert all(bins[a] == b for a, b in caption.states.items())
    assert corpus.bins.fitted_on == 300  # the training split's quantiles
    assert set(corpus.vocabulary.words) >= {"thick", "seven", "leaning", "right"}


def test_sample_draws_one_image_per_test_caption_and_the_prompt_grid(text_run: Path) -> None:
    samples = np.load(text_run / "data/samples/samples.npy")
    labels = np.load(text_run / "data/samples/labels.npy")
    test_labels = np.load(text_run / "data/processed/test_labels.npy")
    assert samples.dtype == np.uint8 and samples.shape == (200, 1, 28, 28)
    prompted = np.load(text_run / "data/samples/prompt_samples.npy")
    assert prompted.shape == (100 * 10, 1, 28, 28)  # ten of each of the first 100 captions
    assert np.array_equal(labels, test_labels)
    grid = Image.open(text_run / "data/samples/grid.png")
    assert grid.mode == "RGB" and grid.size[1] == 2 + 8 * 86  # one row per fixed prompt
    left = np.asarray(grid)[:, :40]  # the prompts are written to the left of the rows
    assert (left < 128).any() and (left > 128).any()


def test_evaluate_scores_the_gan_beside_the_ways_that_need_no_gan(text_run: Path) -> None:
    ways = json.loads((text_run / "data/eval/metrics.json").read_text())
    names = ["text_gan", "retrieval", "class_image", "real_test"]
    assert set(ways) == set(names)
    keys = {"digit_accuracy", "thickness_accuracy", "slant_accuracy", "width_accuracy",
            "attribute_accuracy", "r_precision", "fid", "prompt_diversity"}  # fmt: skip
    for scores in ways.values():
        assert keys <= set(scores)
        assert all(0.0 <= scores[k] <= 1.0 for k in keys - {"fid", "prompt_diversity"})
    assert ways["real_test"]["prompt_diversity"] is None  # one image a caption
    assert all(ways[w]["prompt_diversity"] > 0 for w in ("text_gan", "retrieval", "class_image"))
    real = ways["real_test"]  # a caption was made from its own image: every bin right
    assert real["thickness_accuracy"] == real["slant_accuracy"] == real["width_accuracy"] == 1.0
    # retrieval picks a training digit of the caption's bins; the class image ignores them
    assert ways["retrieval"]["attribute_accuracy"] > 0.9
    assert ways["class_image"]["attribute_accuracy"] < 0.7
    table = (text_run / "data/eval/plots/scores.tsv").read_text().splitlines()
    assert table[0].startswith("method\t") and [row.split("\t")[0] for row in table[1:]] == names
    assert json.loads((text_run / "data/downstream/metrics.json").read_text()) == {}


def test_the_run_logs_losses_quick_scores_and_a_prompt_grid_per_epoch(text_run: Path) -> None:
    record = train_record(text_run / "data/train/run.json")
    assert record["steps"] == STEPS and record["model_uri"].startswith("models:/")
    mlflow.set_tracking_uri(f"sqlite:///{text_run / 'mlflow.db'}")
    run = mlflow.get_run(record["run_id"])
    assert run.info.status == "FINISHED" and run.data.params["text.width"] == "4"
    for key in ("loss_d", "loss_g", "d_mismatch", "quick_fid", "quick_digit_accuracy",
                "text_gan.r_precision"):  # fmt: skip
        assert any(name.endswith(key) for name in run.data.metrics), key
    client = mlflow.MlflowClient()
    assert {"samples", "eval"} <= {a.path for a in client.list_artifacts(record["run_id"])}
    # the model, logged and registered (tests/text/test_text_serve.py serves it)
    info = mlflow.models.get_model_info(record["model_uri"])
    assert info.run_id == record["run_id"] and info.metadata["ganops_text_spec"]["width"] == 4
    assert client.get_model_version("ganops-text", "1").run_id == record["run_id"]
    grids = [a.path for a in client.list_artifacts(record["run_id"], "images")]
    assert len([p for p in grids if p.endswith(".png")]) == 2  # one grid per epoch
    assert len((text_run / "data/train/fid.tsv").read_text().splitlines()) == 1 + 2


def test_sample_text_draws_a_row_per_prompt(text_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "prompts.png"
    model = str(text_run / "data/models/model.pt")
    prompts = ["a thick seven leaning to the right", "a thin upright one"]
    argv = ["sample", "--model", model, "-n", "3", "--out", str(out)]
    assert cli_main([*argv, "--text", prompts[0], "--text", prompts[1]]) == 0
    assert Image.open(out).size[1] == 2 + 2 * 86
    arrays = tmp_path / "prompts.npz"
    assert cli_main([*argv[:-1], str(arrays), "--text", prompts[0], "--text", prompts[1]]) == 0
    with np.load(arrays) as saved:
        assert saved["images"].shape == (6, 1, 28, 28)
        assert saved["prompt"].tolist() == [0, 0, 0, 1, 1, 1]
    again = tmp_path / "again.npy"
    for path in (again, tmp_path / "again2.npy"):
        assert cli_main([*argv[:-1], str(path), "--text", prompts[0]]) == 0
    assert np.array_equal(np.load(again), np.load(tmp_path / "again2.npy"))  # seeded


def test_sample_text_in_the_workspace_needs_no_model_or_out(
    text_run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`ganops sample --text "..."` as the issue writes it: the workspace's model, samples.png."""
    monkeypatch.chdir(text_run)
    assert cli_main(["sample", "-n", "2", "--text", "a thick seven leaning to the right"]) == 0
    assert Image.open(text_run / "samples.png").size[1] == 2 + 86


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("a thick purple seven", "'purple'"),
        ("", "empty"),
        ("   ,, !", "empty"),
        (" ".join(["seven"] * 40), "at most 32"),
    ],
)
def test_sample_text_refuses_unreadable_text_in_one_line(
    text_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, said: str
) -> None:
    out = tmp_path / "never.png"
    model = str(text_run / "data/models/model.pt")
    assert cli_main(["sample", "--model", model, "--out", str(out), "--text", text]) != 0
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and said in error[0]
    if said == "'purple'":
        assert "vocabulary" in error[0] and "model.pt" in error[0]
        assert "--unknown-words map" in error[0]
        mapped = ["sample", "--model", model, "--out", str(out), "--text", text]
        assert cli_main([*mapped, "--unknown-words", "map"]) == 0 and out.is_file()
        return
    assert not out.exists()


@pytest.mark.slow
def test_a_sigkilled_run_resumes_to_the_same_bytes(
    text_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The train stage killed with SIGKILL after a checkpoint, then run again: the model's
    bytes are those of the uninterrupted run, and every step is logged once."""
    private_copy(text_run, tmp_path, monkeypatch)
    write_params(Path("params.yaml"), TINY_TEXT)
    killed_at, logged = killed_then_resumed()
    assert 0 < killed_at < STEPS
    assert "training the sentence encoder" not in logged  # it came with the checkpoint
    assert digest(MODEL) == digest(text_run / MODEL)
    steps = logged_steps()
    assert steps == sorted(set(steps)) and steps[-1] == STEPS  # every step once


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"data": {"image_size": 36}}, "data.image_size"),
        ({"text": {"width": 2}}, "text.width"),
        ({"text": {"colour": 1}}, "text.colour"),
    ],
)
def test_bad_text_params_are_one_line_errors(
    text_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], overrides: dict[str, Any], named: str,
) -> None:  # fmt: skip
    private_copy(text_run, tmp_path, monkeypatch)
    Path("data/models/model.pt").unlink()
    if named == "data.image_size":  # processed at 36 px: 9 px after two halvings
        (tmp_path / "work/data/processed").rename(tmp_path / "work/data/processed28")
        write_params(Path("params.yaml"), merged(TINY_TEXT, overrides))
        assert load_stage("preprocess").main(STAGE_ARGS["preprocess"]) == 0
        capsys.readouterr()
    write_params(Path("params.yaml"), merged(TINY_TEXT, overrides))
    assert load_stage("train").main(STAGE_ARGS["train"]) != 0
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and named in error[0]
    assert not Path("data/models/model.pt").exists()


def test_the_default_generator_baseline_is_scored_beside_the_table(
    text_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """bench/text_baselines.py: the project's class-conditional generator, given each test
    caption's digit only, scored as evaluate scores the GAN."""
    bench = load_script("bench", "text_baselines")
    bench.main(
        ["--workspace", str(text_run), "--generator", str(ROOT / "data/models/generator.pt")]
    )
    rows = {
        line.split(" | ")[0].strip("| "): line
        for line in capsys.readouterr().out.splitlines()
        if line.startswith("| ")
    }
    assert {"text_gan", "retrieval", "class_image", "default_generator", "real_test"} <= set(rows)
    values = [float(v) for v in rows["default_generator"].strip("| ").split(" | ")[1:]]
    assert len(values) == 7 and all(0 <= v <= 1 for v in values[:-1]) and values[-1] > 0

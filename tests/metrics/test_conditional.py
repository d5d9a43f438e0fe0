"""Conditional scores: CAS on real digits, conditional accuracy through a stand-in generator,
and the sample and evaluate stages on a conditional generator."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pytest
import torch
from torch import nn

from ganops.artifacts import save_generator
from ganops.config import EvalConfig, EvaluatorConfig, SampleConfig
from ganops.data.dataset import Split
from ganops.errors import DataError
from ganops.metrics.conditional import Conditioning, cas_recipe, classification_accuracy_score
from ganops.metrics.directions import direction
from ganops.metrics.diversity import intra_class_diversity
from ganops.metrics.evaluation import as_metrics, evaluate
from ganops.metrics.evaluator import LoadedEvaluator
from ganops.metrics.features import check_sample_labels, evaluator_reference, feature_set
from ganops.metrics.probe import QuickProbe
from ganops.metrics.scores import fid
from ganops.models import GeneratorSpec, build_generator
from ganops.params import load_params
from ganops.sampling import generate, latent_batch, load_samples, write_samples
from ganops.tracking import open_run
from tests.helpers import load_stage, write_params

CPU = torch.device("cpu")
CHEAP = EvaluatorConfig(epochs=2)  # the evaluator's recipe, fewer passes
SCORES = EvalConfig(kid_subset_size=50, kid_subsets=10, nn_samples=8)
NEW_KEYS = {"conditional_accuracy", "cas", "cas_real"}


def test_cas_of_real_digits_is_near_the_evaluator(
    evaluator: LoadedEvaluator, train: Split, test: Split
) -> None:
    spec = evaluator.network.spec
    cas = classification_accuracy_score(
        train.images, train.labels, test.images, test.labels, spec, CHEAP, CPU
    )
    assert 0.85 < cas <= evaluator.test_accuracy + 0.02


def test_cas_of_shuffled_labels_is_near_chance(
    evaluator: LoadedEvaluator, train: Split, test: Split
) -> None:
    shuffled = np.random.default_rng(0).permutation(train.labels)
    spec = evaluator.network.spec
    cas = classification_accuracy_score(
        train.images, shuffled, test.images, test.labels, spec, CHEAP, CPU
    )
    assert cas < 0.3


def test_cas_recipe_is_the_evaluators_with_the_cas_epochs_and_seed() -> None:
    recipe = cas_recipe(EvaluatorConfig(lr=0.01, shift_px=1), EvalConfig(cas_epochs=4, cas_seed=9))
    assert (recipe.lr, recipe.shift_px, recipe.epochs, recipe.seed) == (0.01, 1, 4, 9)


def test_new_scores_are_higher_is_better() -> None:
    assert {direction(key) for key in NEW_KEYS} == {"higher"}


class RealDigits(nn.Module):
    """A stand-in conditional generator: for class k, a real training image of class
    `(k + offset) % 10`, picked by z. With offset 0 every image shows its class."""

    def __init__(self, train: Split, offset: int = 0) -> None:
        super().__init__()
        images = torch.from_numpy(train.images).float() / 127.5 - 1.0  # (N, C, H, W)
        labels = torch.from_numpy(train.labels)
        self.by_class = [images[labels == (k + offset) % 10] for k in range(10)]

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        picks = (z[:, 0].abs() * 1000).long()  # (B,)
        return torch.stack(
            [
                self.by_class[k][pick % len(self.by_class[k])]
                for k, pick in zip(labels.tolist(), picks.tolist(), strict=True)
            ]
        )


@pytest.mark.parametrize(("offset", "accurate"), [(0, True), (1, False)])
def test_conditional_accuracy_sees_whether_samples_show_their_class(
    evaluator: LoadedEvaluator,
    train: Split,
    test: Split,
    tmp_path: Path,
    offset: int,
    accurate: bool,
) -> None:
    spec = GeneratorSpec("dcgan", 8, 4, (1, 28, 28), num_classes=10)
    cfg = SampleConfig(num_samples=300, batch_size=100, grid_size=10)
    write_samples(RealDigits(train, offset), spec, cfg, tmp_path / "samples", CPU)
    samples, labels = load_samples(tmp_path / "samples")
    assert labels is not None
    conditioning = Conditioning(labels, test, EvaluatorConfig(epochs=1))
    result = evaluate(evaluator, samples, train, SCORES, CPU, conditioning)
    if accurate:
        assert result.scores["conditional_accuracy"] > 0.9
    else:  # each class drawn as the next one: real digits, every label wrong
        assert result.scores["conditional_accuracy"] < 0.1
        assert result.scores["classes_covered"] == 10  # what the unconditional scores miss
    assert 0 <= result.scores["cas"] <= 1 and 0 <= result.scores["cas_real"] <= 1


class OneWeakClass(RealDigits):
    """Real digits of every class but two: asked for an 8 it draws a 3, and asked for a 5
    always the same 5."""

    def __init__(self, train: Split) -> None:
        super().__init__(train)
        self.by_class[8] = self.by_class[3]
        self.by_class[5] = self.by_class[5][:1]


def test_the_per_class_scores_name_the_weakest_class(
    evaluator: LoadedEvaluator, train: Split, test: Split, tmp_path: Path
) -> None:
    spec = GeneratorSpec("dcgan", 8, 4, (1, 28, 28), num_classes=10)
    cfg = SampleConfig(num_samples=300, batch_size=100, grid_size=10)
    write_samples(OneWeakClass(train), spec, cfg, tmp_path / "samples", CPU)
    samples, labels = load_samples(tmp_path / "samples")
    assert labels is not None
    conditioning = Conditioning(labels, test, EvaluatorConfig(epochs=1))
    result = evaluate(evaluator, samples, train, SCORES, CPU, conditioning)
    accuracy, diversity = result.per_class["accuracy"], result.per_class["diversity"]
    assert accuracy.shape == diversity.shape == (10,)
    assert accuracy[8] < 0.1 and np.delete(accuracy, 8).min() > 0.7
    assert diversity[5] < 1e-6 and np.delete(diversity, 5).min() > 0.5
    metrics = as_metrics(result, len(samples))
    assert metrics["conditional_accuracy_min_class"] == 8
    assert metrics["conditional_accuracy_min"] == pytest.approx(accuracy[8], abs=1e-6)
    assert metrics["intra_class_diversity_min_class"] == 5
    assert metrics["intra_class_diversity_min"] == pytest.approx(0.0, abs=1e-6)
    assert direction("conditional_accuracy_min") == "higher"


def test_quick_probe_hands_its_labels_to_a_conditional_generator(
    evaluator: LoadedEvaluator, train: Split
) -> None:
    latents = latent_batch(500, 8, 0, CPU)
    labels = torch.arange(500) % 10  # every class alike, as training passes them
    generator = RealDigits(train)
    probe = QuickProbe(evaluator, latents, 200, CPU, labels=labels)
    images = generate(generator, latents, 200, labels=labels)
    generated = feature_set(evaluator, images, 200, CPU)
    expected = fid(generated, evaluator_reference(evaluator), SCORES)
    diversity = intra_class_diversity(
        generated.features,
        generated.logits,
        evaluator.reference_features,
        evaluator.reference_labels,
        labels.numpy(),
    )
    scores = probe(generator)
    assert scores["quick_fid"] == pytest.approx(expected["fid"], rel=1e-9)
    assert scores["quick_intra_class_diversity"] == diversity["intra_class_diversity"]
    assert scores["quick_intra_class_diversity_min"] == diversity["intra_class_diversity_min"]
    assert scores["quick_intra_class_diversity_min"] > 0.5  # real digits: real spread


def test_labels_the_evaluator_does_not_know_are_refused(evaluator: LoadedEvaluator) -> None:
    check_sample_labels(np.array([0, 9, 3]), evaluator, "samples")
    with pytest.raises(DataError, match=r"samples: labels run from 0 to 10 but the evaluator"):
        check_sample_labels(np.array([0, 10, 3]), evaluator, "samples")


def test_unconditional_samples_get_no_conditional_scores(
    evaluator: LoadedEvaluator, train: Split
) -> None:
    samples = train.images[:200]
    result = evaluate(evaluator, samples, train, SCORES, CPU)
    metrics = as_metrics(result, len(samples))
    assert not NEW_KEYS & set(metrics) and "conditional_accuracy_min_class" not in metrics
    assert list(result.per_class) == ["diversity"]  # grouped by the evaluator's reading
    assert 0 <= metrics["intra_class_diversity_min_class"] < 10


def test_the_sample_and_evaluate_stages_handle_a_conditional_generator(
    evaluator_file: Path, prepared: Path, workdir: Path, mlflow_store: str
) -> None:
    spec = GeneratorSpec("dcgan", 8, 4, (1, 28, 28), num_classes=10)
    torch.manual_seed(0)
    save_generator(workdir / "generator.pt", build_generator(spec), spec)
    params = write_params(workdir / "params.yaml")
    loaded = load_params(params)
    with open_run(loaded.tracking, loaded, root=workdir) as run:
        run_id = run.run_id
    (workdir / "run.json").write_text(json.dumps({"run_id": run_id, "steps": 1}))
    common = ["--params", str(params), "--run-record", "run.json"]

    sample = load_stage("sample").main
    data = ["--data", str(prepared / "processed")]
    assert sample([*common, *data, "--model", "generator.pt", "--out", "samples"]) == 0
    labels = np.load(workdir / "samples" / "labels.npy")
    assert labels.dtype == np.int64 and labels.shape == (100,)  # TINY: 100 samples
    manifest = json.loads((workdir / "samples" / "manifest.json").read_text())
    assert "labels.npy" in manifest["files"] and manifest["num_classes"] == 10

    evaluate_stage = load_stage("evaluate").main
    args = ["--samples", "samples", "--evaluator", str(evaluator_file)]
    args += [*data, "--metrics", "metrics.json", "--plots", "plots"]
    assert evaluate_stage([*common, *args]) == 0
    metrics = json.loads((workdir / "metrics.json").read_text())
    assert set(metrics) >= NEW_KEYS and all(0 <= metrics[key] <= 1 for key in NEW_KEYS)
    # per class: a row each, and the weakest class named in the metrics and the picture
    table = (workdir / "plots" / "per_class.tsv").read_text().splitlines()
    assert table[0] == "class\tdiversity\taccuracy" and len(table) == 11
    accuracies = [float(row.split("\t")[2]) for row in table[1:]]
    assert metrics["conditional_accuracy_min_class"] == accuracies.index(min(accuracies))
    assert (workdir / "plots" / "per_class.png").read_bytes()[:4] == b"\x89PNG"
    logged = mlflow.MlflowClient(mlflow_store).get_run(run_id).data.metrics
    assert {key: logged[f"eval/{key}"] for key in NEW_KEYS} == {
        key: metrics[key] for key in NEW_KEYS
    }

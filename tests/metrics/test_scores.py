"""Scores that cannot be faked: known orderings on real data, against torch-fidelity itself."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ganops.config import EvalConfig
from ganops.data.dataset import Split
from ganops.errors import DataError
from ganops.metrics.evaluator import LoadedEvaluator, load_evaluator, shift_augment
from ganops.metrics.features import evaluator_reference, feature_set
from ganops.metrics.scores import FeatureSet, check_sizes, copy_check, score

CPU = torch.device("cpu")
CFG = EvalConfig()


def features(evaluator: LoadedEvaluator, images: np.ndarray) -> FeatureSet:
    return feature_set(evaluator, images, 500, CPU)


def blur(images: np.ndarray) -> np.ndarray:
    kernel = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0])
    kernel = (kernel[:, None] * kernel[None, :] / 256.0)[None, None]  # (1, 1, 5, 5)
    blurred = F.conv2d(torch.from_numpy(images).float(), kernel, padding=2)
    return blurred.round().clamp(0, 255).to(torch.uint8).numpy()


def test_evaluator_classifies_real_digits(evaluator: LoadedEvaluator, test: Split) -> None:
    assert evaluator.test_accuracy >= 0.95  # five epochs here; the pipeline's default trains 15
    assert evaluator.reference_features.shape == (1000, 128)
    assert np.array_equal(evaluator.reference_labels, test.labels)


def test_the_test_split_against_itself_is_perfect(evaluator: LoadedEvaluator, test: Split) -> None:
    result = score(features(evaluator, test.images), evaluator_reference(evaluator), CFG)
    assert result["fid"] == pytest.approx(0.0, abs=1e-6)
    assert result["precision"] == 1.0 and result["recall"] == 1.0
    assert result["classes_covered"] == 10 and result["class_kl"] == pytest.approx(0.0, abs=1e-9)
    assert result["isc_mean"] > 8.0  # confident and evenly spread: close to the 10 classes


def test_noise_is_worse_than_blur_which_is_worse_than_real(
    evaluator: LoadedEvaluator, train: Split
) -> None:
    reference = evaluator_reference(evaluator)
    real = train.images[:1000]  # real digits the test split does not hold
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, size=real.shape, dtype=np.uint8)
    fid = {
        name: score(features(evaluator, images), reference, CFG)["fid"]
        for name, images in (("real", real), ("blurred", blur(real)), ("noise", noise))
    }
    assert fid["noise"] > 5 * fid["blurred"] > 5 * fid["real"], fid


def test_one_digit_covers_one_class(evaluator: LoadedEvaluator, test: Split) -> None:
    sevens = test.images[test.labels == 7]
    cfg = EvalConfig(kid_subset_size=50)
    result = score(features(evaluator, sevens), evaluator_reference(evaluator), cfg)
    assert result["classes_covered"] == 1
    assert result["class_kl"] == pytest.approx(np.log(10), abs=0.15)
    assert result["precision"] > 0.8 and result["recall"] < 0.3  # faithful, not diverse
    assert result["isc_mean"] < 1.5


def test_copy_check_flags_copied_training_images(
    evaluator: LoadedEvaluator, train: Split, test: Split
) -> None:
    train_features = features(evaluator, train.images).features
    test_features = features(evaluator, test.images).features
    copied = copy_check(train_features[:500], test_features, train_features)
    held_out = copy_check(test_features, test_features, train_features)
    assert copied["nn_distance_ratio"] < 1e-3  # zero up to rounding in cdist
    assert held_out["nn_distance_ratio"] == pytest.approx(1.0)


def test_agrees_with_torch_fidelity_calculate_metrics(
    evaluator: LoadedEvaluator, evaluator_file: Path, train: Split, test: Split
) -> None:
    """Our path (cached reference features + torch-fidelity's metric functions) gives what
    torch-fidelity's own full pass with the registered extractor gives."""
    import torch_fidelity

    from ganops.metrics.fidelity import NAME, register

    class Images(torch.utils.data.Dataset[torch.Tensor]):
        def __init__(self, images: np.ndarray) -> None:
            self.images = torch.from_numpy(images)

        def __len__(self) -> int:
            return len(self.images)

        def __getitem__(self, index: int) -> torch.Tensor:
            return self.images[index]

    register()
    register()  # idempotent
    generated = blur(train.images[:1000])
    ours = score(features(evaluator, generated), evaluator_reference(evaluator), CFG)
    theirs = torch_fidelity.calculate_metrics(
        input1=Images(generated),
        input2=Images(test.images),
        cuda=False, fid=True, kid=True, prc=True, isc=True, verbose=False, cache=False,
        save_cpu_ram=True, feature_extractor=NAME,
        feature_extractor_weights_path=str(evaluator_file),
        feature_layer_isc="logits", kid_subset_size=CFG.kid_subset_size, rng_seed=CFG.seed,
    )  # fmt: skip
    assert ours["fid"] == pytest.approx(theirs["frechet_inception_distance"], rel=1e-4)
    assert ours["kid_mean"] == pytest.approx(theirs["kernel_inception_distance_mean"], rel=1e-3)
    assert ours["precision"] == pytest.approx(theirs["precision"], abs=1e-9)
    assert ours["recall"] == pytest.approx(theirs["recall"], abs=1e-9)
    assert ours["isc_mean"] == pytest.approx(theirs["inception_score_mean"], rel=1e-6)


def test_too_few_images_for_kid_is_a_clear_error() -> None:
    with pytest.raises(
        DataError, match=r"eval.kid_subset_size: 500 is more than the 100 images KID draws"
    ):
        check_sizes(100, 1000, CFG)


def test_shift_augment_moves_strokes_over_a_dark_background() -> None:
    images = -torch.ones(4, 1, 8, 8)
    images[:, :, 3:5, 3:5] = 1.0
    shifted = shift_augment(images, 2, torch.Generator().manual_seed(0))
    assert shifted.shape == images.shape
    assert set(shifted.unique().tolist()) <= {-1.0, 1.0}
    assert (shifted == 1).sum(dim=(1, 2, 3)).tolist() == [4, 4, 4, 4]  # moved, not cut
    assert not torch.equal(shifted, images)


def test_a_generator_file_is_not_an_evaluator(tmp_path: Path) -> None:
    from ganops.artifacts import save_generator
    from ganops.models import GeneratorSpec, build_generator

    spec = GeneratorSpec("dcgan", 8, 4, (1, 28, 28))
    save_generator(tmp_path / "g.pt", build_generator(spec), spec)
    with pytest.raises(DataError, match="not a ganops evaluator"):
        load_evaluator(tmp_path / "g.pt")

"""The semantic-consistency term (CyCADA): what it measures, that it moves the generators, and
the classifier of domain A the train stage builds for it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from ganops.config import Params, TranslateConfig
from ganops.data.dataset import Split
from ganops.errors import ConfigError
from ganops.translation.baselines import uci_like
from ganops.translation.domains import Domains
from ganops.translation.loop import build_translator, translator_spec, unpaired_step
from ganops.translation.terms import semantic_loss
from ganops.translation.training import semantic_classifiers

CPU = torch.device("cpu")


class Brightness(nn.Module):
    """A frozen two-class 'classifier': class 1 when the mean pixel is above 0."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        mean = images.mean((1, 2, 3))  # (B,)
        return torch.stack([-10 * mean, 10 * mean], 1)  # (B, 2)


class Flipped(Brightness):
    """The same, with its two classes swapped."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return super().forward(images).flip(1)


def test_semantic_loss_is_low_when_the_class_is_kept_and_high_when_it_flips() -> None:
    inputs = torch.cat([torch.full((4, 1, 8, 8), 0.5), torch.full((4, 1, 8, 8), -0.5)])
    kept = semantic_loss(Brightness(), inputs, inputs * 0.8)
    flipped = semantic_loss(Brightness(), inputs, -inputs)
    assert float(kept) < 0.01 < 4 < float(flipped)
    assert float(semantic_loss(None, inputs, -inputs)) == 0.0  # off: no classifier


def test_semantic_loss_reaches_the_translation_not_the_classifier() -> None:
    classifier = nn.Sequential(nn.Flatten(), nn.Linear(64, 3)).requires_grad_(False)
    translations = torch.randn(5, 1, 8, 8, requires_grad=True)
    semantic_loss(classifier, torch.randn(5, 1, 8, 8), translations).backward()
    assert translations.grad is not None and translations.grad.abs().sum() > 0
    assert all(p.grad is None for p in classifier.parameters())


def _step_weights(semantic: float) -> dict[str, torch.Tensor]:
    cfg = TranslateConfig(width=4, blocks=1, semantic=semantic, pool_size=2)
    spec = translator_spec(cfg, paired=False, channels=1, size=16)
    state = build_translator(cfg, spec, paired=False, device=torch.device("cpu"))
    state.classifier = Brightness()
    rng = torch.Generator().manual_seed(0)
    a = torch.rand(4, 1, 16, 16, generator=rng) * 2 - 1
    b = torch.rand(4, 1, 16, 16, generator=rng) * 2 - 1
    losses = unpaired_step(state, cfg, a, b)
    assert np.isfinite(losses["loss_semantic"]) and losses["loss_semantic"] > 0
    return {k: v.clone() for k, v in state.generators["ab"].state_dict().items()}


def test_the_weight_of_the_term_changes_the_generators_step() -> None:
    without, with_term, again = _step_weights(0.0), _step_weights(5.0), _step_weights(5.0)
    assert any(not torch.equal(without[k], with_term[k]) for k in without)
    assert all(torch.equal(with_term[k], again[k]) for k in with_term)  # seeded


def _domains(classes: int) -> Domains:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (20, 1, 8, 8), dtype=np.uint8)
    labels = np.arange(20, dtype=np.int64) % classes
    split = Split(images, labels, tuple(str(c) for c in range(classes)))
    return Domains(split, split, aligned=False)


def test_the_classifier_of_a_is_built_only_when_asked() -> None:
    params = Params.model_validate({"evaluator": {"epochs": 1}})
    names = ("uci-digits", "mnist-5k")
    assert semantic_classifiers(params, _domains(2), _domains(2), names, CPU) is None
    params = Params.model_validate(
        {"evaluator": {"epochs": 1, "width": 4}, "translate": {"semantic": 1.0}}
    )
    semantic = semantic_classifiers(params, _domains(2), _domains(2), names, CPU)
    assert semantic is not None and semantic.of_translations is semantic.of_a
    assert not semantic.of_a.training
    assert not any(p.requires_grad for p in semantic.of_a.parameters())
    assert list(semantic.accuracies) == ["classifier_a_accuracy"]
    assert 0 <= semantic.accuracies["classifier_a_accuracy"] <= 1


def _mnist_like(count: int) -> Domains:
    """Digits of two classes MNIST's way: a bar or a box, 20 px in a 28 px field."""
    images = np.zeros((count, 1, 28, 28), dtype=np.uint8)
    labels = np.arange(count, dtype=np.int64) % 2
    for index, label in enumerate(labels):
        if label:
            images[index, 0, 4:24, 12:16] = 255  # a bar
        else:
            images[index, 0, 4:24, 6:22] = 255  # a box
            images[index, 0, 8:20, 10:18] = 0
    split = Split(images, labels, ("0", "1"))
    return Domains(split, split, aligned=False)


def test_the_handmade_reader_learns_a_through_the_transform_into_b() -> None:
    params = Params.model_validate(
        {
            "evaluator": {"epochs": 2, "width": 4},
            "translate": {"semantic": 1.0, "semantic_classifier": "handmade"},
        }
    )
    domains = _mnist_like(40)
    semantic = semantic_classifiers(params, domains, domains, ("mnist-5k", "uci-digits"), CPU)
    assert semantic is not None and semantic.of_translations is not semantic.of_a
    assert not any(p.requires_grad for p in semantic.of_translations.parameters())
    assert set(semantic.accuracies) == {
        "classifier_a_accuracy",
        "classifier_a_handmade_accuracy",
    }
    # the reader was trained on the transform's images: it reads them as A's classes
    made = torch.from_numpy(uci_like(domains.a.images)).float() / 127.5 - 1
    with torch.no_grad():
        read = semantic.of_translations(made).argmax(1).numpy()
    assert (read == domains.a.labels).mean() == semantic.accuracies[
        "classifier_a_handmade_accuracy"
    ]


def _fixmatch_weights(a: Split, b: Split) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
    params = Params.model_validate(
        {
            "evaluator": {"epochs": 30, "width": 4},  # long enough to be sure of some of B
            "translate": {"semantic": 1.0, "semantic_classifier": "handmade_fixmatch"},
        }
    )
    domains = Domains(a, b, aligned=False)
    semantic = semantic_classifiers(params, domains, domains, ("mnist-5k", "uci-digits"), CPU)
    assert semantic is not None and semantic.of_translations is not semantic.of_a
    assert not semantic.of_translations.training
    assert not any(p.requires_grad for p in semantic.of_translations.parameters())
    # the trained weights, not BatchNorm's running statistics (which any forward moves)
    weights = semantic.of_translations.named_parameters()
    return {k: v.detach().clone() for k, v in weights}, semantic.accuracies


def test_the_fixmatch_reader_learns_from_b_images_and_never_their_labels() -> None:
    a = _mnist_like(40).a
    b_images = uci_like(a.images[::-1].copy())  # B-style digits, in another order
    b = Split(b_images, a.labels[::-1].copy(), a.class_names)
    weights, accuracies = _fixmatch_weights(a, b)
    assert set(accuracies) == {"classifier_a_accuracy", "classifier_a_handmade_fixmatch_accuracy"}
    assert 0.0 <= accuracies["classifier_a_handmade_fixmatch_accuracy"] <= 1.0
    # other labels for B's images: the same reader, to the bit (B's labels are not read)
    relabelled = Split(b_images, np.zeros_like(b.labels), a.class_names)
    same, _ = _fixmatch_weights(a, relabelled)
    assert all(torch.equal(weights[k], same[k]) for k in weights)
    # other images for B: another reader (B's images, labelled by its own sure guesses,
    # trained it)
    blank = Split(np.zeros_like(b_images), b.labels, a.class_names)
    other, _ = _fixmatch_weights(a, blank)
    assert any(not torch.equal(weights[k], other[k]) for k in weights)


def test_the_handmade_reader_needs_a_pair_with_a_handmade_transform() -> None:
    params = Params.model_validate(
        {"translate": {"semantic": 1.0, "semantic_classifier": "handmade"}}
    )
    with pytest.raises(ConfigError, match=r"no hand-made transform from mnist-5k to mnist-5k"):
        semantic_classifiers(params, _domains(2), _domains(2), ("mnist-5k", "mnist-5k"), CPU)


def test_the_reader_of_the_translations_is_the_one_the_term_asks() -> None:
    inputs = torch.tensor([0.5, -0.5, 0.5]).view(3, 1, 1, 1).expand(3, 1, 8, 8)  # classes 1 0 1
    # the inputs' classes come from `classifier`; a reader that flips them costs more
    kept = semantic_loss(Brightness(), inputs, inputs * 0.8, Brightness())
    flipped = semantic_loss(Brightness(), inputs, inputs * 0.8, Flipped())
    assert float(kept) < 0.1 and float(flipped) > 3


def test_a_one_class_domain_a_cannot_have_the_term() -> None:
    params = Params.model_validate({"translate": {"semantic": 1.0}})
    with pytest.raises(ConfigError, match=r"translate\.semantic: domain A has one class"):
        semantic_classifiers(params, _domains(1), _domains(1), ("a", "b"), CPU)

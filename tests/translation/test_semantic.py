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
from ganops.translation.domains import Domains
from ganops.translation.loop import (
    build_translator,
    semantic_loss,
    translator_spec,
    unpaired_step,
)
from ganops.translation.training import domain_a_classifier


class Brightness(nn.Module):
    """A frozen two-class 'classifier': class 1 when the mean pixel is above 0."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        mean = images.mean((1, 2, 3))  # (B,)
        return torch.stack([-10 * mean, 10 * mean], 1)  # (B, 2)


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
    assert domain_a_classifier(params, _domains(2), _domains(2), torch.device("cpu")) == (
        None,
        None,
    )
    params = Params.model_validate(
        {"evaluator": {"epochs": 1, "width": 4}, "translate": {"semantic": 1.0}}
    )
    classifier, score = domain_a_classifier(params, _domains(2), _domains(2), torch.device("cpu"))
    assert classifier is not None and not classifier.training
    assert not any(p.requires_grad for p in classifier.parameters())
    assert score is not None and 0 <= score <= 1


def test_a_one_class_domain_a_cannot_have_the_term() -> None:
    params = Params.model_validate({"translate": {"semantic": 1.0}})
    with pytest.raises(ConfigError, match=r"translate\.semantic: domain A has one class"):
        domain_a_classifier(params, _domains(1), _domains(1), torch.device("cpu"))

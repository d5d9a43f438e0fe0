"""The non-saturating GAN loss."""

from __future__ import annotations

import math

import pytest
import torch

from ganops.losses import discriminator_loss, generator_loss


def test_undecided_discriminator_costs_log_4() -> None:
    zeros = torch.zeros(8)
    assert discriminator_loss(zeros, zeros).item() == pytest.approx(2 * math.log(2))
    assert generator_loss(zeros).item() == pytest.approx(math.log(2))


def test_confident_correct_discriminator_costs_almost_nothing() -> None:
    assert discriminator_loss(torch.full((4,), 20.0), torch.full((4,), -20.0)).item() < 1e-6
    # ...and the non-saturating generator loss is then large, so G still gets gradients
    assert generator_loss(torch.full((4,), -20.0)).item() == pytest.approx(20.0, rel=1e-3)


def test_one_sided_label_smoothing_targets_real_only() -> None:
    real, fake = torch.full((4,), 20.0), torch.full((4,), -20.0)
    smoothed = discriminator_loss(real, fake, label_smoothing=0.1)
    # BCE(20, 0.9) = 0.1 * 20 + log(1 + e^-20): smoothing penalises over-confidence on real
    assert smoothed.item() == pytest.approx(2.0, rel=1e-3)
    assert discriminator_loss(real, fake, 0.1).item() > discriminator_loss(real, fake).item()


def test_generator_gradient_does_not_vanish() -> None:
    logits = torch.full((4,), -10.0, requires_grad=True)  # D confidently rejects the fakes
    generator_loss(logits).backward()
    assert logits.grad is not None and logits.grad.abs().min().item() > 0.2

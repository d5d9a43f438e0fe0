"""Adversarial losses as plain functions of discriminator logits.

The non-saturating loss (Goodfellow et al. 2014): D minimises binary cross-entropy with
targets 1 for real and 0 for fake; G maximises log D(G(z)) instead of minimising
log(1 - D(G(z))), which keeps its gradients alive early in training.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def discriminator_loss(
    real_logits: torch.Tensor, fake_logits: torch.Tensor, label_smoothing: float = 0.0
) -> torch.Tensor:
    """BCE on real (target `1 - label_smoothing`, one-sided) plus BCE on fake (target 0)."""
    real_target = torch.full_like(real_logits, 1.0 - label_smoothing)
    real = F.binary_cross_entropy_with_logits(real_logits, real_target)
    fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return real + fake


def generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss: -log D(G(z)), i.e. BCE with target 1."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


LOSSES = {"nonsaturating": (discriminator_loss, generator_loss)}

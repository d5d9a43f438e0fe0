"""The tutorial GAN: dense layers, LeakyReLU 0.2, batch norm in G, tanh output.

Widths follow the classic layout: G widens `width -> 2w -> 4w -> 8w`, D narrows
`4w -> 2w -> 1` (width 128 gives the familiar 128/256/512/1024 and 512/256).

Conditional (`num_classes` > 0): as in DCGAN, G concatenates a learned label embedding of
`latent_dim` entries to z, and D adds the projection term (Miyato & Koyama 2018) on its
last hidden layer to its logit.
"""

from __future__ import annotations

import itertools

import torch
from torch import nn

from ganops.models.layers import (
    ProjectionDiscriminator,
    check_labels,
)


def image_size_problem(size: int) -> str | None:
    """Dense layers take any size; always None."""
    return None


class MLPGenerator(nn.Module):
    """z `(B, latent_dim)` and, when conditional, labels `(B,)` -> images
    `(B, channels, size, size)` in [-1, 1]."""

    def __init__(
        self, latent_dim: int, width: int, channels: int, size: int, num_classes: int = 0
    ) -> None:
        super().__init__()
        self.image_shape = (channels, size, size)
        self.num_classes = num_classes
        inputs = 2 * latent_dim if num_classes else latent_dim  # z, then the label embedding
        widths = [width, 2 * width, 4 * width, 8 * width]
        layers: list[nn.Module] = [nn.Linear(inputs, widths[0]), nn.LeakyReLU(0.2, True)]
        for inner, outer in itertools.pairwise(widths):
            layers += [nn.Linear(inner, outer), nn.BatchNorm1d(outer), nn.LeakyReLU(0.2, True)]
        layers += [nn.Linear(widths[-1], channels * size * size), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.label_embedding = nn.Embedding(num_classes, latent_dim) if num_classes else None

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        check_labels(labels, self.num_classes, z.shape[0])
        if self.label_embedding is not None:
            z = torch.cat((z, self.label_embedding(labels)), dim=1)  # (B, 2 * latent_dim)
        return self.net(z).view(z.shape[0], *self.image_shape)  # type: ignore[no-any-return]


class MLPDiscriminator(ProjectionDiscriminator):
    """images `(B, channels, size, size)` and, when conditional, labels `(B,)` -> logits `(B,)`."""

    def build_body(self, width: int, channels: int, size: int, spectral_norm: bool) -> int:
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(channels * size * size, 4 * width),
            nn.LeakyReLU(0.2, True),
            nn.Linear(4 * width, 2 * width),
            nn.LeakyReLU(0.2, True),
            nn.Linear(2 * width, 1),
        )
        return 2 * width

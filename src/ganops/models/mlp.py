"""The tutorial GAN: dense layers, LeakyReLU 0.2, batch norm in G, tanh output.

Widths follow the classic layout: G widens `width -> 2w -> 4w -> 8w`, D narrows
`4w -> 2w -> 1` (width 128 gives the familiar 128/256/512/1024 and 512/256).
"""

from __future__ import annotations

import itertools

import torch
from torch import nn


def image_size_problem(size: int) -> str | None:
    """Dense layers take any size; always None."""
    return None


class MLPGenerator(nn.Module):
    """z `(B, latent_dim)` -> images `(B, channels, size, size)` in [-1, 1]."""

    def __init__(self, latent_dim: int, width: int, channels: int, size: int) -> None:
        super().__init__()
        self.image_shape = (channels, size, size)
        widths = [width, 2 * width, 4 * width, 8 * width]
        layers: list[nn.Module] = [nn.Linear(latent_dim, widths[0]), nn.LeakyReLU(0.2, True)]
        for inner, outer in itertools.pairwise(widths):
            layers += [nn.Linear(inner, outer), nn.BatchNorm1d(outer), nn.LeakyReLU(0.2, True)]
        layers += [nn.Linear(widths[-1], channels * size * size), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(z.shape[0], *self.image_shape)  # type: ignore[no-any-return]


class MLPDiscriminator(nn.Module):
    """images `(B, channels, size, size)` -> logits `(B,)`."""

    def __init__(self, width: int, channels: int, size: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(channels * size * size, 4 * width),
            nn.LeakyReLU(0.2, True),
            nn.Linear(4 * width, 2 * width),
            nn.LeakyReLU(0.2, True),
            nn.Linear(2 * width, 1),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images).flatten()  # type: ignore[no-any-return]

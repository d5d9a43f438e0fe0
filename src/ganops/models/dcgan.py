"""DCGAN (Radford, Metz & Chintala 2015): strided (transposed) convolutions, batch norm,
ReLU in G, LeakyReLU 0.2 in D, no pooling, weights drawn from N(0, 0.02).

Sizes: 28 (7 -> 14 -> 28, the MNIST layout) or a power of two from 32 to 128
(4 -> 8 -> ... -> size). The layer next to the image has `width` channels and each
step away from it doubles them, as in the paper's 64 x 64 model (width 128).
"""

from __future__ import annotations

import math

import torch
from torch import nn

_POWER_OF_TWO_SIZES = (32, 64, 128)


def image_size_problem(size: int) -> str | None:
    """Why DCGAN cannot make `size` x `size` images, or None."""
    if size == 28 or size in _POWER_OF_TWO_SIZES:
        return None
    return "dcgan supports 28 or a power of two from 32 to 128"


def _layout(size: int) -> tuple[int, int]:
    """`(base, upsamplings)`: the first feature map's side and the doublings after it."""
    problem = image_size_problem(size)
    if problem:
        raise ValueError(f"{problem} (got {size})")
    if size == 28:
        return 7, 2
    return 4, int(math.log2(size)) - 2


def _init_weights(module: nn.Module) -> None:
    if isinstance(module, nn.Conv2d | nn.ConvTranspose2d):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class DCGANGenerator(nn.Module):
    """z `(B, latent_dim)` -> images `(B, channels, size, size)` in [-1, 1]."""

    def __init__(self, latent_dim: int, width: int, channels: int, size: int) -> None:
        super().__init__()
        base, upsamplings = _layout(size)
        features = width * 2 ** (upsamplings - 1)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(latent_dim, features, base, 1, 0, bias=False),
            nn.BatchNorm2d(features),
            nn.ReLU(inplace=True),
        ]
        for _ in range(upsamplings - 1):
            layers += [
                nn.ConvTranspose2d(features, features // 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(features // 2),
                nn.ReLU(inplace=True),
            ]
            features //= 2
        layers += [nn.ConvTranspose2d(features, channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.latent_dim = latent_dim
        self.apply(_init_weights)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.view(z.shape[0], self.latent_dim, 1, 1))  # type: ignore[no-any-return]


class DCGANDiscriminator(nn.Module):
    """images `(B, channels, size, size)` -> logits `(B,)`."""

    def __init__(self, width: int, channels: int, size: int) -> None:
        super().__init__()
        base, downsamplings = _layout(size)
        layers: list[nn.Module] = [
            nn.Conv2d(channels, width, 4, 2, 1),  # no batch norm on the input layer
            nn.LeakyReLU(0.2, inplace=True),
        ]
        features = width
        for _ in range(downsamplings - 1):
            layers += [
                nn.Conv2d(features, features * 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(features * 2),
                nn.LeakyReLU(0.2, inplace=True),
            ]
            features *= 2
        layers.append(nn.Conv2d(features, 1, base, 1, 0))
        self.net = nn.Sequential(*layers)
        self.apply(_init_weights)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images).flatten()  # type: ignore[no-any-return]

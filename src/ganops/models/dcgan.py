"""DCGAN (Radford, Metz & Chintala 2015): strided (transposed) convolutions, batch norm,
ReLU in G, LeakyReLU 0.2 in D, no pooling, weights drawn from N(0, 0.02).

G doubles its side with transposed convolutions (the paper's) or, with `upsample="nearest"`,
with nearest upsampling and a 3x3 convolution.

Sizes: 28 (7 -> 14 -> 28, the MNIST layout) or a power of two from 32 to 256
(4 -> 8 -> ... -> size). The layer next to the image has `width` channels and each
step away from it doubles them, as in the paper's 64 x 64 model (width 128).

Conditional (`num_classes` > 0): G concatenates a learned label embedding of `latent_dim`
entries to z (Mirza & Osindero 2014 with a learned code instead of a one-hot): unlike
multiplying the two, this leaves z's distribution untouched and gives the class its own
input channels. The embedding starts as N(0, 1), the scale of z. D adds the projection term
of Miyato & Koyama (2018) on its last feature map, summed over positions, to its logit, and
with `classifier` it also has a class head on the same pooled features (AC-GAN).
With spectral norm, D has no batch norm: normalised weights take its place, as in SNGAN.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ganops.models.layers import (
    ProjectionDiscriminator,
    check_labels,
)

_POWER_OF_TWO_SIZES = (32, 64, 128, 256)


def image_size_problem(size: int) -> str | None:
    """Why DCGAN cannot make `size` x `size` images, or None."""
    if size == 28 or size in _POWER_OF_TWO_SIZES:
        return None
    return "dcgan supports 28 or a power of two from 32 to 256"


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


UPSAMPLINGS = ("transposed", "nearest")


def _doubling(inputs: int, outputs: int, upsample: str, bias: bool) -> list[nn.Module]:
    """Layers that double the side: a stride-2 transposed convolution (DCGAN's), or nearest
    upsampling then a 3x3 convolution, which cannot make the transposed one's checkerboard
    (Odena et al. 2016)."""
    if upsample == "transposed":
        return [nn.ConvTranspose2d(inputs, outputs, 4, 2, 1, bias=bias)]
    if upsample == "nearest":
        return [
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2d(inputs, outputs, 3, 1, 1, bias=bias),
        ]
    raise ValueError(f"upsample must be one of {', '.join(UPSAMPLINGS)}, got {upsample!r}")


class DCGANGenerator(nn.Module):
    """z `(B, latent_dim)` and, when conditional, labels `(B,)` -> images
    `(B, channels, size, size)` in [-1, 1]."""

    def __init__(
        self,
        latent_dim: int,
        width: int,
        channels: int,
        size: int,
        num_classes: int = 0,
        upsample: str = "transposed",
    ) -> None:
        super().__init__()
        base, upsamplings = _layout(size)
        features = width * 2 ** (upsamplings - 1)
        inputs = 2 * latent_dim if num_classes else latent_dim  # z, then the label embedding
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(inputs, features, base, 1, 0, bias=False),
            nn.BatchNorm2d(features),
            nn.ReLU(inplace=True),
        ]
        for _ in range(upsamplings - 1):
            layers += [
                *_doubling(features, features // 2, upsample, bias=False),
                nn.BatchNorm2d(features // 2),
                nn.ReLU(inplace=True),
            ]
            features //= 2
        layers += [*_doubling(features, channels, upsample, bias=True), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.latent_dim = latent_dim
        self.num_classes = num_classes
        self.apply(_init_weights)
        self.label_embedding = nn.Embedding(num_classes, latent_dim) if num_classes else None

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        check_labels(labels, self.num_classes, z.shape[0])
        if self.label_embedding is not None:
            z = torch.cat((z, self.label_embedding(labels)), dim=1)  # (B, 2 * latent_dim)
        return self.net(z.view(z.shape[0], -1, 1, 1))  # type: ignore[no-any-return]


class DCGANDiscriminator(ProjectionDiscriminator):
    """images `(B, channels, size, size)` and, when conditional, labels `(B,)` -> logits `(B,)`
    (and class logits `(B, num_classes)` when called with `classify=True`)."""

    def build_body(self, width: int, channels: int, size: int, spectral_norm: bool) -> int:
        base, downsamplings = _layout(size)
        layers: list[nn.Module] = [
            nn.Conv2d(channels, width, 4, 2, 1),  # no batch norm on the input layer
            nn.LeakyReLU(0.2, inplace=True),
        ]
        features = width
        for _ in range(downsamplings - 1):
            if spectral_norm:
                layers.append(nn.Conv2d(features, features * 2, 4, 2, 1))
            else:  # the bias is redundant before batch norm
                layers += [
                    nn.Conv2d(features, features * 2, 4, 2, 1, bias=False),
                    nn.BatchNorm2d(features * 2),
                ]
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            features *= 2
        layers.append(nn.Conv2d(features, 1, base, 1, 0))
        self.net = nn.Sequential(*layers)
        self.apply(_init_weights)
        return features

    def pool(self, features: torch.Tensor) -> torch.Tensor:
        return features.sum(dim=(2, 3))  # (B, F, base, base) -> (B, F)

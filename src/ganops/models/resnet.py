"""The ResNet GAN of SNGAN (Miyato et al. 2018), after the CIFAR-10 ResNet of Gulrajani et
al. (2017), for 32 x 32 and 64 x 64 images only.

G: a linear map from z to a 4 x 4 map, one up-sampling residual block per doubling
(BN-ReLU-upsample-conv3x3-BN-ReLU-conv3x3, plus an up-sampled 1x1-conv shortcut), then
BN-ReLU-conv3x3-tanh. D: a first "optimised" down-sampling block without pre-activation
(the image is not rectified), down-sampling blocks to 8 x 8, two more blocks at 8 x 8, then
ReLU, a sum over positions and a linear logit: SNGAN's 32 px discriminator, one block deeper
at 64 px. Every block has `width` channels (SNGAN's 32 px model: 256 in G, 128 in D).

Conditional (`num_classes` > 0): G's block batch norms take per-class gains and biases and D
adds the projection term to its logit (Miyato & Koyama 2018). Weights are Xavier-uniform,
gain sqrt(2) inside residual branches and 1 elsewhere, as in the authors' code.
"""

from __future__ import annotations

import math
from typing import Any, TypeVar

import torch
import torch.nn.functional as F
from torch import nn

from ganops.models.layers import (
    ClassBatchNorm2d,
    ProjectionDiscriminator,
    check_labels,
    with_class_logits,
)

_SIZES = (32, 64)
_BASE = 4  # side of G's first feature map
_D_END = 8  # side at which D stops down-sampling

_Layer = TypeVar("_Layer", nn.Conv2d, nn.Linear)


def image_size_problem(size: int) -> str | None:
    """Why the ResNet cannot make `size` x `size` images, or None."""
    return None if size in _SIZES else "resnet supports 32 or 64"


def _halvings(size: int, side: int) -> int:
    """How often `size` halves down to `side`; a `ValueError` for unsupported sizes."""
    problem = image_size_problem(size)
    if problem:
        raise ValueError(f"{problem} (got {size})")
    return int(math.log2(size // side))


def _xavier(layer: _Layer, gain: float = 1.0) -> _Layer:
    nn.init.xavier_uniform_(layer.weight, gain)
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)
    return layer


def _conv3x3(inputs: int, outputs: int) -> nn.Conv2d:
    """A size-keeping 3x3 convolution inside a residual branch."""
    return _xavier(nn.Conv2d(inputs, outputs, 3, 1, 1), math.sqrt(2.0))


def _upsample(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2.0, mode="nearest")


class _UpBlock(nn.Module):
    """`(B, inputs, H, W)` -> `(B, outputs, 2H, 2W)`."""

    def __init__(self, inputs: int, outputs: int, num_classes: int) -> None:
        super().__init__()
        self.norm1 = ClassBatchNorm2d(inputs, num_classes)
        self.conv1 = _conv3x3(inputs, outputs)
        self.norm2 = ClassBatchNorm2d(outputs, num_classes)
        self.conv2 = _conv3x3(outputs, outputs)
        self.shortcut = _xavier(nn.Conv2d(inputs, outputs, 1))

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        h = self.conv1(_upsample(F.relu(self.norm1(x, labels))))
        h = self.conv2(F.relu(self.norm2(h, labels)))
        # a 1x1 convolution commutes with nearest up-sampling; before it, it costs a quarter
        return h + _upsample(self.shortcut(x))  # type: ignore[no-any-return]


class _FirstDownBlock(nn.Module):
    """conv3x3-ReLU-conv3x3-avgpool plus avgpool-conv1x1: `(B, C, H, W)` -> `(B, w, H/2, W/2)`."""

    def __init__(self, inputs: int, outputs: int) -> None:
        super().__init__()
        self.conv1 = _conv3x3(inputs, outputs)
        self.conv2 = _conv3x3(outputs, outputs)
        self.shortcut = _xavier(nn.Conv2d(inputs, outputs, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.avg_pool2d(self.conv2(F.relu(self.conv1(x))), 2)
        return h + self.shortcut(F.avg_pool2d(x, 2))  # type: ignore[no-any-return]


class _DownBlock(nn.Module):
    """ReLU-conv3x3-ReLU-conv3x3, halving the side when `downsample` (then with a 1x1-conv
    shortcut, else the identity): `(B, w, H, W)` -> `(B, w, H', W')`."""

    def __init__(self, width: int, downsample: bool) -> None:
        super().__init__()
        self.conv1 = _conv3x3(width, width)
        self.conv2 = _conv3x3(width, width)
        self.shortcut = _xavier(nn.Conv2d(width, width, 1)) if downsample else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv2(F.relu(self.conv1(F.relu(x))))
        if self.shortcut is None:
            return x + h  # type: ignore[no-any-return]
        return F.avg_pool2d(h, 2) + F.avg_pool2d(self.shortcut(x), 2)


class ResNetGenerator(nn.Module):
    """z `(B, latent_dim)` and, when conditional, labels `(B,)` -> images
    `(B, channels, size, size)` in [-1, 1]."""

    def __init__(
        self, latent_dim: int, width: int, channels: int, size: int, num_classes: int = 0
    ) -> None:
        super().__init__()
        self.width = width
        self.num_classes = num_classes
        self.linear = _xavier(nn.Linear(latent_dim, width * _BASE * _BASE))
        self.blocks = nn.ModuleList(
            _UpBlock(width, width, num_classes) for _ in range(_halvings(size, _BASE))
        )
        self.norm = nn.BatchNorm2d(width)
        self.to_image = _xavier(nn.Conv2d(width, channels, 3, 1, 1))

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        check_labels(labels, self.num_classes, z.shape[0])
        x = self.linear(z).view(z.shape[0], self.width, _BASE, _BASE)  # (B, w, 4, 4)
        for block in self.blocks:
            x = block(x, labels)  # (B, w, size, size) after the last
        return torch.tanh(self.to_image(F.relu(self.norm(x))))


class ResNetDiscriminator(ProjectionDiscriminator):
    """images `(B, channels, size, size)` and, when conditional, labels `(B,)` -> logits `(B,)`
    (and class logits `(B, num_classes)` when called with `classify=True`)."""

    def build_body(self, width: int, channels: int, size: int, spectral_norm: bool) -> int:
        downsamplings = _halvings(size, _D_END)
        blocks: list[nn.Module] = [_FirstDownBlock(channels, width)]
        blocks += [_DownBlock(width, downsample=True) for _ in range(downsamplings - 1)]
        blocks += [_DownBlock(width, downsample=False) for _ in range(2)]
        self.blocks = nn.Sequential(*blocks)
        self.linear = _xavier(nn.Linear(width, 1))
        return width

    def forward(
        self, images: torch.Tensor, labels: torch.Tensor | None = None, classify: bool = False
    ) -> Any:
        check_labels(labels, self.num_classes, images.shape[0])
        features = F.relu(self.blocks(images)).sum(dim=(2, 3))  # (B, w): global sum pooling
        logits = self.linear(features).flatten()  # (B,)
        if self.projection is None:
            return logits
        logits = logits + self.projection(features, labels)
        return with_class_logits(logits, self.classifier, features, classify)

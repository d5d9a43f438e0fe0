"""Pieces the architectures share: label checks, the frame of every discriminator (its
projection head and class head when conditional, spectral normalisation), class-conditional
batch norm."""

from __future__ import annotations

from typing import Any, cast

import torch
from torch import nn
from torch.nn.utils import parametrizations


def check_labels(labels: torch.Tensor | None, num_classes: int, batch: int) -> None:
    """A `ValueError` unless `labels` suit a model conditioned on `num_classes` classes
    (0: unconditional, which takes no labels) for a batch of `batch`: integer `(batch,)`.

    Values are not range-checked: that would wait for the GPU on every call, and an index
    out of range already fails inside the embedding.
    """
    if num_classes == 0:
        if labels is not None:
            raise ValueError("this model is unconditional (num_classes 0) and takes no labels")
        return
    if labels is None:
        raise ValueError(f"this model is conditioned on {num_classes} classes: pass labels")
    if labels.shape != (batch,) or labels.is_floating_point() or labels.is_complex():
        raise ValueError(
            f"labels must be integer class indices of shape ({batch},), "
            f"got {labels.dtype} of shape {tuple(labels.shape)}"
        )


class LabelProjection(nn.Module):
    """The projection term of a conditional discriminator (Miyato & Koyama 2018):
    `sum(embed(y) * h, dim=1)` for pooled features h `(B, F)` and labels y `(B,)` -> `(B,)`."""

    def __init__(self, num_classes: int, features: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(num_classes, features)
        nn.init.xavier_uniform_(self.embedding.weight)  # as in the authors' code

    def forward(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        embedded: torch.Tensor = self.embedding(labels)  # (B, F)
        return (embedded * features).sum(dim=1)


def class_head(num_classes: int, features: int) -> nn.Linear:
    """The auxiliary classifier of a conditional discriminator (AC-GAN, Odena et al. 2017):
    pooled features `(B, F)` -> class logits `(B, num_classes)`. Built after spectral
    normalisation, so it is left out of it: a classifier's logits need no Lipschitz bound."""
    return nn.Linear(features, num_classes)


def with_class_logits(
    logits: torch.Tensor, head: nn.Module | None, features: torch.Tensor, classify: bool
) -> Any:
    """A discriminator's output: `logits` `(B,)`, or with `classify` the pair `(logits,
    class logits (B, K))` from its class `head` on the pooled `features` `(B, F)`."""
    if not classify:
        return logits
    if head is None:
        raise ValueError("this discriminator has no class head: build it with classifier=True")
    return logits, head(features)


class ClassBatchNorm2d(nn.Module):
    """Batch norm whose gain and bias are looked up per class (the categorical conditional
    batch norm of Miyato & Koyama 2018); with `num_classes` 0, plain `BatchNorm2d`."""

    def __init__(self, features: int, num_classes: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(features, affine=num_classes == 0)
        self.gain: nn.Embedding | None = None
        self.bias: nn.Embedding | None = None
        if num_classes:
            self.gain = nn.Embedding(num_classes, features)
            self.bias = nn.Embedding(num_classes, features)
            nn.init.ones_(self.gain.weight)  # every class starts as the identity
            nn.init.zeros_(self.bias.weight)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        x = self.norm(x)  # (B, F, H, W)
        if self.gain is None or self.bias is None:
            return x
        gain: torch.Tensor = self.gain(labels)  # (B, F)
        bias: torch.Tensor = self.bias(labels)
        return x * gain[:, :, None, None] + bias[:, :, None, None]


def spectral_normalise(module: nn.Module) -> None:
    """Wrap the weight of every `Conv2d`, `Linear` and `Embedding` in `module` with spectral
    normalisation (Miyato et al. 2018): one power iteration per training forward keeps the
    largest singular value of each weight, as a matrix `(out, in * k * k)`, near 1."""
    # listed first: wrapping adds modules, which would disturb a live iteration
    for layer in list(module.modules()):
        if isinstance(layer, nn.Conv2d | nn.Linear | nn.Embedding):
            parametrizations.spectral_norm(layer)


class ProjectionDiscriminator(nn.Module):
    """The frame of every architecture's discriminator. The subclass builds its body
    (`build_body`: images to pooled features of the width it returns); a conditional one adds
    the projection term on those features (Miyato & Koyama 2018), `spectral_norm` wraps every
    weight built so far, and the class head (`classifier`, AC-GAN) comes last, left out of it.
    The order is the weights' draw order: keep it."""

    def __init__(
        self,
        width: int,
        channels: int,
        size: int,
        num_classes: int = 0,
        spectral_norm: bool = False,
        classifier: bool = False,
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        features = self.build_body(width, channels, size, spectral_norm)
        self.projection = LabelProjection(num_classes, features) if num_classes else None
        if spectral_norm:
            spectral_normalise(self)
        self.classifier = class_head(num_classes, features) if classifier and num_classes else None

    def build_body(self, width: int, channels: int, size: int, spectral_norm: bool) -> int:
        """Build the layers from images to features; return the pooled features' width. By
        default the body is `self.net`, a Sequential whose last layer gives the logits."""
        raise NotImplementedError

    def pool(self, features: torch.Tensor) -> torch.Tensor:
        """The features before the last layer of `self.net`, pooled to `(B, F)`."""
        return features

    def forward(
        self, images: torch.Tensor, labels: torch.Tensor | None = None, classify: bool = False
    ) -> Any:
        check_labels(labels, self.num_classes, images.shape[0])
        net = cast(nn.Sequential, self.net)
        if self.projection is None:
            return net(images).flatten()
        features = net[:-1](images)  # (B, F, ...)
        logits = net[-1](features).flatten()  # (B,)
        pooled = self.pool(features)  # (B, F)
        logits = logits + self.projection(pooled, labels)
        return with_class_logits(logits, self.classifier, pooled, classify)

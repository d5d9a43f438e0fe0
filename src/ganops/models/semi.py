"""The semi-supervised GAN's discriminator (Salimans et al. 2016, "Improved techniques for
training GANs"): a classifier of the K real classes whose K+1th class, "generated", has its
logit fixed at 0. With `Z = sum(exp(logits))`, D's probability that an image is real is
`Z / (Z + 1)`, so one network both classifies and discriminates.

As in the authors' code (openai/improved-gan), every layer is weight-normalised and D sees
its inputs and hidden units through Gaussian noise while it trains: the noise keeps the
classifier smooth where the few labels say nothing, and weight normalisation keeps the
feature-matching game stable. `mlp` is the authors' MNIST network (1000-500-250-250-250);
`dcgan` a small convolutional one of the same kind (base width `width`).

Both map images `(B, C, H, W)` in [-1, 1] to `(features (B, F), logits (B, K))`: the
features, of the last hidden layer, are what the generator's feature matching compares.
`init_from_data` is the authors' data-dependent initialisation: without it the early
steps are a lottery (one seed's classifier calls every test digit a 0 after 80 steps,
another's reads 66% of them right).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

MLP_WIDTHS = (1000, 500, 250, 250, 250)  # the authors' MNIST discriminator
INPUT_NOISE, HIDDEN_NOISE = 0.6, 0.5  # std of the noise on inputs ([-1, 1]: their 0.3 on [0, 1])


class GaussianNoise(nn.Module):
    """Adds N(0, std^2) noise in training mode; the identity in eval mode."""

    def __init__(self, std: float) -> None:
        super().__init__()
        self.std = std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.std * torch.randn_like(x) if self.training else x


class SemiSupervisedMLP(nn.Module):
    """Dense, weight-normalised layers with ReLU and noise: images -> (features, logits)."""

    def __init__(self, channels: int, size: int, num_classes: int) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten(), GaussianNoise(INPUT_NOISE)]
        inner = channels * size * size
        for outer in MLP_WIDTHS:
            layers += [weight_norm(nn.Linear(inner, outer)), nn.ReLU(), GaussianNoise(HIDDEN_NOISE)]
            inner = outer
        self.body = nn.Sequential(*layers[:-1])  # features: the last layer's, before its noise
        self.noise = layers[-1]
        self.head = weight_norm(nn.Linear(inner, num_classes))

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.body(images)  # (B, 250)
        return features, self.head(self.noise(features))  # (B, 250), (B, K)


class SemiSupervisedCNN(nn.Module):
    """Weight-normalised 3x3 convolutions, LeakyReLU 0.2, dropout, global average pooling:
    images -> (features (B, 2 * width), logits (B, K))."""

    def __init__(self, width: int, channels: int, num_classes: int) -> None:
        super().__init__()

        def conv(inner: int, outer: int, stride: int) -> list[nn.Module]:
            return [weight_norm(nn.Conv2d(inner, outer, 3, stride, 1)), nn.LeakyReLU(0.2)]

        self.body = nn.Sequential(
            GaussianNoise(INPUT_NOISE),
            *conv(channels, width, 1),
            *conv(width, width, 2),  # H / 2
            nn.Dropout(0.5),
            *conv(width, 2 * width, 1),
            *conv(2 * width, 2 * width, 2),  # H / 4
            nn.Dropout(0.5),
            *conv(2 * width, 2 * width, 1),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.head = weight_norm(nn.Linear(2 * width, num_classes))

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.body(images)  # (B, 2 * width)
        return features, self.head(features)  # (B, 2 * width), (B, K)


def build_semi_supervised_discriminator(
    arch: str, width: int, image_shape: tuple[int, int, int], num_classes: int
) -> nn.Module:
    """The semi-supervised discriminator of `arch` (`model.arch`: mlp, or dcgan's
    convolutions; resnet has none) for images of `image_shape` `(C, H, W)`."""
    channels, size, _ = image_shape
    if arch == "mlp":
        return SemiSupervisedMLP(channels, size, num_classes)
    if arch == "dcgan":
        return SemiSupervisedCNN(width, channels, num_classes)
    raise ValueError(f"a semi-supervised discriminator is mlp or dcgan, not {arch}")


@torch.no_grad()
def classifier_logits(
    discriminator: nn.Module, images: np.ndarray, device: torch.device, batch_size: int = 500
) -> torch.Tensor:
    """The semi-supervised D's class logits `(N, K)` (float32, CPU) of uint8 `images`
    `(N, C, H, W)`, in eval mode (no noise, no dropout)."""
    was_training = discriminator.training
    discriminator.eval()
    logits = []
    for start in range(0, len(images), batch_size):
        chunk = torch.from_numpy(images[start : start + batch_size]).to(device)
        logits.append(discriminator(chunk.float().div(127.5).sub(1.0))[1].float().cpu())
    discriminator.train(was_training)
    return torch.cat(logits)


@torch.no_grad()
def init_from_data(network: nn.Module, images: torch.Tensor) -> None:
    """Data-dependent initialisation of a weight-normalised network (Salimans & Kingma 2016):
    layer by layer, on a batch of real `images` `(B, C, H, W)` in [-1, 1] and without noise,
    scale each unit's weight and set its bias so that its pre-activation has mean 0 and
    standard deviation 1. Only the order of `body` then `head` is assumed."""
    was_training = network.training
    network.eval()
    flowing = images
    layers = [*network.body, network.head]  # type: ignore[attr-defined,misc]
    for layer in layers:
        if hasattr(layer, "parametrizations"):  # a weight-normalised Linear or Conv2d
            out = layer(flowing)  # (B, units) or (B, units, H, W)
            units = out.transpose(0, 1).reshape(out.shape[1], -1)  # (units, B[*H*W])
            mean, std = units.mean(1), units.std(1) + 1e-6
            magnitude = layer.parametrizations.weight.original0  # g: (units, 1, ...)
            magnitude.div_(std.view(-1, *[1] * (magnitude.dim() - 1)))
            layer.bias.copy_((layer.bias - mean) / std)
        flowing = layer(flowing)
    network.train(was_training)

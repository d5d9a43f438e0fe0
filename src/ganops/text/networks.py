"""The text-to-image GAN's networks, after DF-GAN (M. Tao, H. Tang, F. Wu, X.-Y. Jing, B.-K.
Bao and C. Xu, "DF-GAN: A Simple and Effective Baseline for Text-to-Image Synthesis", CVPR
2022; github.com/tobran/DF-GAN, `code/models/GAN.py`), made small for 28 px digits:

- the generator maps the noise and the sentence, side by side, to a `(4w, 7, 7)` map, then
  two upsampling blocks (7 -> 14 -> 28 px); after every convolution the features are batch
  normalised and scaled and shifted per channel by DF-GAN's `Affine` (a small MLP of the
  noise and the sentence, initialised to the identity). DF-GAN's own blocks (two affines and
  no normalisation) left every image black within 60 steps here on mnist-5k, so the
  normalisation (BigGAN's conditional batch norm) steadies the features;
- the discriminator (spectral normalisation on every layer) downsamples the image to
  `(4w, 7, 7)` and its head (DF-GAN's `NetC`) reads those features with the sentence copied
  over every position: one logit that says "a real image of this caption".

The sentence vector comes from a frozen text encoder (`ganops.text.matching`), as DF-GAN
reads its frozen DAMSM encoder's.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

IMAGE_SIZE = 28  # the networks' one size: 7 -> 14 -> 28 px


@dataclass(frozen=True)
class TextGanSpec:
    """What rebuilds the networks: image channels and side, base width, noise and sentence
    lengths."""

    channels: int
    image_size: int
    width: int
    noise_dim: int
    embed_dim: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TextGanSpec:
        return cls(**values)


def spec_problem(channels: int, image_size: int) -> str | None:
    """Why the networks cannot take such images, or None."""
    if image_size != IMAGE_SIZE:
        return f"task text draws {IMAGE_SIZE} px images; set data.image_size: {IMAGE_SIZE}"
    if channels not in (1, 3):
        return f"task text draws 1 or 3 channels, not {channels}"
    return None


class Affine(nn.Module):
    """Per-channel scale and shift of `(B, C, H, W)` features from a condition `(B, D)`;
    starts as the identity (DF-GAN's initialisation)."""

    def __init__(self, cond_dim: int, channels: int) -> None:
        super().__init__()
        self.scale = nn.Sequential(
            nn.Linear(cond_dim, channels), nn.ReLU(), nn.Linear(channels, channels)
        )
        self.shift = nn.Sequential(
            nn.Linear(cond_dim, channels), nn.ReLU(), nn.Linear(channels, channels)
        )
        for head, bias in ((self.scale[2], 1.0), (self.shift[2], 0.0)):
            assert isinstance(head, nn.Linear)
            nn.init.zeros_(head.weight)
            nn.init.constant_(head.bias, bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        scale = self.scale(cond)[:, :, None, None]  # (B, C, 1, 1)
        return scale * x + self.shift(cond)[:, :, None, None]  # type: ignore[no-any-return]


class ConditionalNorm(nn.Module):
    """Batch normalisation without its own scale and shift, then DF-GAN's `Affine` from the
    condition: the features' statistics are steadied, their scale and shift said by the text
    and the noise (BigGAN's conditional batch norm, with DF-GAN's MLP for the affine)."""

    def __init__(self, cond_dim: int, channels: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(channels, affine=False)
        self.affine = Affine(cond_dim, channels)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return self.affine(self.norm(x), cond)  # type: ignore[no-any-return]


class UpBlock(nn.Module):
    """Upsample x2 (nearest), a 3x3 convolution, conditional norm, ReLU."""

    def __init__(self, cond_dim: int, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, 1, 1)
        self.norm = ConditionalNorm(cond_dim, out_channels)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        x = self.conv(F.interpolate(x, scale_factor=2.0))
        return F.relu(self.norm(x, cond))


class TextGenerator(nn.Module):
    """Noise `(B, noise_dim)` and sentence `(B, embed_dim)` -> images `(B, C, 28, 28)` in
    [-1, 1]."""

    def __init__(self, spec: TextGanSpec) -> None:
        super().__init__()
        self.spec = spec
        w, cond = spec.width, spec.noise_dim + spec.embed_dim
        self.project = nn.Linear(cond, 4 * w * 7 * 7)
        self.norm = ConditionalNorm(cond, 4 * w)
        self.blocks = nn.ModuleList([UpBlock(cond, 4 * w, 2 * w), UpBlock(cond, 2 * w, w)])
        self.to_image = nn.Conv2d(w, spec.channels, 3, 1, 1)

    def forward(self, noise: torch.Tensor, sentence: torch.Tensor) -> torch.Tensor:
        cond = torch.cat([noise, sentence], 1)  # (B, noise_dim + embed_dim)
        x = self.project(cond).view(len(noise), 4 * self.spec.width, 7, 7)  # (B, 4w, 7, 7)
        x = F.relu(self.norm(x, cond))
        for block in self.blocks:
            x = block(x, cond)  # 7 -> 14 -> 28 px
        return torch.tanh(self.to_image(x))  # (B, C, 28, 28)


class TextDiscriminator(nn.Module):
    """Image `(B, C, 28, 28)` and sentence `(B, embed_dim)` -> one logit `(B,)`: a real image
    that fits the sentence (high) or not. Spectral normalisation on every layer."""

    def __init__(self, spec: TextGanSpec) -> None:
        super().__init__()
        w, sn = spec.width, nn.utils.parametrizations.spectral_norm
        self.embed_dim = spec.embed_dim
        self.features = nn.Sequential(
            sn(nn.Conv2d(spec.channels, w, 3, 1, 1)), nn.LeakyReLU(0.2),
            sn(nn.Conv2d(w, 2 * w, 4, 2, 1)), nn.LeakyReLU(0.2),  # 14 px
            sn(nn.Conv2d(2 * w, 4 * w, 4, 2, 1)), nn.LeakyReLU(0.2),  # 7 px
        )  # fmt: skip
        self.joint = nn.Sequential(
            sn(nn.Conv2d(4 * w + spec.embed_dim, 2 * w, 3, 1, 1)), nn.LeakyReLU(0.2),
            sn(nn.Conv2d(2 * w, 1, 7, 1, 0)),
        )  # fmt: skip

    def forward(self, images: torch.Tensor, sentence: torch.Tensor) -> torch.Tensor:
        return self.judge(self.features(images), sentence)

    def judge(self, features: torch.Tensor, sentence: torch.Tensor) -> torch.Tensor:
        """The head alone, on features `(B, 4w, 7, 7)` (DF-GAN scores the mismatched pairs on
        the real images' features)."""
        tiled = sentence[:, :, None, None].expand(-1, -1, *features.shape[2:])
        logits: torch.Tensor = self.joint(torch.cat([features, tiled], 1))  # (B, 1, 1, 1)
        return logits.flatten()  # (B,)


def build_networks(spec: TextGanSpec, seed: int) -> tuple[TextGenerator, TextDiscriminator]:
    """Fresh networks, their weights drawn from `seed` (the global stream is left alone)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return TextGenerator(spec), TextDiscriminator(spec)


@torch.no_grad()
def draw(
    generator: TextGenerator, noise: torch.Tensor, sentences: torch.Tensor, batch_size: int = 500
) -> torch.Tensor:
    """`generator` (in eval mode) over `noise` `(N, noise_dim)` and `sentences` `(N, D)`, in
    batches; images `(N, C, H, W)` in [-1, 1]."""
    was_training = generator.training
    generator.eval()
    out = torch.cat(
        [
            generator(noise[i : i + batch_size], sentences[i : i + batch_size])
            for i in range(0, len(noise), batch_size)
        ]
    )
    generator.train(was_training)
    return out

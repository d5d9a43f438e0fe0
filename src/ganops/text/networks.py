"""The text-to-image GAN's networks, after DF-GAN (M. Tao, H. Tang, F. Wu, X.-Y. Jing, B.-K.
Bao and C. Xu, "DF-GAN: A Simple and Effective Baseline for Text-to-Image Synthesis", CVPR
2022; github.com/tobran/DF-GAN, `code/models/GAN.py`), made small:

- the generator maps the noise and the sentence, side by side, to a `(cw, s, s)` map (s from
  4 to 7: 7 for 28 px digits, 4 for 32, 64 or 128 px), then one upsampling block per doubling
  (7 -> 14 -> 28 px; 4 -> 8 -> ... -> 64 px), the channels halving at each down to `w`
  (at most `8w` at the start); after every convolution the features are batch
  normalised and scaled and shifted per channel by DF-GAN's `Affine` (a small MLP of the
  noise and the sentence, initialised to the identity). DF-GAN's own blocks (two affines and
  no normalisation) left every image black within 60 steps here on mnist-5k, so the
  normalisation (BigGAN's conditional batch norm) steadies the features;
- the discriminator (spectral normalisation on every layer) downsamples the image by strided
  convolutions to the same `(cw, s, s)` and its head (DF-GAN's `NetC`) reads those features
  with the sentence copied over every position: one logit that says "a real image of this
  caption".

The sentence vector comes from a frozen text encoder (`ganops.text.matching`), as DF-GAN
reads its frozen DAMSM encoder's.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

MAX_IMAGE_SIZE = 256
_START_SIDES = range(4, 8)  # the side the generator starts from and the discriminator ends at
_MAX_WIDTH_FACTOR = 8  # channels next to the smallest map: at most 8 * width


def start_side(image_size: int) -> tuple[int, int]:
    """The side of the smallest map and the doublings from it to `image_size` (28 -> (7, 2),
    32 -> (4, 3), 64 -> (4, 4))."""
    side, doublings = image_size, 0
    while side > max(_START_SIDES) and side % 2 == 0:
        side, doublings = side // 2, doublings + 1
    return side, doublings


def level_channels(width: int, doublings: int) -> list[int]:
    """Channels of each map, the smallest first: `w * 2^k` for k = doublings .. 0, at most
    `8w` (28 px: 4w, 2w, w)."""
    return [width * min(2**k, _MAX_WIDTH_FACTOR) for k in range(doublings, -1, -1)]


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
    side, doublings = start_side(image_size)
    if side not in _START_SIDES or doublings == 0 or image_size > MAX_IMAGE_SIZE:
        return (
            f"task text draws images of s * 2^k px, s from 4 to 7, up to {MAX_IMAGE_SIZE} "
            "(28, 32, 64 or 128, say)"
        )
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
    """Noise `(B, noise_dim)` and sentence `(B, embed_dim)` -> images `(B, C, S, S)` in
    [-1, 1], S = `spec.image_size`."""

    def __init__(self, spec: TextGanSpec) -> None:
        super().__init__()
        self.spec = spec
        cond = spec.noise_dim + spec.embed_dim
        self.side, doublings = start_side(spec.image_size)
        self.channels = level_channels(spec.width, doublings)
        self.project = nn.Linear(cond, self.channels[0] * self.side**2)
        self.norm = ConditionalNorm(cond, self.channels[0])
        self.blocks = nn.ModuleList(
            [UpBlock(cond, c_in, c_out) for c_in, c_out in itertools.pairwise(self.channels)]
        )
        self.to_image = nn.Conv2d(spec.width, spec.channels, 3, 1, 1)

    def forward(self, noise: torch.Tensor, sentence: torch.Tensor) -> torch.Tensor:
        cond = torch.cat([noise, sentence], 1)  # (B, noise_dim + embed_dim)
        x = self.project(cond).view(len(noise), self.channels[0], self.side, self.side)
        x = F.relu(self.norm(x, cond))  # (B, cw, s, s)
        for block in self.blocks:
            x = block(x, cond)  # 7 -> 14 -> 28 px; 4 -> 8 -> ... -> S px
        return torch.tanh(self.to_image(x))  # (B, C, S, S)


class TextDiscriminator(nn.Module):
    """Image `(B, C, S, S)` and sentence `(B, embed_dim)` -> one logit `(B,)`: a real image
    that fits the sentence (high) or not. Spectral normalisation on every layer."""

    def __init__(self, spec: TextGanSpec) -> None:
        super().__init__()
        w, sn = spec.width, nn.utils.parametrizations.spectral_norm
        self.embed_dim = spec.embed_dim
        side, doublings = start_side(spec.image_size)
        channels = level_channels(w, doublings)[::-1]  # the image's side first
        layers: list[nn.Module] = [sn(nn.Conv2d(spec.channels, w, 3, 1, 1)), nn.LeakyReLU(0.2)]
        for c_in, c_out in itertools.pairwise(channels):  # 28 -> 14 -> 7 px; S -> ... -> 4 px
            layers += [sn(nn.Conv2d(c_in, c_out, 4, 2, 1)), nn.LeakyReLU(0.2)]
        self.features = nn.Sequential(*layers)
        self.joint = nn.Sequential(
            sn(nn.Conv2d(channels[-1] + spec.embed_dim, 2 * w, 3, 1, 1)), nn.LeakyReLU(0.2),
            sn(nn.Conv2d(2 * w, 1, side, 1, 0)),
        )  # fmt: skip

    def forward(self, images: torch.Tensor, sentence: torch.Tensor) -> torch.Tensor:
        return self.judge(self.features(images), sentence)

    def judge(self, features: torch.Tensor, sentence: torch.Tensor) -> torch.Tensor:
        """The head alone, on features `(B, cw, s, s)` (DF-GAN scores the mismatched pairs on
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

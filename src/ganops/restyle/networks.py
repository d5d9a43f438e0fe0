"""The networks of `task: restyle`: a content image drawn in the style of a reference image.

After MUNIT (Huang, Liu, Belongie and Kautz, "Multimodal Unsupervised Image-to-Image
Translation", ECCV 2018; NVlabs/MUNIT `networks.py`) and StarGAN v2 (Choi, Uh, Yoo and Ha,
"StarGAN v2: Diverse Image Synthesis for Multiple Domains", CVPR 2020; clovaai/stargan-v2
`core/model.py`), cut down to 28 px digits on a CPU:

- the **content encoder** (MUNIT's `ContentEncoder`): convolutions with instance
  normalisation, two halvings to a `(2w, H/4, W/4)` map and a residual block; instance
  normalisation takes out each channel's mean and spread, which is where MUNIT finds style;
- the **style encoder** (MUNIT's `StyleEncoder`, no normalisation, global average pooling):
  one `style_dim` vector per image, shared by every class (StarGAN v2 keeps one head per
  domain; here style must cross classes, so there is one);
- the **decoder**: residual blocks and upsampling convolutions whose every normalisation is
  AdaIN (Huang and Belongie 2017) with scale and shift from the style vector, one linear map
  per layer (StarGAN v2's `AdaIN`, `(1 + gamma) * IN(x) + beta`; MUNIT computes them all in one
  MLP). AdaIN at every resolution lets style reach the stroke's thickness (28 px) as well as
  the slant and width (7 px);
- the **discriminator** (StarGAN v2's): one real-or-generated logit per class, read at the
  class the image should show (the content's), so an output must look like a real digit of
  its content's class.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ganops.restyle.geometry import SHAPE_NUMBERS, shape_moments
from ganops.sampling import READABLE_PX, make_grid, to_uint8

MIN_SIZE = 8  # two halvings leave a 2 px map
MEASURED = len(SHAPE_NUMBERS)  # with the warp: the style vector's last numbers, measured


@dataclass(frozen=True)
class RestylerSpec:
    """What rebuilds a restyler: the images it takes and its sizes."""

    channels: int  # image channels
    image_size: int  # side, px (a multiple of 4)
    width: int  # channels next to the image; the content map has 2x
    style_dim: int  # length of the style vector
    blocks: int  # residual blocks of the content encoder and of the decoder
    num_classes: int  # classes the discriminator judges (the restyler does not use them)
    warp: int = 0  # 1: the decoder's drawing goes through a learned affine warp (`Warp`)
    strokes: int = 0  # 1: the warp's shape numbers are read with `strokes` (`shape_moments`)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> RestylerSpec:
        """The spec a `to_dict` wrote (one written before `warp` or `strokes` existed has
        none)."""
        fields = cls.__dataclass_fields__
        return cls(**{key: int(values.get(key, fields[key].default)) for key in fields})


def spec_problem(channels: int, image_size: int) -> str | None:
    """Why a restyler cannot take images of this shape, or None."""
    if image_size < MIN_SIZE or image_size % 4:
        return f"a restyler halves the side twice: it takes a multiple of 4 from {MIN_SIZE} px"
    if channels not in (1, 3):
        return f"a restyler takes 1 or 3 channels, not {channels}"
    return None


class AdaIN(nn.Module):
    """Instance normalisation whose scale and shift come from the style vector."""

    def __init__(self, style_dim: int, channels: int) -> None:
        super().__init__()
        self.norm = nn.InstanceNorm2d(channels, affine=False)
        self.fc = nn.Linear(style_dim, 2 * channels)

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        scale_shift: torch.Tensor = self.fc(style)[:, :, None, None]  # (B, 2C, 1, 1)
        gamma, beta = scale_shift.chunk(2, dim=1)
        normalised: torch.Tensor = self.norm(x)
        return (1 + gamma) * normalised + beta


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions with instance normalisation and a skip (the content encoder's)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, 1, 1),
            nn.InstanceNorm2d(channels, affine=True),
            nn.ReLU(),
            nn.Conv2d(channels, channels, 3, 1, 1),
            nn.InstanceNorm2d(channels, affine=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual: torch.Tensor = self.body(x)
        return x + residual


class AdaINResidualBlock(nn.Module):
    """Two 3x3 convolutions, each after AdaIN, and a skip (the decoder's)."""

    def __init__(self, channels: int, style_dim: int) -> None:
        super().__init__()
        self.norm1, self.norm2 = AdaIN(style_dim, channels), AdaIN(style_dim, channels)
        self.conv1 = nn.Conv2d(channels, channels, 3, 1, 1)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1)

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.relu(self.norm1(x, style)))
        h2: torch.Tensor = self.conv2(F.relu(self.norm2(h, style)))
        return x + h2


class ContentEncoder(nn.Module):
    """Image `(B, C, H, W)` -> content map `(B, 2w, H/4, W/4)`."""

    def __init__(self, spec: RestylerSpec) -> None:
        super().__init__()
        w = spec.width
        self.net = nn.Sequential(
            nn.Conv2d(spec.channels, w, 3, 1, 1),
            nn.InstanceNorm2d(w, affine=True),
            nn.ReLU(),
            nn.Conv2d(w, 2 * w, 4, 2, 1),  # H/2
            nn.InstanceNorm2d(2 * w, affine=True),
            nn.ReLU(),
            nn.Conv2d(2 * w, 2 * w, 4, 2, 1),  # H/4
            nn.InstanceNorm2d(2 * w, affine=True),
            nn.ReLU(),
            *(ResidualBlock(2 * w) for _ in range(spec.blocks)),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)  # type: ignore[no-any-return]


class StyleEncoder(nn.Module):
    """Image `(B, C, H, W)` -> style vector `(B, style_dim)`."""

    moment_mean: torch.Tensor  # (MEASURED,), with the warp only
    moment_std: torch.Tensor

    def __init__(self, spec: RestylerSpec) -> None:
        super().__init__()
        w = spec.width
        # with the warp, the last MEASURED numbers of the vector are the image's shape moments
        # (`ganops.restyle.geometry`), standardised by the train split's (`set_moment_scale`)
        self.measured = MEASURED if spec.warp else 0
        self.strokes = bool(spec.strokes)
        if self.measured:
            self.register_buffer("moment_mean", torch.zeros(MEASURED))
            self.register_buffer("moment_std", torch.ones(MEASURED))
        self.net = nn.Sequential(
            nn.Conv2d(spec.channels, w, 3, 1, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(w, 2 * w, 4, 2, 1),  # H/2
            nn.LeakyReLU(0.2),
            nn.Conv2d(2 * w, 4 * w, 4, 2, 1),  # H/4
            nn.LeakyReLU(0.2),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(4 * w, spec.style_dim),
        )

    @torch.no_grad()
    def set_moment_scale(self, images: torch.Tensor) -> None:
        """Standardise the measured numbers by the mean and spread of `images`' moments."""
        parts = torch.split(images, 500)
        moments = torch.cat([shape_moments(part, self.strokes) for part in parts])
        self.moment_mean.copy_(moments.mean(0))
        self.moment_std.copy_(moments.std(0).clamp(min=1e-4))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        learned = self.net(images)
        if not self.measured:
            return learned  # type: ignore[no-any-return]
        measured = (shape_moments(images, self.strokes) - self.moment_mean) / self.moment_std
        return torch.cat([learned[:, : -self.measured], measured], dim=1)


class Warp(nn.Module):
    """A spatial transformer (Jaderberg et al. 2015) on the decoder's drawing: shear, scale
    along each axis and shift, read from the style vector and the drawing's own shape moments
    (`ganops.restyle.geometry`), applied by resampling. Its last layer starts at zero, so a
    fresh warp is the identity; each number is bounded (shear ±1, scale 0.6 to 1.6 times, shift
    ±0.3 of the half-side)."""

    BOUNDS = (1.0, 0.5, 0.5, 0.3, 0.3)  # shear, log x-scale, log y-scale, x-shift, y-shift

    def __init__(self, style_dim: int, hidden: int = 32, strokes: bool = False) -> None:
        super().__init__()
        self.strokes = strokes  # the drawing's shape numbers read with `strokes`
        last = nn.Linear(hidden, len(self.BOUNDS))
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        self.net = nn.Sequential(
            nn.Linear(style_dim + len(SHAPE_NUMBERS), hidden), nn.LeakyReLU(0.2), last
        )

    def forward(self, images: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        moments = shape_moments(images, self.strokes)
        raw = torch.tanh(self.net(torch.cat([style, moments], dim=1)))
        shear, log_sx, log_sy, tx, ty = (raw * raw.new_tensor(self.BOUNDS)).unbind(1)
        sx, sy = log_sx.exp(), log_sy.exp()
        # output point (u, v) reads the drawing at (u / sx - shear * v / sy + tx, v / sy + ty):
        # the drawing scaled by (sx, sy), its columns then moved by shear * v (an italic lean
        # for shear < 0 in these coordinates, v down)
        zero = torch.zeros_like(shear)
        theta = torch.stack(
            [torch.stack([1 / sx, -shear / sy, tx], 1), torch.stack([zero, 1 / sy, ty], 1)], 1
        )  # (B, 2, 3)
        grid = F.affine_grid(theta, list(images.shape), align_corners=False)
        return F.grid_sample(images, grid, padding_mode="border", align_corners=False)


class Decoder(nn.Module):
    """Content map `(B, 2w, H/4, W/4)` and style `(B, style_dim)` -> image in [-1, 1]."""

    def __init__(self, spec: RestylerSpec) -> None:
        super().__init__()
        w, s = spec.width, spec.style_dim
        self.blocks = nn.ModuleList(AdaINResidualBlock(2 * w, s) for _ in range(spec.blocks))
        self.up1, self.norm1 = nn.Conv2d(2 * w, w, 3, 1, 1), AdaIN(s, w)  # H/2
        self.up2, self.norm2 = nn.Conv2d(w, w, 3, 1, 1), AdaIN(s, w)  # H
        self.out = nn.Conv2d(w, spec.channels, 3, 1, 1)
        self.warp = Warp(s, strokes=bool(spec.strokes)) if spec.warp else None

    def forward(self, content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        h = content
        for block in self.blocks:
            h = block(h, style)
        h = F.relu(self.norm1(self.up1(F.interpolate(h, scale_factor=2.0)), style))
        h = F.relu(self.norm2(self.up2(F.interpolate(h, scale_factor=2.0)), style))
        drawn = torch.tanh(self.out(h))
        return drawn if self.warp is None else self.warp(drawn, style)


class Restyler(nn.Module):
    """The generator: `restyler(content_images, style_images)` draws each content image in
    the style of its style image; `encode`/`decode` give the codes the losses compare."""

    def __init__(self, spec: RestylerSpec) -> None:
        super().__init__()
        self.spec = spec
        self.content_encoder = ContentEncoder(spec)
        self.style_encoder = StyleEncoder(spec)
        self.decoder = Decoder(spec)

    def forward(self, content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.content_encoder(content), self.style_encoder(style))  # type: ignore[no-any-return]


class ClassDiscriminator(nn.Module):
    """Image `(B, C, H, W)` and class `(B,)` -> one real-or-generated logit `(B,)`: the head of
    that class among `num_classes` (StarGAN v2's multi-task discriminator)."""

    def __init__(self, spec: RestylerSpec) -> None:
        super().__init__()
        w = spec.width
        side = spec.image_size // 8 + (1 if spec.image_size % 8 else 0)
        self.features = nn.Sequential(
            nn.Conv2d(spec.channels, w, 4, 2, 1),  # H/2
            nn.LeakyReLU(0.2),
            nn.Conv2d(w, 2 * w, 4, 2, 1),  # H/4
            nn.LeakyReLU(0.2),
            nn.Conv2d(2 * w, 4 * w, 3, 2, 1),  # ceil(H/8)
            nn.LeakyReLU(0.2),
            nn.Flatten(),
        )
        self.heads = nn.Linear(4 * w * side * side, spec.num_classes)

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.heads(self.features(images))  # (B, K)
        return logits.gather(1, labels[:, None])[:, 0]


def build_networks(spec: RestylerSpec, seed: int) -> tuple[Restyler, ClassDiscriminator]:
    """The restyler and its discriminator with PyTorch's default initialisation drawn from
    `seed`: the same weights for the same seed, the global random state untouched."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return Restyler(spec), ClassDiscriminator(spec)


@torch.no_grad()
def restyle_images(
    restyler: Restyler, content: torch.Tensor, style: torch.Tensor, batch_size: int = 500
) -> torch.Tensor:
    """`restyler` (in eval mode) over pairs `content[i]`, `style[i]` `(N, C, H, W)` in
    [-1, 1], in batches."""
    was_training = restyler.training
    restyler.eval()
    out = torch.cat(
        [
            restyler(content[i : i + batch_size], style[i : i + batch_size])
            for i in range(0, len(content), batch_size)
        ]
    )
    restyler.train(was_training)
    return out


def style_grid(restyler: Restyler, contents: torch.Tensor, styles: torch.Tensor) -> np.ndarray:
    """The picture a person reads at a glance: the style images along the top, the content
    images down the left, each cell that row's content in that column's style."""
    rows, columns = len(contents), len(styles)
    cells = restyle_images(
        restyler, contents.repeat_interleave(columns, 0), styles.repeat(rows, 1, 1, 1)
    ).reshape(rows, columns, *contents.shape[1:])
    top = torch.cat([torch.full_like(styles[:1], -1.0), styles])  # (1 + N, C, H, W)
    body = torch.cat([contents[:, None], cells], 1)  # (M, 1 + N, C, H, W)
    picture = torch.cat([top[None], body]).flatten(0, 1)
    return make_grid(to_uint8(picture), columns=columns + 1, min_side=READABLE_PX)

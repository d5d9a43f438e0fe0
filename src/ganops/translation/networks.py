"""The translators' networks: pix2pix's U-Net, CycleGAN's ResNet generator, the PatchGAN
discriminator and CycleGAN's pool of earlier fakes (after junyanz/pytorch-CycleGAN-and-pix2pix,
`models/networks.py` and `util/image_pool.py`).

All are fully convolutional and sized by a width and a number of down-samplings, so the same
code serves 28-32 px digits on a CPU and 128-256 px images on a GPU. Images are
`(B, C, H, W)` in [-1, 1]; generators end in tanh.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
from torch import nn


@dataclass(frozen=True)
class TranslatorSpec:
    """Everything needed to rebuild a translator's generator."""

    arch: str  # unet | resnet
    in_channels: int
    out_channels: int
    image_size: int
    width: int  # channels next to the image, doubling inward (at most 8x)
    downsamplings: int
    blocks: int  # resnet: residual blocks at the innermost resolution

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> TranslatorSpec:
        names = {field.name for field in fields(cls)}
        if set(raw) != names:
            missing, unknown = sorted(names - set(raw)), sorted(set(raw) - names)
            raise ValueError(f"translator spec: missing {missing}, unknown {unknown}")
        return cls(**raw)


def max_downsamplings(image_size: int) -> int:
    """How many times the side halves exactly while staying at least 4 px (28 -> 2)."""
    count, side = 0, image_size
    while side % 2 == 0 and side // 2 >= 4:
        count, side = count + 1, side // 2
    return count


def _channels(width: int, level: int) -> int:
    return width * min(2**level, 8)  # type: ignore[no-any-return]


def _check(spec: TranslatorSpec) -> None:
    if spec.downsamplings > max_downsamplings(spec.image_size):
        raise ValueError(
            f"{spec.downsamplings} down-samplings do not fit {spec.image_size} px images "
            f"(at most {max_downsamplings(spec.image_size)})"
        )


class UNetGenerator(nn.Module):
    """pix2pix's U-Net (Ronneberger et al. 2015; Isola et al. 2017): stride-2 4x4 encoder,
    a 3x3 bottleneck, a mirrored transposed-convolution decoder that takes the encoder's
    feature map of each resolution beside its own (the skips), tanh."""

    def __init__(self, spec: TranslatorSpec) -> None:
        super().__init__()
        _check(spec)
        depth, width = spec.downsamplings, spec.width
        self.stem = nn.Conv2d(spec.in_channels, width, 3, 1, 1)
        self.down = nn.ModuleList()
        for level in range(depth):
            inner, outer = _channels(width, level), _channels(width, level + 1)
            self.down.append(
                nn.Sequential(
                    nn.LeakyReLU(0.2),
                    nn.Conv2d(inner, outer, 4, 2, 1),
                    nn.InstanceNorm2d(outer, affine=True),
                )
            )
        deepest = _channels(width, depth)
        self.bottleneck = nn.Sequential(
            nn.LeakyReLU(0.2),
            nn.Conv2d(deepest, deepest, 3, 1, 1),
            nn.InstanceNorm2d(deepest, affine=True),
        )
        self.up = nn.ModuleList()
        for level in reversed(range(depth)):
            inner, outer = _channels(width, level + 1), _channels(width, level)
            self.up.append(
                nn.Sequential(
                    nn.ReLU(),
                    nn.ConvTranspose2d(2 * inner, outer, 4, 2, 1),
                    nn.InstanceNorm2d(outer, affine=True),
                )
            )
        self.head = nn.Sequential(
            nn.ReLU(), nn.Conv2d(2 * width, spec.out_channels, 3, 1, 1), nn.Tanh()
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        skips = [self.stem(images)]  # (B, width, H, W)
        for block in self.down:
            skips.append(block(skips[-1]))
        x = self.bottleneck(skips[-1])
        for block, skip in zip(self.up, reversed(skips[1:]), strict=True):
            x = block(torch.cat([x, skip], 1))
        return self.head(torch.cat([x, skips[0]], 1))  # type: ignore[no-any-return]


class _ResidualBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3),
            nn.InstanceNorm2d(channels, affine=True), nn.ReLU(),
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3),
            nn.InstanceNorm2d(channels, affine=True),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)  # type: ignore[no-any-return]


class ResnetGenerator(nn.Module):
    """CycleGAN's generator (Johnson et al. 2016): a 7x7 stem, stride-2 3x3 down-samplings,
    residual blocks, nearest up-sampling + 3x3 convolutions back (no checkerboard, and exact
    sizes for 7 -> 14 -> 28), a 7x7 head, tanh."""

    def __init__(self, spec: TranslatorSpec) -> None:
        super().__init__()
        _check(spec)
        width, depth = spec.width, spec.downsamplings
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3), nn.Conv2d(spec.in_channels, width, 7),
            nn.InstanceNorm2d(width, affine=True), nn.ReLU(),
        ]  # fmt: skip
        for level in range(depth):
            inner, outer = _channels(width, level), _channels(width, level + 1)
            layers += [
                nn.Conv2d(inner, outer, 3, 2, 1),
                nn.InstanceNorm2d(outer, affine=True),
                nn.ReLU(),
            ]
        layers += [_ResidualBlock(_channels(width, depth)) for _ in range(spec.blocks)]
        for level in reversed(range(depth)):
            inner, outer = _channels(width, level + 1), _channels(width, level)
            layers += [
                nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(inner, outer, 3, 1, 1),
                nn.InstanceNorm2d(outer, affine=True), nn.ReLU(),
            ]  # fmt: skip
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(width, spec.out_channels, 7), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)  # type: ignore[no-any-return]


class PatchDiscriminator(nn.Module):
    """PatchGAN (Isola et al. 2017): stride-2 4x4 convolutions, then two stride-1 ones; a map
    of logits, one per overlapping patch of the input."""

    def __init__(self, in_channels: int, width: int, layers: int) -> None:
        super().__init__()
        blocks: list[nn.Module] = [nn.Conv2d(in_channels, width, 4, 2, 1), nn.LeakyReLU(0.2)]
        for level in range(1, layers):
            inner, outer = _channels(width, level - 1), _channels(width, level)
            blocks += [
                nn.Conv2d(inner, outer, 4, 2, 1),
                nn.InstanceNorm2d(outer, affine=True),
                nn.LeakyReLU(0.2),
            ]
        inner, outer = _channels(width, layers - 1), _channels(width, layers)
        blocks += [
            nn.Conv2d(inner, outer, 4, 1, 1), nn.InstanceNorm2d(outer, affine=True),
            nn.LeakyReLU(0.2), nn.Conv2d(outer, 1, 4, 1, 1),
        ]  # fmt: skip
        self.net = nn.Sequential(*blocks)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)  # type: ignore[no-any-return]  # (B, 1, h, w)


def patch_map_side(image_size: int, layers: int) -> int:
    """The side of a `PatchDiscriminator`'s logit map for `image_size` px inputs."""
    side = image_size
    for _ in range(layers):
        side = side // 2
    return side - 2  # the two stride-1 4x4 convolutions with padding 1 take 1 px each


def patch_layers(image_size: int) -> int:
    """Stride-2 layers of the discriminator: pix2pix's 3 from 64 px, else the most (up to 2)
    that leave a logit map of at least 2x2."""
    if image_size >= 64:
        return 3
    return max([n for n in (1, 2) if patch_map_side(image_size, n) >= 2], default=1)


_GENERATORS: dict[str, Callable[[TranslatorSpec], nn.Module]] = {
    "unet": UNetGenerator,
    "resnet": ResnetGenerator,
}


def build_generator(spec: TranslatorSpec) -> nn.Module:
    """The generator `spec` describes."""
    if spec.arch not in _GENERATORS:
        raise ValueError(
            f"unknown translator {spec.arch!r}; known: {', '.join(sorted(_GENERATORS))}"
        )
    return _GENERATORS[spec.arch](spec)


@torch.no_grad()
def init_weights(module: nn.Module, seed: int) -> None:
    """Weights of convolutions N(0, 0.02), norms' scales N(1, 0.02), biases 0 (pix2pix's
    init), drawn from a generator of `seed`: deterministic, the global RNG untouched."""
    rng = torch.Generator().manual_seed(seed)
    for layer in module.modules():
        weight = getattr(layer, "weight", None)
        if weight is None:
            continue
        mean = 1.0 if isinstance(layer, nn.InstanceNorm2d) else 0.0
        weight.copy_(torch.randn(weight.shape, generator=rng) * 0.02 + mean)
        bias = getattr(layer, "bias", None)
        if isinstance(bias, torch.Tensor):
            bias.zero_()


@torch.no_grad()
def translate_images(
    generator: nn.Module, images: torch.Tensor, batch_size: int = 500
) -> torch.Tensor:
    """`generator` (in eval mode) over `images` `(N, C, H, W)` in [-1, 1], in batches."""
    was_training = generator.training
    generator.eval()
    out = torch.cat(
        [generator(images[i : i + batch_size]) for i in range(0, len(images), batch_size)]
    )
    generator.train(was_training)
    return out


class ImagePool:
    """CycleGAN's history of fakes (Shrivastava et al. 2017): once full, each image of a batch
    is swapped, with probability one half, for a stored one that it replaces; the draws come
    from the pool's own seeded generator, saved with it for an exact resume."""

    def __init__(self, size: int, seed: int) -> None:
        self.size = size
        self.images = torch.empty(0)
        self.rng = torch.Generator().manual_seed(seed)

    def query(self, images: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return images
        out = []
        for image in images.detach():
            if len(self.images) < self.size:
                stored = image.unsqueeze(0).cpu()
                self.images = stored if len(self.images) == 0 else torch.cat([self.images, stored])
                out.append(image)
            elif float(torch.rand((), generator=self.rng)) < 0.5:
                index = int(torch.randint(len(self.images), (), generator=self.rng))
                out.append(self.images[index].to(image.device).clone())
                self.images[index] = image.cpu()
            else:
                out.append(image)
        return torch.stack(out)

    def state_dict(self) -> dict[str, Any]:
        return {"images": self.images.clone(), "rng": self.rng.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.images = state["images"].clone()
        self.rng.set_state(state["rng"])

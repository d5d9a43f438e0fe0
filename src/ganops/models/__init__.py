"""Generators and discriminators, built from the `model` section and the data's image shape.

A generator maps `z` of shape `(B, latent_dim)` to images `(B, C, H, W)` in [-1, 1];
a discriminator maps images to one logit per image, `(B,)`. Both take class labels `(B,)`
as a second argument when the spec is conditional (`num_classes` > 0), and refuse them
otherwise. A conditional discriminator built with a class head also returns class logits
`(B, num_classes)` when called with `classify=True`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from torch import nn

from ganops.models import dcgan, mlp, resnet

_ARCHS = {
    "mlp": (mlp.MLPGenerator, mlp.MLPDiscriminator, mlp.image_size_problem),
    "dcgan": (dcgan.DCGANGenerator, dcgan.DCGANDiscriminator, dcgan.image_size_problem),
    "resnet": (resnet.ResNetGenerator, resnet.ResNetDiscriminator, resnet.image_size_problem),
}


@dataclass(frozen=True)
class GeneratorSpec:
    """Everything needed to rebuild a generator before loading its weights."""

    arch: str
    latent_dim: int
    width: int
    image_shape: tuple[int, int, int]  # (C, H, W)
    num_classes: int = 0  # classes the generator is conditioned on; 0 = unconditional
    upsample: str = "transposed"  # DCGAN's doubling layers: transposed | nearest

    def to_dict(self) -> dict[str, Any]:
        """Plain types only, so checkpoints load with `weights_only=True`. The default
        `upsample` is left out, so files of generators built before it existed keep their
        bytes."""
        spec = asdict(self)
        spec["image_shape"] = list(self.image_shape)
        if self.upsample == "transposed":
            del spec["upsample"]
        return spec

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> GeneratorSpec:
        """Inverse of `to_dict`; a `ValueError` names what is wrong. Specs saved before
        conditioning existed have no `num_classes` and load as unconditional."""
        try:
            shape = tuple(int(side) for side in raw["image_shape"])
            spec = cls(
                str(raw["arch"]),
                int(raw["latent_dim"]),
                int(raw["width"]),
                shape,  # type: ignore[arg-type]
                int(raw.get("num_classes", 0)),
                str(raw.get("upsample", "transposed")),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise ValueError(f"malformed generator spec: {error}") from None
        well_formed = spec.arch in _ARCHS and len(spec.image_shape) == 3
        if not well_formed or spec.num_classes < 0 or spec.upsample not in dcgan.UPSAMPLINGS:
            raise ValueError(f"malformed generator spec: {raw}")
        return spec


def upsampling(arch: str, requested: str) -> str:
    """The doubling layers of `arch`'s generator for `model.upsample`: only dcgan has a
    choice (mlp never upsamples; resnet's blocks always take nearest), so the others keep
    the spec's default."""
    return requested if arch == "dcgan" else "transposed"


def image_size_problem(arch: str, size: int) -> str | None:
    """Why `arch` cannot make `size` x `size` images, or None when it can."""
    return _ARCHS[arch][2](size)


def build_generator(spec: GeneratorSpec) -> nn.Module:
    """A freshly initialised generator for `spec`."""
    channels, size, _ = spec.image_shape
    if spec.arch == "dcgan":
        return dcgan.DCGANGenerator(
            spec.latent_dim, spec.width, channels, size, spec.num_classes, spec.upsample
        )
    if spec.upsample != "transposed":
        raise ValueError(f"upsample {spec.upsample!r} is a dcgan option, not {spec.arch}'s")
    build: type[nn.Module] = _ARCHS[spec.arch][0]
    return build(spec.latent_dim, spec.width, channels, size, spec.num_classes)


def build_discriminator(
    spec: GeneratorSpec,
    spectral_norm: bool = False,
    classifier: bool = False,
    width: int | None = None,
) -> nn.Module:
    """A freshly initialised discriminator matching the generator of `spec`, with a
    projection head when `spec` is conditional, and with `classifier` also a class head
    (AC-GAN): called with `classify=True` it then returns `(logits, class_logits)`.

    `spectral_norm` wraps the weight of every `Conv2d`, `Linear` and `Embedding` of D in
    spectral normalisation (Miyato et al. 2018); DCGAN's D then drops its batch norms. A
    resumed D must be rebuilt with the same choice, as its weights are stored differently.
    `width` is D's base width (`model.width_d`); None = the generator's.
    """
    channels, size, _ = spec.image_shape
    build = _ARCHS[spec.arch][1]
    width = width or spec.width
    return build(width, channels, size, spec.num_classes, spectral_norm, classifier)

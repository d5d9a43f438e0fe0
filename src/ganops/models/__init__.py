"""Generators and discriminators, built from the `model` section and the data's image shape.

A generator maps `z` of shape `(B, latent_dim)` to images `(B, C, H, W)` in [-1, 1];
a discriminator maps images to one logit per image, `(B,)`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from torch import nn

from ganops.models import dcgan, mlp

_ARCHS = {
    "mlp": (mlp.MLPGenerator, mlp.MLPDiscriminator, mlp.image_size_problem),
    "dcgan": (dcgan.DCGANGenerator, dcgan.DCGANDiscriminator, dcgan.image_size_problem),
}


@dataclass(frozen=True)
class GeneratorSpec:
    """Everything needed to rebuild a generator before loading its weights."""

    arch: str
    latent_dim: int
    width: int
    image_shape: tuple[int, int, int]  # (C, H, W)

    def to_dict(self) -> dict[str, Any]:
        """Plain types only, so checkpoints load with `weights_only=True`."""
        spec = asdict(self)
        spec["image_shape"] = list(self.image_shape)
        return spec

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> GeneratorSpec:
        """Inverse of `to_dict`; a `ValueError` names what is wrong."""
        try:
            shape = tuple(int(side) for side in raw["image_shape"])
            spec = cls(str(raw["arch"]), int(raw["latent_dim"]), int(raw["width"]), shape)  # type: ignore[arg-type]
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"malformed generator spec: {error}") from None
        if spec.arch not in _ARCHS or len(spec.image_shape) != 3:
            raise ValueError(f"malformed generator spec: {raw}")
        return spec


def image_size_problem(arch: str, size: int) -> str | None:
    """Why `arch` cannot make `size` x `size` images, or None when it can."""
    return _ARCHS[arch][2](size)


def build_generator(spec: GeneratorSpec) -> nn.Module:
    """A freshly initialised generator for `spec`."""
    channels, size, _ = spec.image_shape
    return _ARCHS[spec.arch][0](spec.latent_dim, spec.width, channels, size)  # type: ignore[no-any-return]


def build_discriminator(spec: GeneratorSpec) -> nn.Module:
    """A freshly initialised discriminator matching the generator of `spec`."""
    channels, size, _ = spec.image_shape
    return _ARCHS[spec.arch][1](spec.width, channels, size)  # type: ignore[no-any-return]

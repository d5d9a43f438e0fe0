"""The generator's inference artifact: its weights and the spec to rebuild it.

A plain dict of tensors and Python primitives, written atomically and read back with
`torch.load(..., weights_only=True)`, so loading never unpickles arbitrary objects. The
full resume state is `ganops.runs.resume`'s. A semi-supervised GAN's file also holds its
discriminator, the classifier (`load_classifier`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ganops.errors import DataError, first_line
from ganops.io import load_torch, save_torch
from ganops.models import GeneratorSpec, build_generator
from ganops.models.semi import build_semi_supervised_discriminator

GENERATOR_FORMAT = "ganops-generator/1"


@dataclass(frozen=True)
class ClassifierSpec:
    """What rebuilds a semi-supervised GAN's discriminator: `model.arch`, D's width, the
    image shape `(C, H, W)` and the names of its classes."""

    arch: str
    width: int
    image_shape: tuple[int, int, int]
    class_names: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "arch": self.arch,
            "width": self.width,
            "image_shape": list(self.image_shape),
            "class_names": list(self.class_names),
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> ClassifierSpec:
        shape = tuple(int(side) for side in raw["image_shape"])
        names = tuple(str(name) for name in raw["class_names"])
        return cls(str(raw["arch"]), int(raw["width"]), shape, names)  # type: ignore[arg-type]


def _weights(network: nn.Module) -> dict[str, torch.Tensor]:
    return {name: tensor.detach().cpu() for name, tensor in network.state_dict().items()}


def save_generator(
    path: Path,
    generator: nn.Module,
    spec: GeneratorSpec,
    classifier: tuple[nn.Module, ClassifierSpec] | None = None,
) -> None:
    """The inference artifact: the generator's weights and the spec to rebuild it (and a
    semi-supervised GAN's `classifier`, its discriminator, with its spec)."""
    payload: dict[str, Any] = {
        "format": GENERATOR_FORMAT,
        "spec": spec.to_dict(),
        "state_dict": _weights(generator),
    }
    if classifier is not None:
        network, classifier_spec = classifier
        payload["classifier"] = {"spec": classifier_spec.to_dict(), "state_dict": _weights(network)}
    save_torch(path, payload)


def load_classifier(
    path: Path, device: torch.device | None = None
) -> tuple[nn.Module, ClassifierSpec] | None:
    """The classifier a semi-supervised GAN's file holds (its discriminator), in eval mode,
    or None when the file holds none: called on images `(B, C, H, W)` in [-1, 1] it returns
    `(features, class logits)`."""
    payload = load_torch(path, "generator")
    if payload.get("format") != GENERATOR_FORMAT:
        raise DataError(f"{path}: not a ganops generator (format {payload.get('format')!r})")
    if "classifier" not in payload:
        return None
    try:
        spec = ClassifierSpec.from_dict(payload["classifier"]["spec"])
        network = build_semi_supervised_discriminator(
            spec.arch, spec.width, spec.image_shape, len(spec.class_names)
        )
        network.load_state_dict(payload["classifier"]["state_dict"])
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        reason = first_line(error, 160)
        raise DataError(f"{path}: classifier does not match its spec ({reason})") from None
    return network.to(device or torch.device("cpu")).eval(), spec


def load_generator(
    path: Path, device: torch.device | None = None
) -> tuple[nn.Module, GeneratorSpec]:
    """Rebuild a generator saved by `save_generator`, in eval mode."""
    payload = load_torch(path, "generator")
    if payload.get("format") != GENERATOR_FORMAT:
        raise DataError(f"{path}: not a ganops generator (format {payload.get('format')!r})")
    try:
        spec = GeneratorSpec.from_dict(payload["spec"])
        generator = build_generator(spec)
        generator.load_state_dict(payload["state_dict"])
    except (KeyError, ValueError, RuntimeError) as error:
        reason = first_line(error, 160)
        raise DataError(f"{path}: generator does not match its spec ({reason})") from None
    return generator.to(device or torch.device("cpu")).eval(), spec

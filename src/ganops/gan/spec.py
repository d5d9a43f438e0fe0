"""Checks that the data and the params fit together, before any training work."""

from __future__ import annotations

from typing import Any

from ganops.config import Params
from ganops.errors import ConfigError, DataError
from ganops.models import GeneratorSpec, upsampling


def conditional(setting: bool | str, classes: int) -> bool:
    """Whether `model.conditional` (true, false or auto) makes a class-conditional GAN of data
    with `classes` classes: auto does when there are two or more."""
    return classes >= 2 if setting == "auto" else bool(setting)


def describe_conditioning(setting: bool | str, num_classes: int) -> str:
    """How a run's generator is conditioned, and why: for logs, tags and reports."""
    kind = f"conditional, {num_classes} classes" if num_classes else "unconditional"
    return f"{kind} (model.conditional: {str(setting).lower()})"


def spec_for_data(params: Params, manifest: dict[str, Any], train_count: int) -> GeneratorSpec:
    """The generator to build for this data; a one-line error when data and params disagree."""
    channels, height, width = manifest["image_shape"]
    if height != params.data.image_size or width != params.data.image_size:
        raise DataError(
            f"the processed data holds {height}x{width} images but data.image_size is "
            f"{params.data.image_size}; rerun the preprocess stage"
        )
    if params.train.batch_size > train_count:
        raise ConfigError(
            f"train.batch_size: {params.train.batch_size} is larger than the training set "
            f"({train_count} images)"
        )
    model = params.model
    classes = len(manifest["class_names"])
    if model.conditional is True and classes < 2:
        raise DataError(
            f"model.conditional needs labelled data with at least two classes; "
            f"data.source {params.data.source!r} has {classes}"
        )
    unlabelled = int(manifest.get("splits", {}).get("train", {}).get("unlabelled", 0))
    if model.conditional is True and unlabelled:
        raise DataError(
            f"model.conditional: a conditional GAN needs the class of every training image, "
            f"and data.labelled_per_class left {unlabelled} without one; set "
            "model.conditional: auto (or false), or train.semi_supervised: true"
        )
    if params.train.semi_supervised and classes < 2:
        raise DataError(
            f"train.semi_supervised: its discriminator learns the classes of the labelled "
            f"images, and data.source {params.data.source!r} has {classes}"
        )
    # auto: unconditional on data whose images are not all labelled, and for a
    # semi-supervised GAN, whose classes are its discriminator's to learn
    conditions = not unlabelled and not params.train.semi_supervised
    num_classes = classes if conditions and conditional(model.conditional, classes) else 0
    shape = (channels, height, width)
    upsample = upsampling(model.arch, model.upsample)
    return GeneratorSpec(model.arch, model.latent_dim, model.width, shape, num_classes, upsample)

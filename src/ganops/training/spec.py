"""Checks that the data and the params fit together, before any training work."""

from __future__ import annotations

from typing import Any

from ganops.config import Params
from ganops.errors import ConfigError, DataError
from ganops.models import GeneratorSpec, upsampling


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
    num_classes = len(manifest["class_names"]) if model.conditional else 0
    if model.conditional and num_classes < 2:
        raise DataError(
            f"model.conditional needs labelled data with at least two classes; "
            f"data.source {params.data.source!r} has {num_classes}"
        )
    shape = (channels, height, width)
    upsample = upsampling(model.arch, model.upsample)
    return GeneratorSpec(model.arch, model.latent_dim, model.width, shape, num_classes, upsample)

"""The `text:` section of params.yaml: the text-to-image GAN of `task: text` (docs/text.md)."""

from __future__ import annotations

from pydantic import Field

from ganops.config.length import Length, epochs_field, steps_field
from ganops.config.sections import _Section


class TextConfig(_Section, Length):
    """Digits drawn from a caption: a sentence encoder trained on the real training pairs
    (frozen), a generator on noise and the sentence (DF-GAN's affine conditioning) and a
    matching-aware discriminator (DF-GAN's mismatched pairs and gradient penalty)."""

    caption_seed: int = Field(
        0, ge=0, lt=2**63, description="seed of the captions made for the digits (preprocess)"
    )
    width: int = Field(16, ge=4, le=512, description="channels next to the image, G and D")
    noise_dim: int = Field(32, ge=1, le=1024, description="length of the noise vector")
    embed_dim: int = Field(
        64, ge=2, le=1024, multiple_of=2, description="length of the sentence vector"
    )
    matching_epochs: int = Field(
        10, ge=1, le=1000, description="passes of the sentence encoder's training (real pairs)"
    )
    epochs: int | None = epochs_field(20, "passes of the GAN over the train split")
    steps: int | None = steps_field()
    batch_size: int = Field(64, ge=2, le=65_536, description="captioned images per step")
    lr_g: float = Field(2e-4, gt=0, le=1, description="Adam learning rate of G")
    lr_d: float = Field(4e-4, gt=0, le=1, description="Adam learning rate of D")
    beta1: float = Field(0.0, ge=0, lt=1, description="Adam beta1 (DF-GAN's 0)")
    beta2: float = Field(0.9, ge=0, lt=1, description="Adam beta2 (DF-GAN's 0.9)")
    gradient_penalty: float = Field(
        2.0, ge=0, le=1e4, description="weight of the matching-aware gradient penalty (DF-GAN's 2)"
    )
    penalty_power: float = Field(
        6.0, ge=1, le=12, description="power of the gradient norm in the penalty (DF-GAN's 6)"
    )
    seed: int = Field(0, ge=0, lt=2**63, description="seed of the weights, noise and batches")

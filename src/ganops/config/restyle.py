"""The `restyle:` section of params.yaml: the reference-guided translator of `task: restyle`
(docs/style.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from ganops.config.checks import folder_alone, known_source
from ganops.config.length import Length, epochs_field, steps_field
from ganops.config.sections import _Section


class RestyleConfig(_Section, Length):
    """A content image drawn in the style of a style image (MUNIT's encoders and AdaIN
    decoder, StarGAN v2's losses); the style images are `data.source`'s, the content images
    too unless `content_source` or `folder` names two domains."""

    content_source: str | None = Field(
        None,
        description="data source of the content images (domain A; the style images and the "
        "evaluator are data.source's, domain B); null = content and style from data.source",
    )
    folder: str | None = Field(
        None,
        min_length=1,
        description="your own two domains (data.source is not read), translate.folder's "
        "layouts: content from trainA/ (testA/), style from trainB/ (testB/); null = not used",
    )

    width: int = Field(16, ge=4, le=512, description="channels next to the image, every network")
    style_dim: int = Field(8, ge=1, le=512, description="length of the style vector")
    blocks: int = Field(
        2, ge=0, le=16, description="residual blocks of the content encoder and of the decoder"
    )
    epochs: int | None = epochs_field(6, "passes over the train split")
    steps: int | None = steps_field()
    batch_size: int = Field(32, ge=2, le=65_536, description="content images per step")
    lr: float = Field(3e-4, gt=0, le=1, description="Adam learning rate of every network")
    beta1: float = Field(0.0, ge=0, lt=1, description="Adam beta1 (StarGAN v2's 0)")
    beta2: float = Field(0.99, ge=0, lt=1, description="Adam beta2 (StarGAN v2's 0.99)")
    reconstruction: float = Field(
        10.0, ge=0, le=1e4, description="weight of |decode(content, own style) - image|"
    )
    style: float = Field(
        1.0, ge=0, le=1e4, description="weight of |style code of the output - the style's|"
    )
    content: float = Field(
        1.0, ge=0, le=1e4, description="weight of |content code of the output - the input's|"
    )
    cycle: float = Field(
        1.0, ge=0, le=1e4, description="weight of |output restyled back to its own style - image|"
    )
    diversity: float = Field(
        1.0,
        ge=0,
        le=1e4,
        description="weight of the diversity-sensitive term (two styles, two outputs), falling "
        "linearly to 0 over the run",
    )
    geometry: float = Field(
        0.0,
        ge=0,
        le=1e4,
        description="weight of |shape moments of the output - the style image's| (shear, "
        "height, width, ink: ganops.restyle.geometry); 0 = measured, not trained on",
    )
    geometry_numbers: Literal["moments", "strokes"] = Field(
        "moments",
        description="the four numbers the geometry term (and the warp) reads: moments = shear, "
        "height and width as moments and the mean ink; strokes = the same shear and width, "
        "the height as the rows that hold ink and the stroke's thickness (2 x ink / outline), "
        "which read the hand, not the digit",
    )
    ema_kimg: float = Field(
        0.0,
        ge=0,
        le=1e6,
        description="half-life in thousands of images of the moving average of the restyler's "
        "weights that the run shows and saves (StarGAN v2's nets_ema; 0 = off, the trained "
        "weights themselves)",
    )
    geometry_slant: float = Field(
        1.0,
        ge=0,
        le=1e4,
        description="the shear's weight in the geometry term beside the other three numbers' 1 "
        "(the term is their weighted mean): above 1 the term asks more for the style's slant",
    )
    semantic: float = Field(
        0.0,
        ge=0,
        le=1e4,
        description="weight of the cross-entropy of a frozen classifier of the style images' "
        "train split (the evaluator's recipe, a seed of its own) on the outputs against their "
        "content's class; 0 = off",
    )
    warp: bool = Field(
        False,
        description="the style vector's last 4 numbers are the image's shape moments and the "
        "decoder's drawing goes through a learned affine warp (shear, scale, shift) read from "
        "the style vector and the drawing's moments",
    )
    r1: float = Field(1.0, ge=0, le=1e4, description="weight of D's R1 penalty on real images")
    seed: int = Field(0, ge=0, lt=2**63, description="seed of the weights and the batches")

    _known_source = field_validator("content_source")(known_source)
    _both_domains = field_validator("folder")(
        folder_alone("content_source", "restyle.content_source")
    )

    @model_validator(mode="after")
    def _room_for_the_moments(self) -> RestyleConfig:
        if self.warp and self.style_dim <= 4:
            raise ValueError(
                f"restyle.warp: the style vector's last 4 numbers are the image's shape "
                f"moments, so restyle.style_dim must be above 4 (got {self.style_dim})"
            )
        return self

    @property
    def two_domains(self) -> bool:
        """Whether the content images come from a domain of their own (A)."""
        return self.content_source is not None or self.folder is not None

    @property
    def strokes(self) -> bool:
        """Whether the geometry term and the warp read the stroke numbers."""
        return self.geometry_numbers == "strokes"

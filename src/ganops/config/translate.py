"""The `translate:` section of params.yaml: the translator of `task: translate`
(docs/translation.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from ganops.config.checks import folder_alone, known_source
from ganops.config.length import Length, epochs_field, steps_field
from ganops.config.sections import _Section


def _unpaired(info: ValidationInfo) -> bool:
    """Whether the keys validated so far name two unpaired domains: a source of A or a folder."""
    return info.data.get("source") is not None or info.data.get("folder") is not None


class TranslateConfig(_Section, Length):
    """The translator of `task: translate` (docs/translation.md); B is `data.source`, or both
    domains are `folder`."""

    source: str | None = Field(
        None, description="data source of domain A (unpaired); null = A is B degraded (paired)"
    )
    folder: str | None = Field(
        None,
        min_length=1,
        description="your own translation data set, both domains (data.source is not read): "
        "paired A/ + B/ or side-by-side AB images, or unpaired trainA/ + trainB/ (testA/ "
        "testB/ optional); null = B is data.source",
    )
    degradation: Literal["uci"] = Field(
        "uci", description="paired: A from B by the UCI acquisition (8x8 px, 17 grey levels)"
    )
    generator: Literal["auto", "unet", "resnet"] = Field(
        "auto", description="auto = unet (pix2pix) when paired, resnet (CycleGAN) when unpaired"
    )
    method: Literal["cyclegan", "cut"] = Field(
        "cyclegan",
        description="unpaired: cyclegan (two generators, cycle terms) | cut (one generator, "
        "PatchNCE keeps the content; Park et al. 2020)",
    )
    width: int = Field(32, ge=4, le=512, description="channels next to the image, G and D")
    blocks: int = Field(4, ge=0, le=32, description="resnet generator: residual blocks")
    epochs: int | None = epochs_field(8, "passes over domain A's train split")
    steps: int | None = steps_field()
    batch_size: int = Field(32, ge=1, le=65_536, description="images per step (per domain)")
    lr: float = Field(2e-4, gt=0, le=1, description="Adam learning rate of every network")
    beta1: float = Field(0.5, ge=0, lt=1, description="Adam beta1")
    l1: float = Field(100.0, ge=0, le=1e4, description="paired: weight of the L1 term")
    cycle: float = Field(10.0, ge=0, le=1e4, description="unpaired: weight of the cycle terms")
    identity: float = Field(
        0.5, ge=0, le=100, description="unpaired: identity terms' weight, a share of cycle's"
    )
    pool_size: int = Field(50, ge=0, le=10_000, description="unpaired: earlier fakes D sees")
    nce: float = Field(
        1.0, ge=0, le=1e4, description="cut: weight of the PatchNCE terms (A's and B's identity)"
    )
    nce_patches: int = Field(
        256, ge=1, le=65_536, description="cut: positions sampled per layer and image"
    )
    semantic: float = Field(
        0.0, ge=0, le=1e4, description="CyCADA's semantic term: A's classifier keeps the class"
    )
    semantic_classifier: Literal["source", "handmade", "handmade_fixmatch"] = Field(
        "source",
        description="the semantic term's classifier of the translations, trained on A's train "
        "split as it is, or through the hand-made transform into B's style (MNIST <-> UCI "
        "digits), or that and FixMatch on B's unlabelled train images; A's own classifier "
        "reads the class of A's images either way",
    )
    semantic_b: float = Field(
        0.0,
        ge=0,
        le=1e4,
        description="cyclegan: CyCADA's semantic term on B's translations into A: A's "
        "classifier reads in each the class the reader of translations is sure of (FixMatch's "
        "threshold at its downstream default, 0.95) in its B image; 0 = off",
    )
    geometry: float = Field(
        0.0,
        ge=0,
        le=1e4,
        description="unpaired: GcGAN's geometry-consistency term (Fu et al. 2019): each "
        "generator must commute with a quarter turn, |G(rot(x)) - rot(G(x))|; 0 = off",
    )
    seed: int = Field(0, ge=0, lt=2**63, description="seed of weights, batches and pools")

    _known_source = field_validator("source")(known_source)
    _both_domains = field_validator("folder")(folder_alone("source", "translate.source"))

    @field_validator("method")
    @classmethod
    def _cut_is_unpaired(cls, value: str, info: ValidationInfo) -> str:
        """CUT has one generator and no paired loss: it needs two unpaired domains and the
        ResNet generator, whose encoder PatchNCE reads."""
        if value != "cut":
            return value
        if not _unpaired(info):
            raise ValueError(
                "cut translates unpaired domains: set translate.source (e.g. mnist-5k) or a "
                "translate.folder of trainA/ + trainB/"
            )
        if info.data.get("generator") == "unet":
            raise ValueError("cut needs the resnet generator: set translate.generator: auto")
        return value

    @field_validator("geometry")
    @classmethod
    def _geometry_is_unpaired(cls, value: float, info: ValidationInfo) -> float:
        """Paired domains have the true B image to follow: the term is GcGAN's, unpaired."""
        if value != 0 and not _unpaired(info):
            raise ValueError("translate.geometry is for unpaired domains (set translate.source)")
        return value

    @field_validator("semantic_b")
    @classmethod
    def _b_needs_a_reader_of_b(cls, value: float, info: ValidationInfo) -> float:
        """The term translates B into A, which only CycleGAN does, and labels B's images by a
        classifier that reads B: A's own reads raw B near chance."""
        if value == 0:
            return value
        if not _unpaired(info):
            raise ValueError("translate.semantic_b is for unpaired domains (set translate.source)")
        if info.data.get("method") != "cyclegan":
            raise ValueError("translate.semantic_b needs translate.method: cyclegan (B -> A)")
        if info.data.get("semantic_classifier") == "source":
            raise ValueError(
                "translate.semantic_b labels B's images by a reader of B: set "
                "translate.semantic_classifier: handmade or handmade_fixmatch"
            )
        return value

"""The params.yaml sections, one pydantic model each (`ganops.config` puts them together).

Every model forbids unknown keys and uses strict types, so `epochs: "10"` or `lr: yes` is an
error rather than a silent coercion; each field says its unit and bounds. The checks that
need a registry (data sources, augmentations) get it from the caller, through pydantic's
validation context.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from ganops.config.checks import known_source, registries_of
from ganops.config.length import Length, epochs_field, steps_field


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class DataConfig(_Section):
    """Where the images come from and how they are split."""

    source: str = Field("mnist-5k", description="name of a registered data source")
    image_size: int = Field(
        28, ge=8, le=1024, description="side of the square images the model sees, px"
    )
    test_size: int = Field(
        1000, ge=1, description="images held out for evaluation, stratified by class"
    )
    split_seed: int = Field(0, ge=0, description="seed of the train/test split")
    train_per_class: int | None = Field(
        None,
        ge=1,
        description="keep only this many training images per class (a seeded, stratified "
        "subset every stage sees; the test split is unchanged); null = all",
    )
    labelled_per_class: int | None = Field(
        None,
        ge=1,
        description="keep the labels of a seeded, stratified subset of this many training "
        "images a class; the other training images stay, without labels (the test split "
        "keeps all); null = every image labelled",
    )
    mirror: str | None = Field(
        None,
        pattern=r"^(https?|file)://\S+$",
        description="base URL tried first for downloads (<mirror>/<file name>); null = upstream",
    )
    folder: str | None = Field(
        None,
        min_length=1,
        validate_default=True,
        description="folder of images read by source folder (one sub-folder per class, or "
        "none); with task text, a folder of captioned images (docs/text.md)",
    )

    _known_source = field_validator("source")(known_source)

    @field_validator("folder")
    @classmethod
    def _folder_for_folder_source(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None and info.data.get("source") == "folder":
            raise ValueError("must name the folder of images when data.source is folder")
        return value


class ModelConfig(_Section):
    """The generator and discriminator architecture."""

    arch: Literal["mlp", "dcgan", "resnet"] = Field(
        "dcgan", description="network family: mlp, dcgan, or resnet (SNGAN, 32/64 px)"
    )
    latent_dim: int = Field(64, ge=1, le=4096, description="size of the generator's input z")
    width: int = Field(
        32,
        ge=1,
        le=1024,
        description="base width (of G, and of D unless width_d): DCGAN channels next to the "
        "image, MLP units of the first layer, ResNet channels of every block",
    )
    conditional: bool | Literal["auto"] = Field(
        False,
        description="class-conditional: G takes a label, D adds a projection term; auto = "
        "when the processed data has two or more classes",
    )
    spectral_norm: bool = Field(
        True, description="spectral normalisation of every D weight (replaces D's batch norm)"
    )
    width_d: int | None = Field(None, ge=1, le=1024, description="D's base width; null = width")
    upsample: Literal["transposed", "nearest"] = Field(
        "transposed", description="dcgan G: transposed convs, or nearest upsampling + conv"
    )


class TrainConfig(_Section, Length):
    """The adversarial training loop."""

    epochs: int | None = epochs_field(50, "epochs of training: the unit of grids and quick scores")
    steps: int | None = steps_field()
    epoch_repeats: int = Field(
        1,
        ge=1,
        le=10_000,
        description="passes over the training split in one epoch (each a fresh permutation); "
        "raise it for a small split, whose single pass would be a few steps",
    )
    batch_size: int = Field(64, ge=1, le=65_536, description="images per step")
    lr: float = Field(2e-4, gt=0, le=1, description="Adam learning rate of G (and of D by default)")
    lr_d: float | None = Field(
        None, gt=0, le=1, description="Adam learning rate of D; null = train.lr (TTUR if different)"
    )
    beta1: float = Field(0.5, ge=0, lt=1, description="Adam beta1 (momentum)")
    beta2: float = Field(0.999, ge=0, lt=1, description="Adam beta2")
    loss: Literal["nonsaturating", "hinge", "wgan", "lsgan"] = Field(
        "lsgan",
        description="adversarial loss: lsgan (least squares, Mao et al. 2017), hinge, "
        "nonsaturating (Goodfellow et al. 2014) or wgan (use with gradient_penalty)",
    )
    gradient_penalty: float = Field(
        0.0,
        ge=0,
        le=1e4,
        description="weight of the WGAN-GP gradient penalty (10 typical; 0 = off)",
    )
    r1_gamma: float = Field(
        0.0, ge=0, le=1e4, description="weight of the R1 penalty on real images (0 = off)"
    )
    ema_decay: float = Field(
        0.0, ge=0, lt=1, description="decay per step of the published average of G (0 = off)"
    )
    ema_kimg: float = Field(
        0.0, ge=0, le=1e6, description="half-life of that average in thousands of images (0 = off)"
    )
    lr_decay: float = Field(
        0.0, ge=0, lt=1, description="share of the run, at its end, over which lrs fall to 0"
    )
    augment: str = Field(
        "", description="DiffAugment policy, e.g. color,translation,cutout ('' = none)"
    )
    label_smoothing: float = Field(
        0.0, ge=0, lt=0.5, description="one-sided: D's target for real images is 1 - this"
    )
    mode_seeking: float = Field(
        0.0,
        ge=0,
        le=100,
        description="weight of the mode-seeking term of G's loss (MSGAN, Mao et al. 2019): "
        "lambda / (image distance / latent distance) over pairs sharing a class; 0 = off",
    )
    class_loss: float = Field(
        0.0,
        ge=0,
        le=100,
        description="weight of the auxiliary classifier loss (AC-GAN, Odena et al. 2017) of a "
        "conditional GAN: D's class head learns the real images' classes, G is scored on "
        "its own labels (an unconditional GAN has none: unused); 0 = off",
    )
    semi_supervised: bool = Field(
        False,
        description="semi-supervised GAN (Salimans et al. 2016): D classifies the labelled "
        "images into their K classes and tells real from generated by an implicit K+1th; G "
        "matches the mean of D's features on real images (feature matching); D is then a "
        "classifier, scored on the test split",
    )
    unlabelled_weight: float = Field(
        1.0, gt=0, le=100, description="semi-supervised GAN: weight of D's real-or-generated term"
    )
    seed: int = Field(0, ge=0, lt=2**63, description="seed of weights, batches and noise")
    grid_size: int = Field(64, ge=1, le=1024, description="images in the per-epoch grid")
    eval_every: int = Field(
        5, ge=0, description="epochs between quick FIDs against the test split (0 = never)"
    )
    eval_samples: int = Field(
        1000, ge=2, le=100_000, description="generated images (fixed latents) per quick FID"
    )
    collapse_threshold: float = Field(
        0.2,
        ge=0,
        le=10,
        description="warn (log and MLflow tag) when the quick intra-class diversity of the worst "
        "class falls below this; 0 = never",
    )
    publish: Literal["last", "best_fid"] = Field(
        "last", description="generator to publish: the last, or the one with the best quick FID"
    )

    @field_validator("augment")
    @classmethod
    def _known_policy(cls, value: str, info: ValidationInfo) -> str:
        registries = registries_of(info)
        return ",".join(registries["parse_policy"](value)) if registries else value


class RunConfig(_Section):
    """How the train stage runs, whatever the task trains: device, determinism, cadence of
    logs and checkpoints, processes, and the step's GPU switches."""

    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="auto = cuda when a GPU is present, else cpu"
    )
    log_every: int = Field(1, ge=1, description="steps between logged loss values")
    checkpoint_every: int = Field(
        0, ge=0, description="steps between resume checkpoints (0 = only at epoch ends)"
    )
    # the GAN's step; a translator trains in fp32, channels-first, not compiled
    autocast: Literal["auto", "on", "off"] = Field(
        "auto", description="bf16 autocast of the forward passes; auto = on for CUDA, off on CPU"
    )
    channels_last: Literal["auto", "on", "off"] = Field(
        "on",
        description="channels-last (NHWC) memory format of the networks and batches: on (on "
        "a CPU too: faster steps, the same bytes on every CPU) | off | auto = on for CUDA only",
    )
    compile: Literal["auto", "on", "off"] = Field(
        "auto",
        description="torch.compile both networks: on | off | auto = off on every device (on an "
        "H200 it was slower than channels-last alone, and failed beside it: docs/gpu.md; on a "
        "2-core CPU it was no faster: docs/benchmarks.md)",
    )
    deterministic: bool = Field(
        False,
        description="PyTorch's deterministic algorithms on a GPU (slower); CPU runs always are "
        "(a compiled CPU step turns them on)",
    )
    nproc: int = Field(
        1,
        ge=1,
        le=1024,
        description="processes (one per GPU) that `dvc repro` launches through torchrun; "
        "train.batch_size (a translator's: translate.batch_size) is the global batch, split "
        "evenly between them",
    )


class EvaluatorConfig(_Section, Length):
    """The classifier whose features and logits all scores use."""

    width: int = Field(16, ge=4, le=512, description="channels of its first convolutions")
    epochs: int | None = epochs_field(15, "passes over the training split")
    steps: int | None = steps_field()
    batch_size: int = Field(128, ge=1, le=65_536, description="images per step")
    lr: float = Field(3e-3, gt=0, le=1, description="peak Adam learning rate (one-cycle)")
    shift_px: int = Field(2, ge=0, le=8, description="random translation augmentation, px")
    seed: int = Field(0, ge=0, lt=2**63, description="seed of weights and batches")
    min_accuracy: float = Field(
        0.9, ge=0, le=1, description="test accuracy below which the stage fails"
    )
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="where to train it")


class EvalConfig(_Section):
    """Scoring the samples against the real test split."""

    kid_subsets: int = Field(100, ge=1, le=10_000, description="random subsets KID averages")
    kid_subset_size: int = Field(500, ge=2, description="images per KID subset (per set)")
    prc_neighborhood: int = Field(3, ge=1, le=100, description="k of precision/recall's k-NN")
    isc_splits: int = Field(10, ge=1, le=100, description="splits of the Inception Score")
    coverage_threshold: float = Field(
        0.25, gt=0, le=1, description="a class is covered at this share of its real frequency"
    )
    nn_samples: int = Field(
        16, ge=1, le=256, description="samples shown beside their nearest training image"
    )
    seed: int = Field(0, ge=0, lt=2**32, description="seed of KID subsets and IS shuffling")
    batch_size: int = Field(500, ge=1, le=65_536, description="images per evaluator forward")
    cas_epochs: int = Field(
        2, ge=1, le=1000, description="passes of each CAS classifier over its training images"
    )
    cas_seed: int = Field(
        0, ge=0, lt=2**63, description="seed of the CAS classifiers and their real images"
    )
    style_pairs: int = Field(
        500, ge=3, le=1_000_000, description="restyle: pairs whose shapes are measured for the "
        "style scores and the baselines that need no GAN (Morpho-MNIST, ~6 ms an image)"
    )  # fmt: skip
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="where to score")


class SampleConfig(_Section):
    """Sampling from the trained generator."""

    num_samples: int = Field(5000, ge=1, le=1_000_000, description="images written to disk")
    seed: int = Field(
        1, ge=0, lt=2**63, description="seed of the latent vectors (and of conditional labels)"
    )
    batch_size: int = Field(500, ge=1, le=65_536, description="images generated per forward")
    grid_size: int = Field(64, ge=1, le=1024, description="images in the sample grid")
    interpolation_rows: int = Field(8, ge=1, le=64, description="latent pairs interpolated")
    interpolation_steps: int = Field(10, ge=2, le=64, description="images per interpolation")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="where to generate")


class DownstreamConfig(_Section):
    """What a conditional generator's samples are worth to a classifier (the downstream stage)."""

    seeds: int = Field(3, ge=1, le=100, description="classifier seeds per arm (paired across arms)")
    seed: int = Field(0, ge=0, lt=2**63, description="first seed; the arms use seed, seed + 1, ...")
    steps: int = Field(
        400, ge=1, le=1_000_000, description="optimiser steps of every classifier, whatever its arm"
    )
    synthetic_share: float = Field(
        0.5,
        gt=0,
        le=0.5,
        description="share of each batch of the real + synthetic arm that is synthetic (the rest "
        "is real: at least half)",
    )
    min_confidence: float = Field(
        0.0,
        ge=0,
        lt=1,
        description="keep only synthetic images the evaluator gives at least this probability "
        "of their class; 0 = keep all",
    )
    pseudo_label_threshold: float = Field(
        0.95,
        gt=0,
        le=1,
        description="few labels (data.labelled_per_class), pseudo_label arm, and the "
        "translate task's self-training and FixMatch arms (downstream.alignment): an image "
        "trains the classifier when a classifier's prediction is at least this sure",
    )
    unlabelled_ratio: int = Field(
        1, ge=1, le=64, description="pseudo_label arm: unlabelled images per labelled one a step"
    )
    affine_degrees: float = Field(
        10.0, ge=0, le=180, description="classical arm: largest rotation either way, degrees"
    )
    affine_translate: float = Field(
        0.1, ge=0, le=0.5, description="classical arm: largest shift, as a share of the side"
    )
    affine_scale: float = Field(
        0.1, ge=0, lt=1, description="classical arm: largest zoom in or out, as a share"
    )
    alignment: bool = Field(
        False,
        description="task translate: also the alignment arms on B's unlabelled train images "
        "(self-training, DANN and FixMatch, from A and from A translated; FixMatch from A "
        "hand-made too): six or seven more classifiers a seed",
    )
    transformed_per_class: int | None = Field(
        None, ge=1, description="task restyle: digits a class the hand-made and restyled arms add"
    )
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="where to train them")
    workers: int | Literal["auto"] = Field(
        "auto",
        description="on the CPU, classifiers trained at once, each in a process of its own on "
        "one thread (the bytes are the same for any number); auto = one a CPU thread torch has",
    )

    @field_validator("workers", mode="before")
    @classmethod
    def _auto_or_count(cls, value: object) -> object:
        if value == "auto" or (type(value) is int and 1 <= value <= 64):
            return value
        raise ValueError("auto or a whole number from 1 to 64")


def _registry_name(default: str, what: str) -> Any:
    """The model-registry name of a task's model; null logs the model without registering."""
    description = f"model-registry name of {what}; null to skip registration"
    return Field(default, min_length=1, description=description)


class TrackingConfig(_Section):
    """How runs are recorded in MLflow."""

    experiment: str = Field("ganops", min_length=1, description="MLflow experiment name")
    registered_model: str | None = _registry_name(
        "ganops-generator", "the generator (task: generate)"
    )
    registered_translator: str | None = _registry_name(
        "ganops-translator", "the translator (task: translate)"
    )
    registered_restyler: str | None = _registry_name(
        "ganops-restyler", "the restyler (task: restyle)"
    )
    registered_text: str | None = _registry_name(
        "ganops-text", "the text-to-image model (task: text)"
    )
    local_fallback: bool = Field(
        False,
        description="when the MLflow server (MLFLOW_TRACKING_URI) cannot be reached at the "
        "start of training, log the run to the local store instead of stopping",
    )

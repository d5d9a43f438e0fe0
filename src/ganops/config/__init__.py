"""Validated, frozen configuration: one pydantic model per params.yaml section.

This is the one place where defaults and bounds live: the sections in `sections`, the whole
file (`Params`) and the checks across sections here. Every model forbids unknown keys and
uses strict types, so `epochs: "10"` or `lr: yes` is an error rather than a silent coercion.
`ganops.params` validates (turning any problem into a one-line `ConfigError` naming the key).
This package imports nothing of the package above it: the checks that need a registry (data
sources, augmentations) get it from the caller, through pydantic's validation context.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

from pydantic import Field

from ganops.config.checks import Registries
from ganops.config.restyle import RestyleConfig
from ganops.config.sections import (
    DataConfig,
    DownstreamConfig,
    EvalConfig,
    EvaluatorConfig,
    ModelConfig,
    RunConfig,
    SampleConfig,
    TrackingConfig,
    TrainConfig,
    _Section,
)
from ganops.config.text import TextConfig
from ganops.config.translate import TranslateConfig
from ganops.dotted import flatten
from ganops.errors import ConfigError

__all__ = [
    "DEFAULT_PARAMS_FILE",
    "MOVED_KEYS",
    "DataConfig",
    "DownstreamConfig",
    "EvalConfig",
    "EvaluatorConfig",
    "ModelConfig",
    "Params",
    "Registries",
    "RestyleConfig",
    "RunConfig",
    "SampleConfig",
    "TextConfig",
    "TrackingConfig",
    "TrainConfig",
    "TranslateConfig",
    "check_batch_split",
    "kid_subset_problem",
    "params_hash",
]

DEFAULT_PARAMS_FILE = Path("params.yaml")

# Params that change how a run is logged, saved or fetched but not the weights it produces; they are
# left out of the params hash so that, e.g., logging more often does not invalidate a checkpoint.
NOT_SHAPING_TRAINING = frozenset(
    {"run.log_every", "run.checkpoint_every", "train.collapse_threshold", "data.mirror"}
)
# keys added after runs were recorded, at the value that is the behaviour those runs had: left
# out of the hash at that value, so such a run keeps its hash (its checkpoint resumes,
# `ganops report` finds its MLflow run, run.json keeps its bytes)
UNHASHED_AT: dict[str, object] = {
    "restyle.content_source": None,
    "restyle.folder": None,
    "restyle.geometry": 0.0,
    "restyle.geometry_numbers": "moments",
    "restyle.geometry_slant": 1.0,
    "restyle.ema_kimg": 0.0,
    "restyle.semantic": 0.0,
    "restyle.warp": False,
    "translate.method": "cyclegan",
    "translate.nce": 1.0,
    "translate.nce_patches": 256,
    "translate.semantic_b": 0.0,
    "translate.geometry": 0.0,
}
# the sections whose values shape a task's trained weights; `run` (device, determinism,
# processes, the step's switches) shapes every task's
SHAPING_SECTIONS = {
    "generate": ("data", "model", "train", "run"),
    "translate": ("data", "translate", "run"),
    "restyle": ("data", "restyle", "run"),
    "text": ("data", "text", "run"),
}
# keys that moved to another section: an old params.yaml gets a one-line error naming the new
MOVED_KEYS = {
    f"train.{name}": f"run.{name}"
    for name in (
        "device", "log_every", "checkpoint_every", "autocast", "channels_last", "compile",
        "deterministic", "nproc",
    )
}  # fmt: skip


class Params(_Section):
    """The whole params.yaml."""

    task: Literal["generate", "translate", "restyle", "text"] = Field(
        "generate",
        description="generate images from noise, translate domain A into B, restyle: a "
        "content image in the style of a style image, or text: images from captions",
    )

    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    evaluator: EvaluatorConfig = EvaluatorConfig()
    train: TrainConfig = TrainConfig()
    run: RunConfig = RunConfig()
    sample: SampleConfig = SampleConfig()
    eval: EvalConfig = EvalConfig()
    downstream: DownstreamConfig = DownstreamConfig()
    tracking: TrackingConfig = TrackingConfig()
    translate: TranslateConfig = TranslateConfig()
    restyle: RestyleConfig = RestyleConfig()
    text: TextConfig = TextConfig()


def check_batch_split(
    batch_size: int, processes: int, who: str, origin: str = "", key: str = "train.batch_size"
) -> None:
    """A one-line `ConfigError` unless the global batch (`key`: the GAN's `train.batch_size`,
    the translator's `translate.batch_size`) splits evenly between `processes` (`who` names
    them: `run.nproc: 4`, `torchrun's 4`)."""
    if batch_size % processes:
        where = f"{origin}: " if origin else ""
        raise ConfigError(
            f"{where}{key}: {batch_size} does not split evenly between {who} processes"
        )


def kid_subset_problem(kid_subset_size: int, generated: int, reference: int) -> str | None:
    """Why KID cannot draw subsets of `eval.kid_subset_size` from sets of these sizes, or None."""
    smallest = min(generated, reference)
    if kid_subset_size <= smallest:
        return None
    return (
        f"eval.kid_subset_size: {kid_subset_size} is more than the {smallest} images KID "
        "draws its subsets from"
    )


def _derived_length(key: str, value: object, flat: dict[str, object]) -> bool:
    """A `<section>.epochs` left null (a run counted in steps, not yet turned into passes), or
    a `<section>.steps` that its set `epochs` makes unread: the hash names a run's length in
    the passes it takes, so a run counted in steps hashes, once its passes are known
    (`run_length.in_whole_epochs`), as the same run counted in epochs."""
    section, _, name = key.rpartition(".")
    if name == "epochs" and value is None:
        return True
    return name == "steps" and flat.get(f"{section}.epochs") is not None


def params_hash(params: Params, sections: tuple[str, ...] | None = None) -> str:
    """A short, stable hash of the params that shape the trained weights (by default the
    sections that shape its task's)."""
    sections = sections or SHAPING_SECTIONS[params.task]
    flat = flatten(params)
    shaping = {
        key: value
        for key, value in flat.items()
        if key.split(".", 1)[0] in sections
        and key not in NOT_SHAPING_TRAINING
        and not _derived_length(key, value, flat)
        and not (key in UNHASHED_AT and value == UNHASHED_AT[key])
    }
    canonical = json.dumps(shaping, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]

"""How long a run is, said once in steps, and a warning when it is much shorter than the
length its defaults were tuned for.

A training's length is `epochs`, passes over the data (`train.epochs`, `translate.epochs`,
`restyle.epochs`, `evaluator.epochs`), so a folder of 300 images trains a tenth as long as
mnist-5k's 4,000 with the same params; or `steps` (`translate.steps=1000`), which the run
turns into the whole passes that hold at least as many (`in_whole_epochs`), so the grids,
quick scores and resume points still fall at epoch ends. Each training says what its length
comes to ("8 epochs of 360 images in batches of 32 = 96 steps") and, below half the steps its
defaults were tuned for, what to set.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import TypeVar

from pydantic import BaseModel

log = logging.getLogger("ganops")

SHORT = 0.5  # a run below this share of its tuned steps gets the warning
Section = TypeVar("Section", bound=BaseModel)


@dataclass(frozen=True)
class TunedLength:
    """The steps a model's defaults were tuned for, and on what."""

    key: str  # the param that sets the run's length, e.g. `translate.epochs`
    steps: int
    on: str  # e.g. "mnist-5k's 4,000 images"

    @property
    def section(self) -> str:
        """The params section whose length this is, e.g. `translate`."""
        return self.key.partition(".")[0]


# the defaults' runs on mnist-5k (docs/benchmarks.md): 40 epochs of 4,000 in 64s; 8 epochs
# of 4,000 pairs in 32s; 15 epochs of 4,000 in 128s (the last batch short: 32 a pass)
GAN = TunedLength("train.epochs", 2480, "mnist-5k's 4,000 images")
TRANSLATOR = TunedLength("translate.epochs", 1000, "mnist-5k's 4,000 pairs")
EVALUATOR = TunedLength("evaluator.epochs", 480, "mnist-5k's 4,000 images")
# the restyler's default on mnist-5k (docs/style.md): 10 epochs of 4,000 in batches of 32
RESTYLER = TunedLength("restyle.epochs", 1250, "mnist-5k's 4,000 images")
# the text GAN's default on mnist-5k (docs/text.md): 20 epochs of 4,000 in batches of 64 (63 a pass)
TEXT = TunedLength("text.epochs", 1260, "mnist-5k's 4,000 images")


def describe_length(
    tuned: TunedLength, epochs: int, images: int, batch: int, steps: int
) -> tuple[str, str | None]:
    """The run's length in one line, and a warning (None when it is long enough) naming the
    value of `tuned.key` that gives about the tuned steps."""
    batches = f"in batches of {batch} = {steps:,} steps"
    line = f"{tuned.key}: {epochs} epochs of {images:,} images {batches}"
    if steps >= SHORT * tuned.steps:
        return line, None
    per_epoch = max(steps / epochs, 1e-9)
    enough = math.ceil(tuned.steps / per_epoch)
    share = f"{steps / tuned.steps:.0%}" if steps else "none"
    warning = (
        f"{tuned.key}: {steps:,} steps is {share} of the {tuned.steps:,} the defaults were "
        f"tuned for ({tuned.on}); set {tuned.section}.steps={tuned.steps} (or "
        f"{tuned.key}={enough}) for about as many"
    )
    return line, warning


def say_length(tuned: TunedLength, epochs: int, images: int, batch: int, steps: int) -> None:
    """Log the run's length, and the warning when it is short."""
    line, warning = describe_length(tuned, epochs, images, batch, steps)
    log.info("%s", line)
    if warning:
        log.warning("%s", warning)


def in_whole_epochs(cfg: Section, tuned: TunedLength, per_epoch: int) -> Section:
    """`cfg` (a section with `epochs` and `steps`) with its `epochs` the whole passes of
    `per_epoch` steps that hold at least `steps`, said once; as it is when `steps` is null."""
    steps = getattr(cfg, "steps", None)
    if steps is None:
        return cfg
    epochs = max(1, math.ceil(steps / max(per_epoch, 1)))
    log.info(
        "%s.steps: %s steps at %s a pass = %d epochs (%s steps; %s.epochs not read)",
        tuned.section, f"{steps:,}", f"{per_epoch:,}", epochs, f"{epochs * per_epoch:,}",
        tuned.section,
    )  # fmt: skip
    return cfg.model_copy(update={"epochs": epochs})


def with_whole_epochs(params: Section, tuned: TunedLength, per_epoch: int) -> Section:
    """`params` with its section `tuned.section` through `in_whole_epochs`."""
    section = getattr(params, tuned.section)
    return params.model_copy(update={tuned.section: in_whole_epochs(section, tuned, per_epoch)})

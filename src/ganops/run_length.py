"""How long a run is, said once in steps; a warning when it is much shorter than the length
its defaults were tuned for; and how often a run's per-epoch work (grids, quick scores,
checkpoints) comes, so that a small data set's short epochs do not multiply it.

A training's length is `steps` (params.yaml's defaults: `train.steps` 2480, `translate.steps`
1000, ...), which the run turns into the whole passes that hold at least as many
(`in_whole_epochs`), so grids, quick scores and resume points still fall at epoch ends; or
`epochs`, passes over the data, which when set is the length and leaves `steps` unread. On
mnist-5k the default steps are exactly the passes the defaults once counted in epochs (2,480
steps = 40 epochs of 62), so those runs are the same, step for step; a folder of 360 images
gets as many steps, in more, shorter passes. Each training says what its length comes to
("8 epochs of 360 images in batches of 32 = 96 steps") and, below half the steps its
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
    epochs: int  # the passes those steps are on it

    @property
    def per_epoch(self) -> float:
        """Steps in one of the tuned run's passes."""
        return self.steps / self.epochs

    @property
    def section(self) -> str:
        """The params section whose length this is, e.g. `translate`."""
        return self.key.partition(".")[0]


# the defaults' runs on mnist-5k (docs/benchmarks.md): 40 epochs of 4,000 in 64s; 8 epochs
# of 4,000 pairs in 32s; 15 epochs of 4,000 in 128s (the last batch short: 32 a pass)
GAN = TunedLength("train.epochs", 2480, "mnist-5k's 4,000 images", 40)
TRANSLATOR = TunedLength("translate.epochs", 1000, "mnist-5k's 4,000 pairs", 8)
EVALUATOR = TunedLength("evaluator.epochs", 480, "mnist-5k's 4,000 images", 15)
# the restyler's default on mnist-5k (docs/style.md): 6 epochs of 4,000 in batches of 32
RESTYLER = TunedLength("restyle.epochs", 750, "mnist-5k's 4,000 images", 6)
# the text GAN's default on mnist-5k (docs/text.md): 20 epochs of 4,000 in batches of 64 (63 a pass)
TEXT = TunedLength("text.epochs", 1260, "mnist-5k's 4,000 images", 20)


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
        f"tuned for ({tuned.on}); set {tuned.key}={enough} (or {tuned.section}.steps="
        f"{tuned.steps} with {tuned.key}=null) for about as many"
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
    `per_epoch` steps that hold at least `steps`, said once; as it is when `epochs` is set
    (then `steps` is not read, and a set one is said to be unread)."""
    steps, epochs = getattr(cfg, "steps", None), getattr(cfg, "epochs", None)
    if epochs is not None:
        if steps is not None:
            log.info("%s.epochs: %d set, so %s.steps (%s) is not read",
                     tuned.section, epochs, tuned.section, f"{steps:,}")  # fmt: skip
        return cfg
    if steps is None:  # the config's own check makes one of them set
        raise ValueError(f"{tuned.section}.epochs and {tuned.section}.steps are both null")
    epochs = max(1, math.ceil(steps / max(per_epoch, 1)))
    log.info(
        "%s.steps: %s steps at %s a pass = %d epochs (%s steps)",
        tuned.section, f"{steps:,}", f"{per_epoch:,}", epochs, f"{epochs * per_epoch:,}",
    )  # fmt: skip
    return cfg.model_copy(update={"epochs": epochs})


def with_whole_epochs(params: Section, tuned: TunedLength, per_epoch: int) -> Section:
    """`params` with its section `tuned.section` through `in_whole_epochs`."""
    section = getattr(params, tuned.section)
    return params.model_copy(update={tuned.section: in_whole_epochs(section, tuned, per_epoch)})


def epoch_stride(cfg: BaseModel, tuned: TunedLength, per_epoch: int) -> int:
    """Every how many epochs a run of `per_epoch`-step epochs does its per-epoch work (grid,
    quick scores, resume point, epoch line). Counted in `steps` (`cfg.epochs` null, before
    `in_whole_epochs`): 1 at the tuned run's epoch length or longer, more for shorter ones, so
    the work comes about as often in steps as in the tuned run. Counted in epochs: 1, the
    unit its user chose."""
    if getattr(cfg, "epochs", None) is not None:
        return 1
    return max(1, round(tuned.per_epoch / max(per_epoch, 1)))


def say_stride(tuned: TunedLength, per_epoch: int, stride: int) -> None:
    """Say, when it is more than 1, how the stride thins the per-epoch work."""
    if stride > 1:
        log.info(
            "%s: an epoch here is %d steps, against %.0f on %s: grids, quick scores and "
            "resume points every %d epochs (%d steps)",
            tuned.section, per_epoch, tuned.per_epoch, tuned.on, stride, stride * per_epoch,
        )  # fmt: skip


def epoch_work_due(step: int, per_epoch: int, stride: int, total: int) -> bool:
    """Whether the step just taken (`step` steps done) ends an epoch that does the per-epoch
    work: every `stride`-th epoch's end (`epoch_stride`), and the run's last step."""
    if step % per_epoch:
        return False
    return (step // per_epoch) % stride == 0 or step == total

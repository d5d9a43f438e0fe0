"""What every stage's table of tasks holds, and the paths a stage hands its task.

The stage scripts parse their arguments into these paths (written once, in `dvc.yaml`) and
call the function their table (`ganops.tasks.<stage>`) holds for `params.task`; they never
ask which task it is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from ganops.config import Params

P = TypeVar("P")
StageTable = dict[str, Callable[[Params, P], None]]  # task name -> what the stage does for it


@dataclass(frozen=True)
class PreprocessPaths:
    """What the preprocess stage reads and writes."""

    raw: Path  # raw data directory (fetch)
    processed: Path  # processed data directory to write


@dataclass(frozen=True)
class SamplePaths:
    """What the sample stage reads and writes."""

    model: Path  # the trained model file (a generator, or a translator)
    data: Path  # processed data directory (a translator's inputs come from it)
    run_record: Path  # run.json of the train stage
    out: Path  # samples directory to write


@dataclass(frozen=True)
class ScorePaths:
    """What the evaluate and downstream stages read and write."""

    samples: Path  # samples directory
    evaluator: Path  # evaluator.pt
    data: Path  # processed data directory
    run_record: Path  # run.json of the train stage
    metrics: Path  # metrics.json to write
    plots: Path  # plots directory to write
    model: Path | None = None  # the model file (downstream: a semi-supervised GAN's classifier)

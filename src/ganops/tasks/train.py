"""The train stage, per task: a GAN (`ganops.training.run`) or a translator
(`ganops.translation.run`), each tracked as one MLflow run."""

from __future__ import annotations

from collections.abc import Callable

from ganops.config import Params
from ganops.training.distributed import World
from ganops.training.run import TrainPaths, run_training
from ganops.translation.run import run_translation

TRAIN: dict[str, Callable[[Params, TrainPaths, World], object]] = {
    "generate": run_training,
    "translate": run_translation,
}

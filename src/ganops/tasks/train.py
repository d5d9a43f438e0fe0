"""The train stage, per task: a GAN (`ganops.gan.training`), a translator
(`ganops.translation.training`), a restyler (`ganops.restyle.training`) or a text-to-image
GAN (`ganops.text.training`), each tracked as
one MLflow run; and, for `run.nproc: N`, the stage rerun under torchrun once the task has
checked its inputs for N processes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ganops.config import Params
from ganops.gan.training import check_inputs, run_training
from ganops.restyle.training import check_restyle_inputs, run_restyle
from ganops.runs.distributed import World, run_under_torchrun
from ganops.runs.launch import RunPaths
from ganops.runs.lock import hold_checkpoints
from ganops.text.training import check_text_inputs, run_text
from ganops.translation.training import check_translation_inputs, run_translation

TRAIN: dict[str, Callable[[Params, RunPaths, World], object]] = {
    "generate": run_training,
    "translate": run_translation,
    "restyle": run_restyle,
    "text": run_text,
}
# what each task checks before any process starts: a one-line error, nothing written
CHECK_INPUTS: dict[str, Callable[[Params, RunPaths, World], object]] = {
    "generate": check_inputs,
    "translate": check_translation_inputs,
    "restyle": check_restyle_inputs,
    "text": check_text_inputs,
}


def relaunch_under_torchrun(params: Params, paths: RunPaths, script: Path, argv: list[str]) -> None:
    """`run.nproc` processes of `script` under torchrun, once the task's inputs are checked
    for that many; this stage holds the workspace for them (see `hold_checkpoints`)."""
    CHECK_INPUTS[params.task](params, paths, World(size=params.run.nproc))
    with hold_checkpoints(paths.checkpoints):
        run_under_torchrun(script, params.run.nproc, argv)

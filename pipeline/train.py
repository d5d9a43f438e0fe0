"""Stage train: train the task's model (a GAN, or a translator), tracked as one MLflow run.

With `run.nproc: N` (N > 1) the stage reruns itself under torchrun with N processes;
started by torchrun directly (e.g. across nodes), it trains with however many it is given.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields
from pathlib import Path

from ganops.params import load_params
from ganops.runner import stage_main
from ganops.runs.distributed import world_from_env
from ganops.runs.launch import RunPaths
from ganops.tasks.train import TRAIN, relaunch_under_torchrun

ARGUMENTS = {
    "--data": "processed data directory",
    "--evaluator": "evaluator.pt (quick FID)",
    "--model": "the trained model's file to write (a generator, a translator)",
    "--history": "history.tsv to write",
    "--fid-history": "fid.tsv to write",
    "--metrics": "metrics.json to write",
    "--run-record": "run.json to write",
    "--checkpoints": "resume state directory",
}


def run(args: argparse.Namespace, argv: list[str]) -> None:
    """Train, or rerun this script with the command line `argv` under torchrun."""
    params, world = load_params(args.params), world_from_env()  # validated before any work
    paths = RunPaths(**{field.name: getattr(args, field.name) for field in fields(RunPaths)})
    if params.run.nproc > 1 and not world.distributed:
        relaunch_under_torchrun(params, paths, Path(__file__), argv)
    else:
        TRAIN[params.task](params, paths, world)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    return stage_main("train", __doc__, ARGUMENTS, lambda args: run(args, argv), argv)


if __name__ == "__main__":
    sys.exit(main())

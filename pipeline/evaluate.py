"""Stage evaluate: score what the model made against domain B's real test split with the
evaluator: a generator's samples (and, for a conditional one, how well they show their classes:
accuracy and CAS); a translator's translations beside the baselines that need no training."""

from __future__ import annotations

import argparse
import sys

from ganops.params import load_params
from ganops.runner import stage_main
from ganops.tasks.base import ScorePaths
from ganops.tasks.evaluate import EVALUATE

ARGUMENTS = {
    "--samples": "samples directory",
    "--evaluator": "evaluator.pt",
    "--data": "processed data directory",
    "--run-record": "run.json (train)",
    "--metrics": "metrics.json to write",
    "--plots": "plots directory to write",
}


def run(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    paths = ScorePaths(
        args.samples, args.evaluator, args.data, args.run_record, args.metrics, args.plots
    )
    EVALUATE[params.task](params, paths)


def main(argv: list[str] | None = None) -> int:
    return stage_main("evaluate", __doc__, ARGUMENTS, run, argv)


if __name__ == "__main__":
    sys.exit(main())

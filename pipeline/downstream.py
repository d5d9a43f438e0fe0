"""Stage downstream: what the model's labelled images are worth to a classifier.

A conditional generator: a classifier on the real train split alone, with the labelled samples
added, and with classical augmentation instead, over several seeds, tested on the real test
split (an unconditional generator's samples carry no labels: one line, no numbers). With
few labels (data.labelled_per_class): a classifier on the labelled images, with augmentation,
with pseudo-labels on the unlabelled ones, and a semi-supervised GAN's discriminator. A
translator: a classifier on domain A as it is, with augmentation, translated into B, and through
the hand-made transform, tested on domain B's test split. A restyler: a classifier on the train
digits as they are, with augmentation, and with them added in other digits' hands (hand-made
and restyled), tested on the test split and on UCI digits' unseen writers.
"""

from __future__ import annotations

import argparse
import sys

from ganops.params import load_params
from ganops.runner import stage_main
from ganops.tasks.base import ScorePaths
from ganops.tasks.downstream import DOWNSTREAM

ARGUMENTS = {
    "--samples": "samples directory",
    "--evaluator": "evaluator.pt",
    "--data": "processed data directory",
    "--run-record": "run.json (train)",
    "--metrics": "metrics.json to write",
    "--plots": "plots directory to write",
    "--model": "the model file (a semi-supervised GAN's holds its classifier)",
}


def run(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    paths = ScorePaths(
        args.samples,
        args.evaluator,
        args.data,
        args.run_record,
        args.metrics,
        args.plots,
        args.model,
    )
    DOWNSTREAM[params.task](params, paths)


def main(argv: list[str] | None = None) -> int:
    return stage_main("downstream", __doc__, ARGUMENTS, run, argv)


if __name__ == "__main__":
    sys.exit(main())

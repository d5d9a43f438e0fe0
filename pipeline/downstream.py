"""Stage downstream: what the model's labelled images are worth to a classifier.

A conditional generator: a classifier on the real train split alone, with the labelled samples
added, and with classical augmentation instead, over several seeds, tested on the real test
split (an unconditional generator's samples carry no labels: one line, no numbers). With
few labels (data.labelled_per_class): a classifier on the labelled images, with augmentation,
with pseudo-labels on the unlabelled ones, and a semi-supervised GAN's discriminator. A
translator: a classifier on domain A as it is, with augmentation, translated into B, and through
the hand-made transform, tested on domain B's test split.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ganops.params import load_params
from ganops.runner import run_stage, stage_parser
from ganops.tasks.base import ScorePaths
from ganops.tasks.downstream import DOWNSTREAM

ARGUMENTS = {
    "--samples": "samples directory",
    "--evaluator": "evaluator.pt",
    "--data": "processed data directory",
    "--run-record": "run.json (train)",
    "--metrics": "metrics.json to write",
    "--plots": "plots directory to write",
    "--generator": "the model file (a semi-supervised GAN's holds its classifier)",
}


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser(__doc__)
    for flag, help_text in ARGUMENTS.items():
        parser.add_argument(flag, type=Path, required=True, help=help_text)
    args = parser.parse_args(argv)

    def body() -> None:
        params = load_params(args.params)
        paths = ScorePaths(
            args.samples,
            args.evaluator,
            args.data,
            args.run_record,
            args.metrics,
            args.plots,
            args.generator,
        )
        DOWNSTREAM[params.task](params, paths)

    return run_stage("downstream", body, args.verbose)


if __name__ == "__main__":
    sys.exit(main())

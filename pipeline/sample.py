"""Stage sample: what the trained model makes. A generator: samples, a grid and an
interpolation sheet (and, for a conditional one, the class of each sample); a translator: the
translation of domain A's test split and its grid."""

from __future__ import annotations

import argparse
import sys

from ganops.params import load_params
from ganops.runner import stage_main
from ganops.tasks.base import SamplePaths
from ganops.tasks.sample import SAMPLE

ARGUMENTS = {
    "--model": "the model file (train)",
    "--data": "processed data directory",
    "--run-record": "run.json (train)",
    "--out": "samples directory to write",
}


def run(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    paths = SamplePaths(args.model, args.data, args.run_record, args.out)
    SAMPLE[params.task](params, paths)


def main(argv: list[str] | None = None) -> int:
    return stage_main("sample", __doc__, ARGUMENTS, run, argv)


if __name__ == "__main__":
    sys.exit(main())

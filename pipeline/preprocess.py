"""Stage preprocess: split the raw data (seeded, stratified) into uint8 arrays + manifest."""

from __future__ import annotations

import argparse
import sys

from ganops.params import load_params
from ganops.runner import stage_main
from ganops.tasks.base import PreprocessPaths
from ganops.tasks.preprocess import PREPROCESS

ARGUMENTS = {
    "--raw": "raw data directory (fetch)",
    "--out": "processed data directory",
}


def run(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    PREPROCESS[params.task](params, PreprocessPaths(args.raw, args.out))


def main(argv: list[str] | None = None) -> int:
    return stage_main("preprocess", __doc__, ARGUMENTS, run, argv)


if __name__ == "__main__":
    sys.exit(main())

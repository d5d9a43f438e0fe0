"""Stage fetch: obtain the raw files of the task's data sources (checksummed) into one directory."""

from __future__ import annotations

import argparse
import sys

from ganops.params import load_params
from ganops.runner import stage_main
from ganops.tasks.fetch import FETCH

ARGUMENTS = {"--out": "raw data directory"}


def run(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    FETCH[params.task](params, args.out)


def main(argv: list[str] | None = None) -> int:
    return stage_main("fetch", __doc__, ARGUMENTS, run, argv)


if __name__ == "__main__":
    sys.exit(main())

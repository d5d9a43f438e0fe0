"""Stage preprocess: split the raw data (seeded, stratified) into uint8 arrays + manifest."""

from __future__ import annotations

import sys
from pathlib import Path

from ganops.params import load_params
from ganops.runner import run_stage, stage_parser
from ganops.tasks.base import PreprocessPaths
from ganops.tasks.preprocess import PREPROCESS


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser(__doc__)
    parser.add_argument("--raw", type=Path, required=True, help="raw data directory (fetch)")
    parser.add_argument("--out", type=Path, required=True, help="processed data directory")
    args = parser.parse_args(argv)

    def body() -> None:
        params = load_params(args.params)
        PREPROCESS[params.task](params, PreprocessPaths(args.raw, args.out))

    return run_stage("preprocess", body, args.verbose)


if __name__ == "__main__":
    sys.exit(main())

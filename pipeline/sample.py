"""Stage sample: what the trained model makes. A generator: samples, a grid and an
interpolation sheet (and, for a conditional one, the class of each sample); a translator: the
translation of domain A's test split and its grid."""

from __future__ import annotations

import sys
from pathlib import Path

from ganops.params import load_params
from ganops.runner import run_stage, stage_parser
from ganops.tasks.base import SamplePaths
from ganops.tasks.sample import SAMPLE


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser(__doc__)
    parser.add_argument("--generator", type=Path, required=True, help="the model file (train)")
    parser.add_argument("--data", type=Path, required=True, help="processed data directory")
    parser.add_argument("--run-record", type=Path, required=True, help="run.json (train)")
    parser.add_argument("--out", type=Path, required=True, help="samples directory to write")
    args = parser.parse_args(argv)

    def body() -> None:
        params = load_params(args.params)
        paths = SamplePaths(args.generator, args.data, args.run_record, args.out)
        SAMPLE[params.task](params, paths)

    return run_stage("sample", body, args.verbose)


if __name__ == "__main__":
    sys.exit(main())

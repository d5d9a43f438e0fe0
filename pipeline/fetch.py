"""Stage fetch: obtain the raw files of the task's data sources (checksummed) into one directory."""

from __future__ import annotations

import sys
from pathlib import Path

from ganops.params import load_params
from ganops.runner import run_stage, stage_parser
from ganops.tasks.fetch import FETCH


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser(__doc__)
    parser.add_argument("--out", type=Path, required=True, help="raw data directory")
    args = parser.parse_args(argv)

    def body() -> None:
        params = load_params(args.params)
        FETCH[params.task](params, args.out)

    return run_stage("fetch", body, args.verbose)


if __name__ == "__main__":
    sys.exit(main())

"""Stage fetch: obtain the raw files of `data.source` (checksummed) into the output directory."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from ganops.data.sources import fetch_source
from ganops.params import load_params
from ganops.runner import run_stage, stage_parser

log = logging.getLogger("fetch")


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser(__doc__)
    parser.add_argument("--out", type=Path, required=True, help="raw data directory")
    args = parser.parse_args(argv)

    def body() -> None:
        params = load_params(args.params)
        fetch_source(params.data, args.out)
        log.info("fetched %s into %s", params.data.source, args.out)

    return run_stage("fetch", body, args.verbose)


if __name__ == "__main__":
    sys.exit(main())

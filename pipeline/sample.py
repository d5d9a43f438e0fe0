"""Stage sample: draw samples, a grid and an interpolation sheet from the trained generator
(and, for a conditional one, the class of each sample)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from ganops.artifacts import load_generator
from ganops.device import resolve_device
from ganops.params import load_params
from ganops.run_record import RunRecord
from ganops.runner import run_stage, stage_parser
from ganops.sampling import write_samples
from ganops.tracking import open_run

log = logging.getLogger("sample")


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser(__doc__)
    parser.add_argument("--generator", type=Path, required=True, help="generator.pt (train)")
    parser.add_argument("--run-record", type=Path, required=True, help="run.json (train)")
    parser.add_argument("--out", type=Path, required=True, help="samples directory to write")
    args = parser.parse_args(argv)

    def body() -> None:
        # validate everything before any work
        params = load_params(args.params)
        device = resolve_device(params.sample.device, key="sample.device")
        generator, spec = load_generator(args.generator, device)
        run_id = RunRecord.read(args.run_record).run_id

        with open_run(params.tracking, run_id=run_id) as run:
            files = write_samples(generator, spec, params.sample, args.out, device)
            for name in ("grid.png", "interpolation.png"):
                run.log_artifact(files[name], "samples")
        log.info("%d samples written to %s", params.sample.num_samples, args.out)

    return run_stage("sample", body, args.verbose)


if __name__ == "__main__":
    sys.exit(main())

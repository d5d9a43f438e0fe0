"""Stage train_evaluator: train the classifier whose features and logits all scores use."""

from __future__ import annotations

import sys
from pathlib import Path

from ganops.data.dataset import load_split
from ganops.device import resolve_device
from ganops.io import write_json
from ganops.metrics.evaluator import fit_evaluator, save_evaluator
from ganops.params import load_params
from ganops.runner import run_stage, stage_parser


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser(__doc__)
    parser.add_argument("--data", type=Path, required=True, help="processed data directory")
    parser.add_argument("--evaluator", type=Path, required=True, help="evaluator.pt to write")
    parser.add_argument("--metrics", type=Path, required=True, help="metrics.json to write")
    args = parser.parse_args(argv)

    def body() -> None:
        # validate everything before any work
        cfg = load_params(args.params).evaluator
        device = resolve_device(cfg.device, key="evaluator.device")
        train, test = load_split(args.data, "train"), load_split(args.data, "test")
        network, test_accuracy, reference = fit_evaluator(cfg, train, test, device)
        save_evaluator(args.evaluator, network, test_accuracy, reference)
        write_json(args.metrics, {"accuracy": round(test_accuracy, 6)})

    return run_stage("train_evaluator", body, args.verbose)


if __name__ == "__main__":
    sys.exit(main())

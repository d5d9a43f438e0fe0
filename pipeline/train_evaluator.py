"""Stage train_evaluator: train the classifier whose features and logits all scores use."""

from __future__ import annotations

import argparse
import sys

from ganops.data.dataset import load_split
from ganops.device import resolve_device
from ganops.io import write_json
from ganops.metrics.evaluator import fit_evaluator, save_evaluator
from ganops.params import load_params
from ganops.runner import stage_main

ARGUMENTS = {
    "--data": "processed data directory",
    "--evaluator": "evaluator.pt to write",
    "--metrics": "metrics.json to write",
}


def run(args: argparse.Namespace) -> None:
    # validate everything before any work
    cfg = load_params(args.params).evaluator
    device = resolve_device(cfg.device, key="evaluator.device")
    train, test = load_split(args.data, "train"), load_split(args.data, "test")
    network, test_accuracy, reference = fit_evaluator(cfg, train, test, device)
    save_evaluator(args.evaluator, network, test_accuracy, reference)
    write_json(args.metrics, {"accuracy": round(test_accuracy, 6)})


def main(argv: list[str] | None = None) -> int:
    return stage_main("train_evaluator", __doc__, ARGUMENTS, run, argv)


if __name__ == "__main__":
    sys.exit(main())

"""Stage train_evaluator: train the classifier whose features and logits all scores use."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import torch

from ganops.config import load_params
from ganops.data.dataset import load_split
from ganops.errors import DataError
from ganops.io import write_json
from ganops.metrics import EvaluatorSpec, save_evaluator, train_evaluator
from ganops.metrics.evaluator import accuracy, extract
from ganops.runner import run_stage, stage_parser
from ganops.training import resolve_device

log = logging.getLogger("train_evaluator")


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser(__doc__)
    parser.add_argument("--data", type=Path, required=True, help="processed data directory")
    parser.add_argument("--evaluator", type=Path, required=True, help="evaluator.pt to write")
    parser.add_argument("--metrics", type=Path, required=True, help="metrics.json to write")
    args = parser.parse_args(argv)

    def body() -> None:
        # validate everything before any work
        params = load_params(args.params)
        cfg = params.evaluator
        device = resolve_device(cfg.device, key="evaluator.device")
        train, test = load_split(args.data, "train"), load_split(args.data, "test")
        spec = EvaluatorSpec(tuple(train.images.shape[1:]), train.class_names, cfg.width)  # type: ignore[arg-type]

        network = train_evaluator(cfg, spec, (train.images, train.labels), device)
        features, logits = extract(network, test.images, 500, device)
        test_accuracy = accuracy(logits, test.labels)
        log.info("evaluator test accuracy %.4f on %d images", test_accuracy, len(test.labels))
        if test_accuracy < cfg.min_accuracy:
            raise DataError(
                f"the evaluator reached test accuracy {test_accuracy:.4f}, below "
                f"evaluator.min_accuracy {cfg.min_accuracy}; scores from it would mean little "
                "(raise evaluator.epochs or lower evaluator.min_accuracy)"
            )
        reference = {
            "features": features,
            "logits": logits,
            "labels": torch.from_numpy(test.labels),
        }
        save_evaluator(args.evaluator, network, test_accuracy, reference)
        write_json(args.metrics, {"accuracy": round(test_accuracy, 6)})

    return run_stage("train_evaluator", body, args.verbose)


if __name__ == "__main__":
    sys.exit(main())

"""Stage evaluate: score the samples against the real test split with the evaluator (and, for
a conditional generator's samples, how well they show their classes: accuracy and CAS)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import numpy as np

from ganops.config import flatten_mapping
from ganops.data.dataset import Split, load_split
from ganops.device import resolve_device
from ganops.io import atomic_dir, write_bytes, write_json, write_text
from ganops.metrics.conditional import Conditioning, cas_recipe
from ganops.metrics.evaluation import Evaluation, as_metrics, evaluate
from ganops.metrics.evaluator import load_evaluator
from ganops.metrics.features import check_image_shape, check_sample_labels
from ganops.metrics.scores import check_sizes
from ganops.params import load_params
from ganops.plots import class_histogram_png, neighbour_sheet
from ganops.run_record import RunRecord
from ganops.runner import run_stage, stage_parser
from ganops.sampling import load_samples, png_bytes
from ganops.tracking import open_run

log = logging.getLogger("evaluate")


def write_plots(folder: Path, result: Evaluation, train: Split, shown: np.ndarray) -> None:
    """The class histogram (TSV for `dvc plots`, PNG for MLflow) and the neighbour sheet."""
    rows = zip(train.class_names, result.generated_share, result.real_share, strict=True)
    table = "class\tgenerated\treal\n" + "".join(
        f"{name}\t{ours:.6f}\t{real:.6f}\n" for name, ours, real in rows
    )
    histogram = class_histogram_png(train.class_names, result.generated_share, result.real_share)
    sheet = neighbour_sheet(shown, train.images[result.neighbours])  # top: samples
    with atomic_dir(folder) as staging:
        write_text(staging / "class_histogram.tsv", table)
        write_bytes(staging / "class_histogram.png", histogram)
        write_bytes(staging / "nearest_neighbours.png", png_bytes(sheet))


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser(__doc__)
    parser.add_argument("--samples", type=Path, required=True, help="samples directory")
    parser.add_argument("--evaluator", type=Path, required=True, help="evaluator.pt")
    parser.add_argument("--data", type=Path, required=True, help="processed data directory")
    parser.add_argument("--run-record", type=Path, required=True, help="run.json (train)")
    parser.add_argument("--metrics", type=Path, required=True, help="metrics.json to write")
    parser.add_argument("--plots", type=Path, required=True, help="plots directory to write")
    args = parser.parse_args(argv)

    def body() -> None:
        # validate everything before any work
        params = load_params(args.params)
        cfg = params.eval
        device = resolve_device(cfg.device, key="eval.device")
        evaluator = load_evaluator(args.evaluator)
        samples, labels = load_samples(args.samples)  # (N, C, H, W) uint8, (N,) or None
        check_image_shape(samples, evaluator, str(args.samples))
        train = load_split(args.data, "train")
        reference_count = len(evaluator.reference_features)
        check_sizes(len(samples), reference_count, cfg)
        check_sizes(len(train.images), reference_count, cfg)  # the real floor
        conditioning = None
        if labels is not None:
            check_sample_labels(labels, evaluator, str(args.samples))
            test = load_split(args.data, "test")
            conditioning = Conditioning(labels, test, cas_recipe(params.evaluator, cfg))
        record = RunRecord.read(args.run_record)

        with open_run(params.tracking, run_id=record.run_id) as run:
            result = evaluate(evaluator, samples, train, cfg, device, conditioning)
            metrics = as_metrics(result, len(samples))
            write_plots(args.plots, result, train, samples[: cfg.nn_samples])
            write_json(args.metrics, metrics)
            run.log_summary(flatten_mapping(metrics), step=record.steps)
            run.log_artifact(args.plots, "eval")
        log.info(
            "fid %.3f (real floor %.3f)  precision %.3f  recall %.3f  classes %d",
            result.scores["fid"],
            result.real_floor["fid"],
            result.scores["precision"],
            result.scores["recall"],
            int(result.scores["classes_covered"]),
        )
        if conditioning is not None:
            log.info(
                "conditional accuracy %.3f  cas %.3f (real %.3f)",
                result.scores["conditional_accuracy"],
                result.scores["cas"],
                result.scores["cas_real"],
            )

    return run_stage("evaluate", body, args.verbose)


if __name__ == "__main__":
    sys.exit(main())

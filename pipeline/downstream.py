"""Stage downstream: what a conditional generator's samples are worth to a classifier.

Trains the evaluator's classifier on the real train split alone, with the labelled samples
added, and with classical augmentation instead, over several seeds, and tests each on the
real test split. Samples without class labels (an unconditional generator) have nothing to
offer a classifier: the stage says so in one line and writes no numbers.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

from ganops.config import flatten_mapping
from ganops.data.dataset import load_split
from ganops.device import resolve_device
from ganops.downstream import ARMS, GAINS, Labelled, confident, run_arms, summarise
from ganops.io import atomic_dir, write_bytes, write_json, write_text
from ganops.metrics.evaluator import extract, load_evaluator
from ganops.metrics.features import check_image_shape, check_sample_labels
from ganops.params import load_params
from ganops.plots import arms_png
from ganops.run_record import RunRecord
from ganops.runner import run_stage, stage_parser
from ganops.sampling import load_samples
from ganops.tracking import open_run

log = logging.getLogger("downstream")


def write_plots(folder: Path, accuracies: dict[str, list[float]], summary: dict[str, Any]) -> None:
    """`accuracy.tsv` (one row per arm, for `dvc plots`) and `arms.png` (every seed)."""
    rows = "".join(
        f"{arm}\t{summary[arm]['accuracy_mean']:.6f}\t{summary[arm]['accuracy_std']:.6f}\n"
        for arm in accuracies
    )
    seeds = len(next(iter(accuracies.values())))
    with atomic_dir(folder) as staging:
        write_text(staging / "accuracy.tsv", "arm\taccuracy_mean\taccuracy_std\n" + rows)
        picture = arms_png(accuracies, f"Classifier test accuracy by training data ({seeds} seeds)")
        write_bytes(staging / "arms.png", picture)


def as_mlflow(summary: dict[str, Any]) -> dict[str, float]:
    """The summary as MLflow metrics under `downstream.`: numbers only, true/false as 1/0."""
    flat = flatten_mapping({"downstream": summary})
    return {key: float(value) for key, value in flat.items() if value is not None}


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
        cfg = params.downstream
        device = resolve_device(cfg.device, key="downstream.device")
        samples, labels = load_samples(args.samples)  # (N, C, H, W) uint8, (N,) or None
        if labels is None:
            log.info(
                "%s holds no class labels (an unconditional generator): no classifier to "
                "train on them; set model.conditional: true to measure them",
                args.samples,
            )
            with atomic_dir(args.plots):
                pass
            write_json(args.metrics, {})
            return
        evaluator = load_evaluator(args.evaluator)
        check_image_shape(samples, evaluator, str(args.samples))
        check_sample_labels(labels, evaluator, str(args.samples))
        train, test = load_split(args.data, "train"), load_split(args.data, "test")
        record = RunRecord.read(args.run_record)

        with open_run(params.tracking, run_id=record.run_id) as run:
            _, logits = extract(evaluator.network, samples, 500, device)
            synthetic, dropped = confident(Labelled(samples, labels), logits, cfg.min_confidence)
            real = Labelled(train.images, train.labels)
            spec = evaluator.network.spec  # the evaluator's architecture
            accuracies = run_arms(params.evaluator, spec, real, synthetic, test, cfg, device)
            summary = summarise(accuracies) | {
                "real_images": len(real.labels),
                "synthetic_images": len(synthetic.labels),
                "synthetic_dropped": dropped,
            }
            write_plots(args.plots, accuracies, summary)
            write_json(args.metrics, summary)
            run.log_summary(as_mlflow(summary), step=record.steps)
            run.log_artifact(args.plots, "downstream")
        for arm in ARMS:
            mean, std = summary[arm]["accuracy_mean"], summary[arm]["accuracy_std"]
            log.info("%-15s accuracy %.2f%% ± %.2f", arm, 100 * mean, 100 * std)
        for name, _, _ in GAINS:
            gain = summary[name]
            stderr = "n/a" if gain["stderr"] is None else f"{100 * gain['stderr']:.2f}"
            verdict = "beyond 2 standard errors" if gain["significant"] else "within noise"
            log.info("%s %+.2f points (standard error %s): %s", name, 100 * gain["mean"],
                     stderr, verdict)  # fmt: skip

    return run_stage("downstream", body, args.verbose)


if __name__ == "__main__":
    sys.exit(main())

"""Stage train: train the GAN on the processed train split, tracked as one MLflow run."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from ganops.config import load_params, params_hash
from ganops.data.dataset import load_split, read_manifest, to_training_tensor
from ganops.io import write_json
from ganops.runner import run_stage, stage_parser
from ganops.tracking import HistoryFile, open_run, redact_uri
from ganops.training import (
    Checkpointing,
    FanOut,
    GanState,
    last_epoch_means,
    read_resume_state,
    resolve_device,
    save_generator,
    spec_for_data,
    train,
)
from ganops.training.loop import METRIC_NAMES

log = logging.getLogger("train")
RESUME_FILE = "last.pt"


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser(__doc__)
    parser.add_argument("--data", type=Path, required=True, help="processed data directory")
    parser.add_argument("--generator", type=Path, required=True, help="generator.pt to write")
    parser.add_argument("--history", type=Path, required=True, help="history.tsv to write")
    parser.add_argument("--metrics", type=Path, required=True, help="metrics.json to write")
    parser.add_argument("--run-record", type=Path, required=True, help="run.json to write")
    parser.add_argument("--checkpoints", type=Path, required=True, help="resume state directory")
    args = parser.parse_args(argv)

    def body() -> None:
        # validate everything before any work
        params = load_params(args.params)
        cfg = params.train
        device = resolve_device(cfg.device)
        split = load_split(args.data, "train")
        spec = spec_for_data(params, read_manifest(args.data), len(split.images))
        data = to_training_tensor(split.images, device)  # (N, C, H, W) in [-1, 1]
        state = GanState.create(spec, cfg, device)
        total_steps = cfg.epochs * (len(split.images) // cfg.batch_size)
        resume = read_resume_state(args.checkpoints / RESUME_FILE, params_hash(params), total_steps)
        history = HistoryFile(args.history, (*METRIC_NAMES, "images_per_s"))
        if resume:
            state.load_state_dict(resume["state"])
            history.rows = [row for row in resume["history"] if row["step"] <= state.step]
            log.info("resuming run %s at step %d/%d", resume["run_id"], state.step, total_steps)
        log.info("training %s on %s: %d steps", spec.arch, device, total_steps)

        with open_run(params.tracking, params, run_id=resume and resume["run_id"]) as run:
            checkpointing = Checkpointing(
                path=args.checkpoints / RESUME_FILE,
                meta={"params_hash": params_hash(params), "run_id": run.run_id},
                extra=lambda: {"history": history.rows},
                every_steps=cfg.checkpoint_every,
            )
            result = train(state, data, cfg, FanOut(history, run), checkpointing)
            save_generator(args.generator, result.generator, spec)
            write_json(args.metrics, last_epoch_means(history.rows, total_steps // cfg.epochs))
            throughput = result.images_seen / result.seconds
            summary = {"train_time_s": result.seconds, "images_per_s_mean": throughput}
            run.log_summary(summary, step=result.steps)
            model_uri = run.log_generator(result.generator, spec, params.tracking.registered_model)
            write_json(
                args.run_record,
                {
                    "run_id": run.run_id,
                    "tracking_uri": redact_uri(run.uri),
                    "model_uri": model_uri,
                    "params_hash": params_hash(params),
                    "steps": result.steps,
                    "train_time_s": round(result.seconds, 3),
                },
            )
        log.info("generator written to %s; MLflow run %s", args.generator, run.run_id)

    return run_stage("train", body, args.verbose)


if __name__ == "__main__":
    sys.exit(main())

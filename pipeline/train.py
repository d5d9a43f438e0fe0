"""Stage train: train the GAN on the processed train split, tracked as one MLflow run.

With `train.nproc: N` (N > 1) the stage reruns itself under torchrun with N processes;
started by torchrun directly (e.g. across nodes), it trains with however many it is given.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import torch

from ganops.config import Params, TrainConfig, load_params, params_hash
from ganops.data.dataset import load_split, read_manifest, to_training_tensor
from ganops.errors import ConfigError
from ganops.io import write_json
from ganops.metrics import QuickProbe, load_evaluator
from ganops.models import GeneratorSpec
from ganops.runner import run_stage, stage_parser
from ganops.sampling import cycled_labels, latent_batch
from ganops.tracking import HistoryFile, open_run, redact_uri
from ganops.training import (
    Checkpointing,
    FanOut,
    GanState,
    Probe,
    last_epoch_means,
    read_resume_state,
    resolve_device,
    save_generator,
    spec_for_data,
    stop_on_signals,
    train,
)
from ganops.training.collapse import WARNING_TAG, CollapseWatch
from ganops.training.device import configure_backends
from ganops.training.distributed import (
    join,
    leave,
    log_weight_digests,
    run_under_torchrun,
    world_from_env,
)
from ganops.training.loop import METRIC_NAMES, PROBE_NAMES, epoch_steps

log = logging.getLogger("train")
RESUME_FILE = "last.pt"
FID_LATENT_SEED = 12345  # the quick FID's fixed latents, apart from every training stream
PROBE_BATCH = 500  # images per forward while measuring; does not change the value


def quick_probe(
    params: Params, evaluator: Path, spec: GeneratorSpec, device: torch.device
) -> Probe | None:
    """The quick FID and intra-class diversity every `train.eval_every` epochs, or None when
    they are off."""
    cfg = params.train
    if cfg.eval_every == 0:
        return None
    latents = latent_batch(cfg.eval_samples, spec.latent_dim, FID_LATENT_SEED, device)
    labels = cycled_labels(cfg.eval_samples, spec.num_classes, device)  # every class alike
    measure = QuickProbe(load_evaluator(evaluator), latents, PROBE_BATCH, device, labels=labels)
    return Probe(every_epochs=cfg.eval_every, measure=measure)


def follow(
    state: GanState,
    data: torch.Tensor,
    labels: torch.Tensor | None,
    cfg: TrainConfig,
    checkpoint: Path,
) -> None:
    """A rank other than the main one: trains on its slice of every batch and takes part in
    every checkpoint (its noise state is gathered), but writes and logs nothing."""
    with stop_on_signals() as stop:
        silent = Checkpointing(checkpoint, {}, every_steps=cfg.checkpoint_every, write=False)
        train(state, data, cfg, FanOut(), silent, stop=stop, progress=False, labels=labels)
    log_weight_digests(state.world, state.generator, state.discriminator)
    leave(state.world)


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser(__doc__)
    parser.add_argument("--data", type=Path, required=True, help="processed data directory")
    parser.add_argument("--evaluator", type=Path, required=True, help="evaluator.pt (quick FID)")
    parser.add_argument("--generator", type=Path, required=True, help="generator.pt to write")
    parser.add_argument("--history", type=Path, required=True, help="history.tsv to write")
    parser.add_argument("--fid-history", type=Path, required=True, help="fid.tsv to write")
    parser.add_argument("--metrics", type=Path, required=True, help="metrics.json to write")
    parser.add_argument("--run-record", type=Path, required=True, help="run.json to write")
    parser.add_argument("--checkpoints", type=Path, required=True, help="resume state directory")
    args = parser.parse_args(argv)

    def body() -> None:
        # validate everything before any work
        params = load_params(args.params)
        cfg, digest = params.train, params_hash(params)
        world = world_from_env()
        if cfg.nproc > 1 and not world.distributed:
            run_under_torchrun(Path(__file__), cfg.nproc, sys.argv[1:] if argv is None else argv)
            return
        if cfg.batch_size % world.size:
            raise ConfigError(
                f"train.batch_size: {cfg.batch_size} does not split evenly between "
                f"torchrun's {world.size} processes"
            )
        device = join(world, resolve_device(cfg.device))
        configure_backends(device, cfg.deterministic)
        split = load_split(args.data, "train")
        spec = spec_for_data(params, read_manifest(args.data), len(split.images))
        # one rank speaks: only the main rank measures, logs progress and writes
        speaks = world.is_main
        if not speaks:
            logging.getLogger("ganops.training.loop").setLevel(logging.WARNING)
        probe = quick_probe(params, args.evaluator, spec, device) if speaks else None
        data = to_training_tensor(split.images, device)  # (N, C, H, W) in [-1, 1]
        labels = torch.from_numpy(split.labels).to(device) if spec.num_classes else None
        state = GanState.create(spec, cfg, device, world, params.model.spectral_norm)
        total_steps = cfg.epochs * epoch_steps(len(split.images), cfg)
        resume = read_resume_state(
            args.checkpoints / RESUME_FILE, digest, total_steps, world_size=world.size
        )
        losses = HistoryFile(args.history, (*METRIC_NAMES, "images_per_s"))
        fids = HistoryFile(args.fid_history, PROBE_NAMES)
        if resume:
            state.load_state_dict(resume["state"])
            losses.rows = [row for row in resume["history"] if row["step"] <= state.step]
            fids.rows = [row for row in resume["fid_history"] if row["step"] <= state.step]
            log.info("resuming run %s at step %d/%d", resume["run_id"], state.step, total_steps)
        if not speaks:
            follow(state, data, labels, cfg, args.checkpoints / RESUME_FILE)
            return

        ranks = f" x {world.size} processes" if world.distributed else ""
        log.info(
            "training %s on %s%s (%s): %d steps",
            spec.arch,
            device,
            ranks,
            state.acceleration.describe(),
            total_steps,
        )

        run_id = resume["run_id"] if resume else None
        # SIGINT/SIGTERM: checkpoint after the current step, then the run ends KILLED
        with stop_on_signals() as stop, open_run(params.tracking, params, run_id=run_id) as run:
            run.replay([*losses.rows, *fids.rows])  # resumed: what a crash kept from the store
            run.set_tags(
                {
                    "ganops.world_size": str(world.size),
                    "ganops.acceleration": state.acceleration.describe(),
                }
            )
            if probe is not None:  # a resumed run that warned already says it once
                warned = run.tag(WARNING_TAG) is not None
                probe.watch = CollapseWatch(cfg.collapse_threshold, run.set_tags, warned)
            checkpointing = Checkpointing(
                path=args.checkpoints / RESUME_FILE,
                meta={"params_hash": digest, "run_id": run.run_id, "world_size": world.size},
                extra=lambda: {"history": losses.rows, "fid_history": fids.rows},
                every_steps=cfg.checkpoint_every,
            )
            result = train(
                state,
                data,
                cfg,
                FanOut(losses, fids, run),
                checkpointing,
                probe,
                stop=stop,
                labels=labels,
            )
            log_weight_digests(world, state.generator, state.discriminator)
            leave(world)
            published = state.step
            if cfg.publish == "best_fid":
                state.published.load_state_dict(state.best["generator"])
                published = state.best["step"]
                log.info(
                    "publishing the generator of step %d (quick FID %.3f)",
                    published,
                    state.best["score"],
                )
            save_generator(args.generator, state.published, spec)
            metrics = last_epoch_means(losses.rows, total_steps // cfg.epochs)
            if fids.rows:
                last = fids.rows[-1]
                metrics |= {name: round(last[name], 6) for name in PROBE_NAMES if name in last}
            write_json(args.metrics, metrics | {"published_step": published})
            throughput = result.images_seen / result.seconds
            summary = {"train_time_s": result.seconds, "images_per_s_mean": throughput}
            run.log_summary(summary | {"published_step": published}, step=result.steps)
            model_uri = run.log_generator(state.published, spec, params.tracking.registered_model)
            write_json(
                args.run_record,
                {
                    "run_id": run.run_id,
                    "experiment_id": run.experiment_id,
                    "tracking_uri": redact_uri(run.uri),
                    "model_uri": model_uri,
                    "params_hash": digest,
                    "steps": result.steps,
                    "published_step": published,
                    "train_time_s": round(result.seconds, 3),
                },
            )
        log.info("generator written to %s; MLflow run %s", args.generator, run.run_id)

    return run_stage("train", body, args.verbose)


if __name__ == "__main__":
    sys.exit(main())

"""A translator's run as the `train` stage does it: validate, build, resume, train, publish.

Mirrors `ganops.training.run` for the generator: one MLflow run with every param, the
losses per step, a grid of fixed test inputs per epoch and a quick score per epoch (FID of
the translated test inputs against B's test split, and how many keep their label), the
published translator and its MLflow model; `data/checkpoints/last.pt` resumes it exactly.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ganops.config import Params, params_hash
from ganops.data.dataset import to_training_tensor
from ganops.device import configure_backends, resolve_device
from ganops.errors import ConfigError
from ganops.io import write_json
from ganops.metrics.evaluator import (
    Evaluator,
    EvaluatorSpec,
    LoadedEvaluator,
    accuracy,
    extract,
    load_evaluator,
    train_evaluator,
)
from ganops.metrics.scores import fid_from_statistics, fid_statistics
from ganops.run_record import RunRecord, portable_uri
from ganops.sampling import to_uint8
from ganops.tracking import open_run, project_root, redact_uri
from ganops.training.distributed import World
from ganops.training.lock import hold_checkpoints
from ganops.training.loggers import FanOut, HistoryFile
from ganops.training.resume import RESUME_FILE, Checkpointing, read_resume_state, restore
from ganops.training.run import TrainPaths
from ganops.training.signals import stop_on_signals
from ganops.translation.artifact import save_translator
from ganops.translation.domains import Domains, domain_names, load_domains
from ganops.translation.networks import translate_images
from ganops.translation.outputs import GRID_ROWS
from ganops.translation.training import (
    PAIRED_METRICS,
    RESUME_FORMAT,
    UNPAIRED_METRICS,
    Training,
    TranslatorState,
    build_translator,
    steps_per_epoch,
    train_translator,
    translator_spec,
)

log = logging.getLogger("train")
QUICK_NAMES = ("quick_fid", "quick_label_preservation")


@dataclass(frozen=True)
class QuickScore:
    """The per-epoch score: B's evaluator on the translation of A's test inputs."""

    evaluator: LoadedEvaluator
    inputs: torch.Tensor  # (N, C, H, W) in [-1, 1]: A's test split
    labels: np.ndarray  # (N,) A's labels
    device: torch.device

    def __call__(self, state: TranslatorState) -> dict[str, float]:
        translated = to_uint8(translate_images(state.generators["ab"], self.inputs))
        features, logits = extract(self.evaluator.network, translated, 500, self.device)
        reference = fid_statistics(self.evaluator.reference_features)
        return {
            "quick_fid": round(fid_from_statistics(fid_statistics(features), reference), 6),
            "quick_label_preservation": round(accuracy(logits, self.labels), 6),
        }


class ScoredHistory(FanOut):
    """The loop's loggers, plus the quick score at each grid (once an epoch)."""

    def __init__(self, score: QuickScore, state: TranslatorState, *loggers: Any) -> None:
        super().__init__(*loggers)
        self.score, self.state = score, state

    def log_grid(self, step: int, picture: np.ndarray) -> None:
        super().log_grid(step, picture)
        scores = self.score(self.state)
        self.log_metrics(step, scores)
        log.info("quick fid %.3f  label preservation %.3f", *scores.values())


def domain_a_classifier(
    params: Params, train: Domains, test: Domains, device: torch.device
) -> tuple[Evaluator | None, float | None]:
    """The frozen classifier of domain A the semantic term asks (the evaluator's network and
    recipe, `evaluator.*`, trained on A's train split and labels only) and its accuracy on
    A's test split; (None, None) when `translate.semantic` is 0."""
    if params.translate.semantic == 0:
        return None, None
    if len(train.a.class_names) < 2:
        raise ConfigError(
            "translate.semantic: domain A has one class, so no classifier of it can tell a "
            "translation that keeps the input's class; set translate.semantic: 0"
        )
    spec = EvaluatorSpec(
        tuple(train.a.images.shape[1:]),  # type: ignore[arg-type]
        train.a.class_names,
        params.evaluator.width,
    )
    classifier = train_evaluator(
        params.evaluator, spec, (train.a.images, train.a.labels), device
    ).requires_grad_(False)
    _, logits = extract(classifier, test.a.images, 500, device)
    test_accuracy = accuracy(logits, test.a.labels)
    log.info("classifier of domain A: test accuracy %.4f (semantic term)", test_accuracy)
    return classifier.to(device).eval(), round(test_accuracy, 6)


def dataset_input(params: Params, domains: Domains, names: tuple[str, str]) -> dict[str, Any]:
    """What the MLflow run records of its data: both domains, and how they pair."""
    kind = "paired" if domains.aligned else "unpaired"
    return {
        "name": f"{names[0]} -> {names[1]}",
        "digest": params_hash(params, ("data", "task")),
        "source": f"{kind} translation from {names[0]} to {names[1]}",
        "profile": {
            "train_images_a": len(domains.a.images),
            "train_images_b": len(domains.b.images),
            "image_shape": list(domains.a.images.shape[1:]),
            "paired": domains.aligned,
        },
    }


def run_translation(params: Params, paths: TrainPaths, world: World | None = None) -> RunRecord:
    """Train the translator as the stage does, resuming from `paths.checkpoints` when it can;
    everything is validated before any work."""
    if world is not None and world.distributed:
        raise ConfigError("train.nproc: a translator trains in one process (set train.nproc: 1)")
    cfg, digest = params.translate, params_hash(params)
    device = resolve_device(params.train.device)
    train, test = load_domains(paths.data, "train"), load_domains(paths.data, "test")
    evaluator = load_evaluator(paths.evaluator)
    channels, size = train.a.images.shape[1], train.a.images.shape[2]
    spec = translator_spec(cfg, train.aligned, channels, size)
    configure_backends(device, params.train.deterministic)
    with hold_checkpoints(paths.checkpoints):
        classifier, classifier_accuracy = domain_a_classifier(params, train, test, device)
        state = build_translator(cfg, spec, train.aligned, device)
        state.classifier = classifier
        names = PAIRED_METRICS if train.aligned else UNPAIRED_METRICS
        histories = {
            "history": HistoryFile(paths.history, names),
            "fid_history": HistoryFile(paths.fid_history, QUICK_NAMES),
        }
        per_epoch = steps_per_epoch(len(train.a.images), cfg.batch_size)
        resume = read_resume_state(
            paths.checkpoints / RESUME_FILE,
            digest,
            per_epoch * cfg.epochs,
            expected_format=RESUME_FORMAT,
        )
        if resume:
            restore(state, resume, histories)  # type: ignore[arg-type]
            log.info("resuming run %s at step %d", resume["run_id"], state.step)
        checkpointing = Checkpointing(
            path=paths.checkpoints / RESUME_FILE,
            meta={"params_hash": digest, "run_id": "", "world_size": 1},
            histories=histories,
            every_steps=params.train.checkpoint_every,
        )
        grid = np.arange(GRID_ROWS) * (len(test.a.images) // GRID_ROWS)  # spread over classes
        work = Training(
            a=to_training_tensor(train.a.images, device),
            b=to_training_tensor(train.b.images, device),
            grid_inputs=to_training_tensor(test.a.images[grid], device),
            grid_targets=to_training_tensor(test.b.images[grid], device),
            checkpointing=checkpointing,
            log_every=params.train.log_every,
        )
        score = QuickScore(
            evaluator, to_training_tensor(test.a.images, device), test.a.labels, device
        )
        kind = "a paired" if train.aligned else "an unpaired"
        steps = per_epoch * cfg.epochs
        log.info("training %s translator (%s) on %s: %d steps", kind, spec.arch, device, steps)
        run_id = resume["run_id"] if resume else None
        with stop_on_signals() as stop, open_run(params.tracking, params, run_id=run_id) as run:
            run.replay([row for history in histories.values() for row in history.rows])
            if run_id is None:
                run.log_dataset(**dataset_input(params, train, domain_names(paths.data)))
            checkpointing.meta["run_id"] = run.run_id
            logger = ScoredHistory(score, state, *histories.values(), run)
            result = train_translator(state, cfg, work, logger, stop)
            save_translator(paths.generator, state.generators, spec)
            last = {name: histories["history"].rows[-1][name] for name in names}
            quick = histories["fid_history"].rows[-1]
            metrics = last | {name: quick[name] for name in QUICK_NAMES} | {"steps": result.steps}
            if classifier_accuracy is not None:
                metrics["classifier_a_accuracy"] = classifier_accuracy
            write_json(paths.metrics, metrics)
            summary = {"train_time_s": result.seconds}
            if classifier_accuracy is not None:
                summary["classifier_a_accuracy"] = classifier_accuracy
            run.log_summary(summary, step=result.steps)
            registered = params.tracking.registered_model
            model_uri = run.log_translator(
                state.generators["ab"], spec.to_dict(), registered and f"{registered}-translator"
            )
            record = RunRecord(
                run_id=run.run_id,
                experiment_id=run.experiment_id,
                tracking_uri=portable_uri(redact_uri(run.uri), project_root()),
                model_uri=model_uri,
                params_hash=digest,
                steps=result.steps,
                published_step=result.steps,
                train_time_s=round(result.seconds, 3),
            )
            record.write(paths.run_record)
    log.info("translator written to %s; MLflow run %s", paths.generator, record.run_id)
    return record

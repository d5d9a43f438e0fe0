"""A translator's run as the `train` stage does it: validate, build, resume, train, publish.

Mirrors `ganops.training.run` for the generator: one MLflow run with every param, the
losses per step, a grid of fixed test inputs per epoch and a quick score per epoch (FID of
the translated test inputs against B's test split, and how many keep their label), the
published translator and its MLflow model; `data/checkpoints/last.pt` resumes it exactly.

Every process under torchrun calls `run_translation`; the main rank alone scores, logs and
writes (`World.is_main`), the others train their slice of each batch and take part in every
checkpoint.
"""

from __future__ import annotations

import logging
import os
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ganops.config import Params, check_batch_split, params_hash
from ganops.data.dataset import to_training_tensor
from ganops.device import configure_backends, hardware, resolve_device
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
from ganops.tracking import Run, open_run, project_root, redact_uri
from ganops.training.distributed import (
    LAUNCHER_PID,
    World,
    die_with_launcher,
    join,
    leave,
    log_weight_digests,
)
from ganops.training.lock import hold_checkpoints
from ganops.training.loggers import FanOut, HistoryFile
from ganops.training.rank_reports import peers_blamed, report_failure
from ganops.training.resume import RESUME_FILE, Checkpointing, read_resume_state, restore
from ganops.training.run import TrainPaths
from ganops.training.signals import stop_on_signals
from ganops.translation.artifact import save_translator
from ganops.translation.domains import Domains, domain_names, load_domains
from ganops.translation.networks import TranslatorSpec, translate_images
from ganops.translation.outputs import GRID_ROWS
from ganops.translation.training import (
    PAIRED_METRICS,
    RESUME_FORMAT,
    UNPAIRED_METRICS,
    LoopResult,
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


def run_translation(
    params: Params, paths: TrainPaths, world: World | None = None
) -> RunRecord | None:
    """Train the translator as the stage does, resuming from `paths.checkpoints` when it can;
    returns the run record on the main rank and None on the others. Everything is validated
    before any work."""
    world = world or World()
    try:
        device, inputs = check_translation_inputs(params, paths, world)
        die_with_launcher(world)
        with ExitStack() as held:
            # one training a workspace; a stage that relaunched itself holds it for its ranks
            if world.is_main and LAUNCHER_PID not in os.environ:
                held.enter_context(hold_checkpoints(paths.checkpoints))
            return _train(params, paths, world, join(world, device), inputs)
    except Exception as error:
        report_failure(world, error)  # for the peers and the stage that launched this rank
        raise


@dataclass(frozen=True)
class Inputs:
    """What a translator's run reads, checked: both domains' train and test splits, the
    translator it asks for and (on the main rank, which scores) B's evaluator."""

    train: Domains
    test: Domains
    spec: TranslatorSpec
    evaluator: LoadedEvaluator | None


def check_translation_inputs(
    params: Params, paths: TrainPaths, world: World
) -> tuple[torch.device, Inputs]:
    """Everything a translator's run is checked against before it writes anything: the
    batch split between processes, the device, both domains, the translator and B's
    evaluator (the quick score's)."""
    cfg, who = params.translate, f"torchrun's {world.size}"
    check_batch_split(cfg.batch_size, world.size, who, key="translate.batch_size")
    device = resolve_device(params.train.device)
    train, test = load_domains(paths.data, "train"), load_domains(paths.data, "test")
    if steps_per_epoch(len(train.a.images), cfg.batch_size, world.size) == 0:
        raise ConfigError(
            f"train.nproc: domain A's train split has {len(train.a.images)} images, fewer than "
            f"{who} processes"
        )
    evaluator = load_evaluator(paths.evaluator) if world.is_main else None
    channels, size = train.a.images.shape[1], train.a.images.shape[2]
    spec = translator_spec(cfg, train.aligned, channels, size)
    return device, Inputs(train, test, spec, evaluator)


def _networks(state: TranslatorState) -> dict[str, nn.Module]:
    """The networks whose weights every rank must end with, by the names the log gives."""
    generators = {f"generator_{key}": module for key, module in state.generators.items()}
    judges = {f"discriminator_{key}": module for key, module in state.discriminators.items()}
    return generators | judges


def _train(
    params: Params, paths: TrainPaths, world: World, device: torch.device, inputs: Inputs
) -> RunRecord | None:
    cfg, digest = params.translate, params_hash(params)
    train, test, spec = inputs.train, inputs.test, inputs.spec
    configure_backends(device, params.train.deterministic)
    if not world.is_main:  # one rank speaks
        logging.getLogger("ganops.translation.training").setLevel(logging.WARNING)
    classifier, classifier_accuracy = domain_a_classifier(params, train, test, device)
    state = build_translator(cfg, spec, train.aligned, device, world)
    state.classifier = classifier
    names = PAIRED_METRICS if train.aligned else UNPAIRED_METRICS
    histories = {
        "history": HistoryFile(paths.history, names),
        "fid_history": HistoryFile(paths.fid_history, QUICK_NAMES),
    }
    steps = steps_per_epoch(len(train.a.images), cfg.batch_size, world.size) * cfg.epochs
    resume = read_resume_state(
        paths.checkpoints / RESUME_FILE,
        digest,
        steps,
        world_size=world.size,
        expected_format=RESUME_FORMAT,
    )
    if resume:
        restore(state, resume, histories)  # type: ignore[arg-type]
        log.info("resuming run %s at step %d", resume["run_id"], state.step)
    checkpointing = Checkpointing(
        path=paths.checkpoints / RESUME_FILE,
        meta={"params_hash": digest, "run_id": "", "world_size": world.size},
        histories=histories,
        every_steps=params.train.checkpoint_every,
        write=world.is_main,
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
    if not world.is_main:
        with stop_on_signals() as stop:
            train_translator(state, cfg, work, FanOut(), stop, progress=False)
        log_weight_digests(world, _networks(state))
        leave(world)
        return None

    assert inputs.evaluator is not None  # the main rank scores
    score = QuickScore(
        inputs.evaluator, to_training_tensor(test.a.images, device), test.a.labels, device
    )
    kind = "a paired" if train.aligned else "an unpaired"
    ranks = f" x {world.size} processes" if world.distributed else ""
    log.info("training %s translator (%s) on %s%s: %d steps", kind, spec.arch, device, ranks, steps)
    run_id = resume["run_id"] if resume else None
    with stop_on_signals() as stop, open_run(params.tracking, params, run_id=run_id) as run:
        run.replay([row for history in histories.values() for row in history.rows])
        if run_id is None:
            run.log_dataset(**dataset_input(params, train, domain_names(paths.data)))
        run.set_tags({"ganops.world_size": str(world.size)})
        checkpointing.meta["run_id"] = run.run_id
        logger = ScoredHistory(score, state, *histories.values(), run)
        with peers_blamed(world):  # a peer's failure, not the broken collective, is the reason
            result = train_translator(state, cfg, work, logger, stop)
            log_weight_digests(world, _networks(state))
            leave(world)
        record = _publish_and_record(
            state, params, paths, histories, result, run, classifier_accuracy
        )
    log.info("translator written to %s; MLflow run %s", paths.generator, record.run_id)
    return record


def _publish_and_record(
    state: TranslatorState,
    params: Params,
    paths: TrainPaths,
    histories: dict[str, HistoryFile],
    result: LoopResult,
    run: Run,
    classifier_accuracy: float | None,
) -> RunRecord:
    """Write the translator, the metrics and the run record; log the summary (with the
    accuracy of A's classifier when the semantic term is on) and the model."""
    spec = state.spec
    save_translator(paths.generator, state.generators, spec)
    names = PAIRED_METRICS if state.paired else UNPAIRED_METRICS
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
        params_hash=params_hash(params),
        steps=result.steps,
        published_step=result.steps,
        train_time_s=round(result.seconds, 3),
        hardware=hardware(next(state.generators["ab"].parameters()).device),
    )
    record.write(paths.run_record)
    return record

"""A translator's run as the `train` stage does it: validate, build, resume, train, publish.

The GAN's run (`ganops.gan.training`) has the same shape, on the same run machinery
(`ganops.runs`): one MLflow run with every param, the
losses per step, a grid of fixed test inputs per epoch and a quick score per epoch (FID of
the translated test inputs against B's test split, and how many keep their label), the
published translator and its MLflow model; `data/checkpoints/last.pt` resumes it exactly.

Every process under torchrun calls `run_translation`; the main rank alone scores, logs and
writes (`World.is_main`), the others train their slice of each batch and take part in every
checkpoint.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import numpy as np
import torch
from torch import nn

from ganops.classifier_arms import Labelled
from ganops.config import DownstreamConfig, EvaluatorConfig, Params, check_batch_split, params_hash
from ganops.data.dataset import Split, to_training_tensor
from ganops.device import resolve_device
from ganops.errors import ConfigError
from ganops.few_labels import train_pseudo_label
from ganops.io import write_json
from ganops.metrics.evaluator import (
    Evaluator,
    EvaluatorSpec,
    LoadedEvaluator,
    accuracy,
    extract,
    frozen_classifier,
    load_evaluator,
)
from ganops.metrics.scores import fid_from_statistics, fid_statistics
from ganops.run_length import (
    EVALUATOR,
    TRANSLATOR,
    epoch_stride,
    in_whole_epochs,
    say_length,
    say_stride,
    with_whole_epochs,
)
from ganops.run_record import RunRecord
from ganops.runs.distributed import World
from ganops.runs.launch import RunPaths, follow, launch, prepare, together
from ganops.runs.loggers import FanOut, HistoryFile, ScoredHistory
from ganops.runs.publish import describe_model, record_run, tracked
from ganops.runs.resume import Continuation, resume_or_start
from ganops.sampling import to_uint8
from ganops.tracking import Run
from ganops.translation.artifact import save_translator
from ganops.translation.baselines import handmade_for
from ganops.translation.domains import Domains, domain_names, load_domains
from ganops.translation.loop import (
    METRICS,
    RESUME_FORMAT,
    LoopResult,
    Training,
    TranslatorState,
    build_translator,
    steps_per_epoch,
    train_translator,
    translator_spec,
)
from ganops.translation.networks import TranslatorSpec, translate_images
from ganops.translation.outputs import GRID_ROWS

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


@dataclass(frozen=True)
class SemanticClassifiers:
    """What the semantic term asks: `of_a` gives the class of A's images, `of_translations`
    the class of their translations (the same network, or with `translate.semantic_classifier:
    handmade` one trained on A through the hand-made transform into B's style, with
    `handmade_fixmatch` the same adapted to B's unlabelled train images by FixMatch);
    `accuracies`: each one's on A's test split (through the transform for the second)."""

    of_a: nn.Module
    of_translations: nn.Module
    accuracies: dict[str, float]


def semantic_classifiers(
    params: Params, train: Domains, test: Domains, names: tuple[str, str], device: torch.device
) -> SemanticClassifiers | None:
    """The frozen classifiers of domain A (trained on A's train split and labels only; `names`:
    the sources of A and B) the semantic terms ask; None when both weights are 0."""
    cfg = params.translate
    if cfg.semantic == 0 and cfg.semantic_b == 0:
        return None
    if len(train.a.class_names) < 2:
        raise ConfigError(
            "translate.semantic: domain A has one class, so no classifier of it can tell a "
            "translation that keeps the input's class; set translate.semantic and semantic_b: 0"
        )
    reader = cfg.semantic_classifier
    handmade = handmade_for(*names) if reader != "source" else None
    if reader != "source" and handmade is None:
        raise ConfigError(
            f"translate.semantic_classifier: {reader}: no hand-made transform from {names[0]} "
            f"to {names[1]} (there is one between MNIST and UCI digits); use source"
        )
    of_a, score = frozen_classifier(params.evaluator, train.a, test.a, device)
    log.info("classifier of domain A: test accuracy %.4f (semantic term)", score)
    if handmade is None:
        return SemanticClassifiers(of_a, of_a, {"classifier_a_accuracy": score})
    made_train, made_test = (replace(split, images=handmade(split.images))
                             for split in (train.a, test.a))  # fmt: skip
    if reader == "handmade_fixmatch":
        of_translations, made = fixmatch_reader(
            params.evaluator, made_train, made_test, train.b.images, device
        )
    else:
        of_translations, made = frozen_classifier(params.evaluator, made_train, made_test, device)
    log.info("%s reader of A through the hand-made transform: test accuracy %.4f", reader, made)
    accuracies = {"classifier_a_accuracy": score, f"classifier_a_{reader}_accuracy": made}
    return SemanticClassifiers(of_a, of_translations, accuracies)


def fixmatch_reader(
    recipe: EvaluatorConfig,
    made_train: Split,
    made_test: Split,
    unlabelled: np.ndarray,
    device: torch.device,
) -> tuple[Evaluator, float]:
    """The downstream stage's `handmade_fixmatch` classifier (`ganops.translation.alignment`)
    as the `handmade` reader is trained: the evaluator's recipe, seed and length (its steps
    on `made_train`, A's images through the hand-made transform, labelled), with FixMatch's
    threshold and views at the downstream stage's defaults (`DownstreamConfig()`), adapted
    to B's unlabelled train images `(M, C, H, W)`; B's labels are never read. Frozen, with its
    accuracy on `made_test` (A's test split through the transform)."""
    channels, height, width = made_train.images.shape[1:]
    spec = EvaluatorSpec((channels, height, width), made_train.class_names, recipe.width)
    per_epoch = math.ceil(len(made_train.images) / recipe.batch_size)
    steps = in_whole_epochs(recipe, EVALUATOR, per_epoch).passes * per_epoch
    labelled = Labelled(made_train.images, made_train.labels)
    fixmatch = DownstreamConfig(steps=steps)
    network = train_pseudo_label(recipe, spec, labelled, unlabelled, fixmatch, recipe.seed, device)
    _, logits = extract(network.requires_grad_(False), made_test.images, 500, device)
    return network.eval(), round(accuracy(logits, made_test.labels), 6)


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
    params: Params, paths: RunPaths, world: World | None = None
) -> RunRecord | None:
    """Train the translator as the stage does, resuming from `paths.checkpoints` when it can;
    returns the run record on the main rank and None on the others. Everything is validated
    before any work."""
    check = partial(check_translation_inputs, params, paths)
    return launch(world, paths.checkpoints, check, partial(_train, params, paths))


@dataclass(frozen=True)
class Inputs:
    """What a translator's run reads, checked: both domains' train and test splits, the
    translator it asks for and (on the main rank, which scores) B's evaluator."""

    train: Domains
    test: Domains
    spec: TranslatorSpec
    evaluator: LoadedEvaluator | None


def check_translation_inputs(
    params: Params, paths: RunPaths, world: World
) -> tuple[torch.device, Inputs]:
    """Everything a translator's run is checked against before it writes anything: the
    batch split between processes, the device, both domains, the translator and B's
    evaluator (the quick score's)."""
    cfg, who = params.translate, f"torchrun's {world.size}"
    check_batch_split(cfg.batch_size, world.size, who, key="translate.batch_size")
    device = resolve_device(params.run.device)
    train, test = load_domains(paths.data, "train"), load_domains(paths.data, "test")
    if steps_per_epoch(len(train.a.images), cfg.batch_size, world.size) == 0:
        raise ConfigError(
            f"run.nproc: domain A's train split has {len(train.a.images)} images, fewer than "
            f"{who} processes"
        )
    evaluator = load_evaluator(paths.evaluator) if world.is_main else None
    if train.aligned and cfg.method == "cut":
        raise ConfigError(
            "translate.method: cut translates unpaired domains, and these are paired (A/ + B/ "
            "or side-by-side images); set translate.method: cyclegan (pix2pix trains on pairs)"
        )
    channels, size = train.a.images.shape[1], train.a.images.shape[2]
    spec = translator_spec(cfg, train.aligned, channels, size)
    return device, Inputs(train, test, spec, evaluator)


def _networks(state: TranslatorState) -> dict[str, nn.Module]:
    """The networks whose weights every rank must end with, by the names the log gives."""
    generators = {f"generator_{key}": module for key, module in state.generators.items()}
    judges = {f"discriminator_{key}": module for key, module in state.discriminators.items()}
    return generators | judges


def _train(
    params: Params, paths: RunPaths, world: World, device: torch.device, inputs: Inputs
) -> RunRecord | None:
    per_epoch = steps_per_epoch(len(inputs.train.a.images), params.translate.batch_size, world.size)
    stride = epoch_stride(params.translate, TRANSLATOR, per_epoch)  # before steps are epochs
    params = with_whole_epochs(params, TRANSLATOR, per_epoch)  # `translate.steps`, when set
    cfg, digest = params.translate, params_hash(params)
    train, test, spec = inputs.train, inputs.test, inputs.spec
    prepare(world, device, params.run.deterministic, "ganops.translation.loop", cfg.seed)
    semantic = semantic_classifiers(params, train, test, domain_names(paths.data), device)
    state = build_translator(cfg, spec, train.aligned, device, world)
    if semantic is not None:
        state.classifier, state.translation_classifier = semantic.of_a, semantic.of_translations
    names = METRICS[state.method]
    histories = {
        "history": HistoryFile(paths.history, names),
        "fid_history": HistoryFile(paths.fid_history, QUICK_NAMES),
    }
    steps = per_epoch * cfg.passes
    continuation = Continuation(RESUME_FORMAT, digest, world.size)
    run_id, checkpointing = resume_or_start(
        state, paths.checkpoints, continuation, histories, steps,
        params.run.checkpoint_every, world.is_main,
    )  # fmt: skip
    grid = np.arange(GRID_ROWS) * (len(test.a.images) // GRID_ROWS)  # spread over classes
    work = Training(
        a=to_training_tensor(train.a.images, device),
        b=to_training_tensor(train.b.images, device),
        grid_inputs=to_training_tensor(test.a.images[grid], device),
        grid_targets=to_training_tensor(test.b.images[grid], device),
        checkpointing=checkpointing,
        log_every=params.run.log_every,
        epoch_stride=stride,
    )
    if not world.is_main:
        follow(
            world,
            _networks(state),
            lambda stop: train_translator(state, cfg, work, FanOut(), stop, progress=False),
        )
        return None

    assert inputs.evaluator is not None  # the main rank scores
    score = QuickScore(
        inputs.evaluator, to_training_tensor(test.a.images, device), test.a.labels, device
    )
    kind = {"pix2pix": "a paired", "cyclegan": "an unpaired", "cut": "a CUT"}[state.method]
    ranks = f" x {world.size} processes" if world.distributed else ""
    log.info("training %s translator (%s) on %s%s: %d steps", kind, spec.arch, device, ranks, steps)
    say_length(TRANSLATOR, cfg.passes, len(train.a.images), cfg.batch_size, steps)
    say_stride(TRANSLATOR, per_epoch, work.epoch_stride)
    dataset = partial(dataset_input, params, train, domain_names(paths.data))
    with tracked(params, world, checkpointing, run_id, dataset, {}) as (stop, run):
        say = "quick fid %.3f  label preservation %.3f"
        logger = ScoredHistory(partial(score, state), say, *histories.values(), run)
        result = together(
            world, _networks(state), lambda: train_translator(state, cfg, work, logger, stop)
        )
        accuracies = semantic.accuracies if semantic is not None else {}
        metrics = _run_metrics(histories, state.method, result.steps, accuracies)
        record = _publish_and_record(state, params, paths, run, result, metrics, accuracies)
    log.info("translator written to %s; MLflow run %s", paths.model, record.run_id)
    return record


def _run_metrics(
    histories: dict[str, HistoryFile], method: str, steps: int, accuracies: dict[str, float]
) -> dict[str, float]:
    """The stage's DVC metrics: the last logged losses and quick scores, the steps, and the
    accuracies of the semantic term's classifiers when it is on."""
    names = METRICS[method]
    last = {name: histories["history"].rows[-1][name] for name in names}
    quick = histories["fid_history"].rows[-1]
    return last | {name: quick[name] for name in QUICK_NAMES} | {"steps": steps} | accuracies


def _publish_and_record(
    state: TranslatorState, params: Params, paths: RunPaths, run: Run, result: LoopResult,
    metrics: dict[str, float], accuracies: dict[str, float],
) -> RunRecord:  # fmt: skip
    """Write the translator, the metrics and the run record; log the summary (with the
    `accuracies` of the semantic term's classifiers when it is on) and the model."""
    spec = state.spec
    save_translator(paths.model, state.generators, spec)
    write_json(paths.metrics, metrics)
    run.log_summary({"train_time_s": result.seconds} | accuracies, step=result.steps)
    model_uri = run.log_translator(
        state.generators["ab"], spec.to_dict(), params.tracking.registered_translator
    )
    device = next(state.generators["ab"].parameters()).device
    record = record_run(
        run, params, paths.run_record, model_uri, result.steps, result.steps, result.seconds,
        device,
    )  # fmt: skip
    kind = {"pix2pix": "paired (pix2pix)", "cyclegan": "unpaired (CycleGAN)",
            "cut": "unpaired (CUT)"}[state.method]  # fmt: skip
    facts = {
        "what": f"A {kind} {spec.arch} translator",
        "images": params.translate.batch_size * result.steps // max(params.translate.passes, 1),
        "quick_fid": metrics.get("quick_fid"),
    }
    describe_model(run, params.tracking.registered_translator, params, record, facts)
    return record

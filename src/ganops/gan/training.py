"""A training run as the `train` stage does it: validate, build, resume, train, publish.

Every process under torchrun calls `run_training`; the main rank alone measures, logs and
writes (`World.is_main`), the others train their slice of each batch and take part in
every checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
from torch import nn

from ganops.artifacts import ClassifierSpec, save_generator
from ganops.config import Params, TrainConfig, check_batch_split, params_hash
from ganops.data.dataset import Split, load_split, read_manifest, to_training_tensor
from ganops.data.sources import get_source
from ganops.device import resolve_device
from ganops.gan.collapse import WARNING_TAG, CollapseWatch
from ganops.gan.loop import (
    METRIC_NAMES,
    PROBE_NAMES,
    Probe,
    StepFunction,
    TrainResult,
    epoch_steps,
    last_epoch_means,
    steps_in_run,
    train,
    train_step,
)
from ganops.gan.semi import ClassifierProbe, LabelledImages, SemiSupervisedStep
from ganops.gan.spec import describe_conditioning, spec_for_data
from ganops.gan.state import RESUME_FORMAT, GanState, build_state_for
from ganops.io import write_json
from ganops.metrics.evaluator import LoadedEvaluator, load_evaluator
from ganops.metrics.probe import QuickProbe
from ganops.models import GeneratorSpec
from ganops.models.semi import init_from_data
from ganops.run_length import GAN, epoch_stride, say_length, say_stride, with_whole_epochs
from ganops.run_record import RunRecord
from ganops.runs.distributed import World
from ganops.runs.launch import RunPaths, follow, launch, prepare, together
from ganops.runs.loggers import FanOut, HistoryFile, StepLogger
from ganops.runs.publish import describe_model, record_run, tracked
from ganops.runs.resume import Continuation, resume_or_start
from ganops.sampling import cycled_labels, latent_batch
from ganops.tracking import Run

log = logging.getLogger("train")
FID_LATENT_SEED = 12345  # the quick FID's fixed latents, apart from every training stream
PROBE_BATCH = 500  # images per forward while measuring; does not change the value
INIT_IMAGES = 500  # the semi-supervised D's data-dependent initialisation sees these


def quick_probe(
    params: Params,
    evaluator: LoadedEvaluator | None,
    spec: GeneratorSpec,
    device: torch.device,
    stride: int = 1,
) -> Probe | None:
    """The quick FID and intra-class diversity every `train.eval_every` times `stride` epochs
    (`run_length.epoch_stride`), or None when they are off (or this rank does not measure)."""
    cfg = params.train
    if cfg.eval_every == 0 or evaluator is None:
        return None
    latents = latent_batch(cfg.eval_samples, spec.latent_dim, FID_LATENT_SEED, device)
    labels = cycled_labels(cfg.eval_samples, spec.num_classes, device)  # every class alike
    measure = QuickProbe(evaluator, latents, PROBE_BATCH, device, labels=labels)
    return Probe(every_epochs=cfg.eval_every * stride, measure=measure)


def dataset_input(params: Params, manifest: dict[str, Any]) -> dict[str, Any]:
    """What the MLflow run records of its data: the source's name, a digest of the processed
    files (their sha256s in the manifest), where they came from, and their profile."""
    files = json.dumps(manifest["files"], sort_keys=True).encode("utf-8")
    splits = manifest["splits"]
    source = params.data.folder if params.data.source == "folder" else None
    return {
        "name": params.data.source,
        "digest": hashlib.sha256(files).hexdigest()[:16],
        "source": source or get_source(params.data.source).description,
        "profile": {
            "train_images": splits["train"]["count"],
            "test_images": splits["test"]["count"],
            "image_shape": manifest["image_shape"],
            "classes": len(manifest["class_names"]),
        },
    }


def publish(state: GanState, cfg: TrainConfig) -> int:
    """Make `state.published` the generator to ship; returns the step it comes from: the
    last, or with `train.publish: best_fid` the one with the best quick FID."""
    if cfg.publish != "best_fid":
        return state.step
    state.published.load_state_dict(state.best["generator"])
    log.info(
        "publishing the generator of step %d (quick FID %.3f)",
        state.best["step"],
        state.best["score"],
    )
    return int(state.best["step"])


def run_metrics(
    histories: dict[str, HistoryFile], steps_per_epoch: int, published: int
) -> dict[str, float]:
    """The stage's DVC metrics: the last epoch's mean losses, the last quick scores."""
    metrics = last_epoch_means(histories["history"].rows, steps_per_epoch)
    if histories["fid_history"].rows:
        last = histories["fid_history"].rows[-1]
        metrics |= {name: round(last[name], 6) for name in PROBE_NAMES if name in last}
    return metrics | {"published_step": published}


class ScoredEpochs(FanOut):
    """The loop's loggers, and at every epoch's end (its grid) the semi-supervised D's test
    accuracy, to the MLflow run alone: the quick scores' history file keeps its cadence, and
    `data/train/metrics.json` the last accuracy."""

    def __init__(self, classifier: ClassifierProbe, run: Run, *loggers: Any) -> None:
        super().__init__(*loggers)
        self.classifier, self.run = classifier, run

    def log_grid(self, step: int, picture: Any) -> None:
        super().log_grid(step, picture)
        scores = self.classifier()
        self.run.log_metrics(step, scores)
        log.info("classifier test accuracy %.4f", scores["classifier_accuracy"])


def _semi_supervised(
    state: GanState, inputs: Inputs, data: torch.Tensor, device: torch.device
) -> tuple[StepFunction, ClassifierProbe | None]:
    """The step of the run, and the probe of its classifier: a semi-supervised GAN's (its
    labelled images; its discriminator on the test split), else `train_step` and None."""
    if inputs.semi is None:
        return train_step, None
    init_from_data(state.discriminator, data[:INIT_IMAGES])  # a resumed run then loads its own
    labelled = LabelledImages.of(data, inputs.split.labels)
    probe = ClassifierProbe(state.discriminator, inputs.semi.test, device)
    return SemiSupervisedStep(labelled), probe


def classifier_spec(
    params: Params, spec: GeneratorSpec, classifier: ClassifierProbe
) -> ClassifierSpec:
    """What rebuilds the semi-supervised GAN's discriminator from the generator's file."""
    width = params.model.width_d or params.model.width
    return ClassifierSpec(spec.arch, width, spec.image_shape, classifier.class_names)


def _networks(state: GanState) -> dict[str, nn.Module]:
    """The networks whose weights every rank must end with, by the names the log gives."""
    return {"generator": state.generator, "discriminator": state.discriminator}


def run_training(params: Params, paths: RunPaths, world: World | None = None) -> RunRecord | None:
    """Train as the stage does, resuming from `paths.checkpoints` when it can; returns the
    run record on the main rank and None on the others. Everything is validated before
    any work."""
    check = partial(check_inputs, params, paths)
    return launch(world, paths.checkpoints, check, partial(_train, params, paths))


@dataclass(frozen=True)
class SemiSupervised:
    """The semi-supervised mode (`train.semi_supervised`), decided once where the inputs are
    checked: the classes its discriminator learns, the test split its classifier is scored
    on."""

    classes: int
    test: Split


@dataclass(frozen=True)
class Inputs:
    """What a run reads, checked: the train split, its manifest, the generator to build and
    (on the rank that measures, with quick scores on) the evaluator."""

    split: Split
    manifest: dict[str, Any]
    spec: GeneratorSpec
    evaluator: LoadedEvaluator | None
    semi: SemiSupervised | None = None  # None: a GAN whose discriminator classifies nothing


def check_inputs(params: Params, paths: RunPaths, world: World) -> tuple[torch.device, Inputs]:
    """Everything a run is checked against before it writes anything: the batch split
    between processes, the device, the processed data, the generator it asks for and the
    evaluator of its quick scores."""
    check_batch_split(params.train.batch_size, world.size, f"torchrun's {world.size}")
    device = resolve_device(params.run.device)
    split, manifest = load_split(paths.data, "train"), read_manifest(paths.data)
    spec = spec_for_data(params, manifest, len(split.images))
    measures = world.is_main and params.train.eval_every > 0
    evaluator = load_evaluator(paths.evaluator) if measures else None
    semi = None
    if params.train.semi_supervised:
        semi = SemiSupervised(len(manifest["class_names"]), load_split(paths.data, "test"))
    return device, Inputs(split, manifest, spec, evaluator, semi)


def _train(
    params: Params, paths: RunPaths, world: World, device: torch.device, inputs: Inputs
) -> RunRecord | None:
    per_epoch = epoch_steps(len(inputs.split.images), params.train)
    stride = epoch_stride(params.train, GAN, per_epoch)  # before the steps become epochs
    params = with_whole_epochs(params, GAN, per_epoch)  # `train.steps`, when set
    cfg, how, digest = params.train, params.run, params_hash(params)
    split, manifest, spec = inputs.split, inputs.manifest, inputs.spec
    prepare(world, device, how.deterministic, "ganops.gan.loop", cfg.seed)
    data = to_training_tensor(split.images, device)  # (N, C, H, W) in [-1, 1]
    labels = torch.from_numpy(split.labels).to(device) if spec.num_classes else None
    classes = inputs.semi.classes if inputs.semi else 0
    state = build_state_for(params, spec, device, world, classes)
    step, classifier = _semi_supervised(state, inputs, data, device)
    probe = quick_probe(params, inputs.evaluator, spec, device, stride)
    steps = steps_in_run(len(split.images), cfg)
    histories = {
        # the losses only: a timing (images_per_s) in a git-tracked file would make a
        # rebuild of the same bytes look like a change; it goes to MLflow (perf/)
        "history": HistoryFile(paths.history, METRIC_NAMES),
        "fid_history": HistoryFile(paths.fid_history, PROBE_NAMES),
    }
    continuation = Continuation(RESUME_FORMAT, digest, world.size)
    run_id, checkpointing = resume_or_start(
        state, paths.checkpoints, continuation, histories, steps, how.checkpoint_every,
        world.is_main,
    )  # fmt: skip
    run_loop = partial(
        train, state, data, cfg, labels=labels, step=step, log_every=how.log_every,
        epoch_stride=stride,
    )  # fmt: skip
    if not world.is_main:
        follow(
            world,
            _networks(state),
            lambda stop: run_loop(FanOut(), checkpointing, stop=stop, progress=False),
        )
        return None

    ranks = f" x {world.size} processes" if world.distributed else ""
    images = len(split.images) * cfg.epoch_repeats
    say_length(GAN, cfg.passes, images, cfg.batch_size, steps)
    say_stride(GAN, per_epoch, stride)
    conditioning = describe_conditioning(params.model.conditional, spec.num_classes)
    if cfg.class_loss > 0 and not spec.num_classes:
        log.info("train.class_loss %g unused: an unconditional GAN has no classes", cfg.class_loss)
    log.info(
        "training %s, %s, on %s%s (%s): %d steps",
        spec.arch,
        conditioning,
        device,
        ranks,
        state.acceleration.describe(),
        steps,
    )
    tags = {
        "ganops.acceleration": state.acceleration.describe(),
        "ganops.conditioning": conditioning,
    }
    dataset = partial(dataset_input, params, manifest)
    with tracked(params, world, checkpointing, run_id, dataset, tags) as (stop, run):
        if probe is not None:  # a resumed run that warned already says it once
            warned = run.tag(WARNING_TAG) is not None
            probe.watch = CollapseWatch(cfg.collapse_threshold, run.set_tags, warned)
        loggers: tuple[StepLogger, ...] = (*histories.values(), run)
        logger = (  # with a semi-supervised GAN, its classifier scored every epoch
            FanOut(*loggers) if classifier is None else ScoredEpochs(classifier, run, *loggers)
        )
        result = together(
            world, _networks(state), lambda: run_loop(logger, checkpointing, probe, stop=stop)
        )
        record = _publish_and_record(state, params, paths, histories, result, run, classifier)
    log.info("generator written to %s; MLflow run %s", paths.model, record.run_id)
    return record


def _publish_and_record(
    state: GanState,
    params: Params,
    paths: RunPaths,
    histories: dict[str, HistoryFile],
    result: TrainResult,
    run: Run,
    classifier: ClassifierProbe | None = None,
) -> RunRecord:
    """Write the generator (with a semi-supervised GAN's `classifier`, its discriminator),
    the metrics and the run record; log the summary and the model."""
    cfg = params.train
    published = publish(state, cfg)
    metrics = run_metrics(histories, result.steps // cfg.passes, published)
    kept = None
    if classifier is not None:
        metrics |= {name: round(value, 6) for name, value in classifier().items()}
        log.info(
            "classifier (the discriminator) test accuracy %.4f", metrics["classifier_accuracy"]
        )
        kept = (state.discriminator, classifier_spec(params, state.spec, classifier))
    save_generator(paths.model, state.published, state.spec, kept)
    write_json(paths.metrics, metrics)
    throughput = result.images_seen / result.seconds
    summary = {"train_time_s": result.seconds, "images_per_s_mean": throughput}
    run.log_summary(summary | {"published_step": published}, step=result.steps)
    model_uri = run.log_generator(state.published, state.spec, params.tracking.registered_model)
    conditioning = describe_conditioning(params.model.conditional, state.spec.num_classes)
    record = record_run(
        run, params, paths.run_record, model_uri, result.steps, published, result.seconds,
        state.noise.device, conditioning,
    )  # fmt: skip
    what = f"A {state.spec.arch} generator ({conditioning})"
    images = result.images_seen // max(cfg.passes, 1) // max(cfg.epoch_repeats, 1)
    facts = {"what": what, "images": images, "quick_fid": metrics.get("quick_fid")}
    describe_model(run, params.tracking.registered_model, params, record, facts)
    return record

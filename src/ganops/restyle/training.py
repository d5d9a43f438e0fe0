"""A restyler's run as the `train` stage does it: validate, build, resume, train, publish.

The same shape as the GAN's and the translator's runs, on the same run machinery
(`ganops.runs`): one MLflow run with every param, the losses per step, per epoch the grid a
person reads at a glance (style images along the top, content images down the left, each
cell the content in that style) and a quick score (FID of the test split's content images
drawn in the styles of other classes' test images, against the test split, and how many the
evaluator still reads as their content's class); the published restyler, logged as an MLflow
model that `mlflow models serve` answers (content and style in, the restyled images out) and
registered as `tracking.registered_restyler`; `data/checkpoints/last.pt` resumes it exactly.

With two domains (`ganops.restyle.domains`) the contents are A's, the styles B's, and the
quick score draws A's test images in the styles of B's (of another class where the domains
share their classes; `quick_content_kept` only then).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import torch
from torch import nn

from ganops.config import Params, params_hash
from ganops.data.dataset import Split, to_training_tensor
from ganops.device import Acceleration, resolve_device
from ganops.errors import ConfigError
from ganops.io import write_json
from ganops.metrics.evaluator import (
    LoadedEvaluator,
    accuracy,
    extract,
    frozen_classifier,
    load_evaluator,
)
from ganops.metrics.scores import fid_from_statistics, fid_statistics
from ganops.restyle.artifact import save_restyler
from ganops.restyle.domains import RestyleSplit, load_restyle_split
from ganops.restyle.loop import (
    METRICS,
    READER,
    RESUME_FORMAT,
    RestyleState,
    Training,
    build_restyler,
    networks,
    restyler_spec,
    steps_per_epoch,
    train_restyler,
)
from ganops.restyle.networks import RestylerSpec, restyle_images, spec_problem
from ganops.restyle.pairs import pairs_across, spread_indices
from ganops.run_length import RESTYLER, epoch_stride, say_length, say_stride, with_whole_epochs
from ganops.run_record import RunRecord
from ganops.runs.distributed import World
from ganops.runs.launch import RunPaths, launch, prepare, together
from ganops.runs.loggers import HistoryFile, ScoredHistory
from ganops.runs.publish import describe_model, record_run, tracked
from ganops.runs.resume import Continuation, resume_or_start
from ganops.runs.seeds import derived_seed
from ganops.sampling import to_uint8
from ganops.tracking import Run

log = logging.getLogger("train")
QUICK_NAMES = ("quick_fid", "quick_content_kept")  # the second where the classes are shared
GRID_SIDE = 8  # content rows and style columns of the per-epoch grid


@dataclass(frozen=True)
class QuickScore:
    """The per-epoch score: the evaluator on the test split's content images drawn in the
    styles of other classes' test images (seeded pairs)."""

    evaluator: LoadedEvaluator
    contents: torch.Tensor  # (N, C, H, W) in [-1, 1]: the (content's) test split
    styles: torch.Tensor  # (N, C, H, W): each content's style image
    labels: np.ndarray  # (N,) the contents' classes
    device: torch.device
    by_class: bool = True  # the classes are shared: content kept is defined

    def __call__(self, state: RestyleState) -> dict[str, float]:
        outputs = to_uint8(restyle_images(state.published, self.contents, self.styles))
        features, logits = extract(self.evaluator.network, outputs, 500, self.device)
        reference = fid_statistics(self.evaluator.reference_features)
        scores = {"quick_fid": round(fid_from_statistics(fid_statistics(features), reference), 6)}
        if self.by_class:
            scores["quick_content_kept"] = round(accuracy(logits, self.labels), 6)
        return scores


@dataclass(frozen=True)
class Inputs:
    """What a restyle run reads, checked: the train and test splits (of the content and the
    style images), the networks' spec and the evaluator (the quick score's)."""

    train: RestyleSplit
    test: RestyleSplit
    spec: RestylerSpec
    evaluator: LoadedEvaluator

    @property
    def quick_names(self) -> tuple[str, ...]:
        """The quick scores this run has."""
        return QUICK_NAMES if self.test.by_class else QUICK_NAMES[:1]


def check_restyle_inputs(
    params: Params, paths: RunPaths, world: World
) -> tuple[torch.device, Inputs]:
    """Everything a restyle run is checked against before it writes anything: one process,
    the device, the splits (one domain: labelled with two classes or more), the image shape,
    the evaluator."""
    if world.size > 1:
        raise ConfigError("run.nproc: task restyle trains in one process; set run.nproc: 1")
    device = resolve_device(params.run.device)
    train = load_restyle_split(params, paths.data, "train")
    test = load_restyle_split(params, paths.data, "test")
    for name, split in (("train", train.style), ("test", test.style)):
        if not train.two_domains and (not split.fully_labelled or len(np.unique(split.labels)) < 2):
            raise ConfigError(
                f"data.source: task restyle needs every {name} image's class and two classes "
                "or more (its discriminator judges each output as a digit of its content's "
                "class); set data.labelled_per_class: null"
            )
    channels, size = train.style.images.shape[1], train.style.images.shape[2]
    problem = spec_problem(channels, size)
    if problem:
        raise ConfigError(f"data.image_size: {problem} (got {size} px, {channels} channels)")
    if params.restyle.semantic > 0 and not train.by_class:
        raise ConfigError(
            "restyle.semantic: the two domains do not share two classes or more, so no "
            "classifier can tell whether an output kept its content's class; set "
            "restyle.semantic: 0"
        )
    heads = len(train.style.class_names) if train.by_class else 1
    spec = restyler_spec(params.restyle, channels, size, heads)
    return device, Inputs(train, test, spec, load_evaluator(paths.evaluator))


def run_restyle(params: Params, paths: RunPaths, world: World | None = None) -> RunRecord:
    """Train the restyler as the stage does, resuming from `paths.checkpoints` when it can;
    returns the run record. Everything is validated before any work."""
    check = partial(check_restyle_inputs, params, paths)
    return launch(world, paths.checkpoints, check, partial(_train, params, paths))


def dataset_input(params: Params, train: Split) -> dict[str, Any]:
    """What the MLflow run records of its data (the content's train split)."""
    cfg = params.restyle
    if cfg.folder is not None:
        name, source = cfg.folder, f"restyle: content images of {cfg.folder}/trainA, style "
        source += "images of its trainB"
    elif cfg.content_source is not None:
        name = f"{cfg.content_source} in the hand of {params.data.source}"
        source = f"restyle: content images of {cfg.content_source}, style images of "
        source += params.data.source
    else:
        name = params.data.folder or params.data.source
        source = f"restyle: content and style images of {params.data.source}"
    digest = params_hash(params, ("data", "task"))
    if cfg.two_domains:  # and where the content images come from
        content = f"{digest}:{cfg.content_source}:{cfg.folder}".encode()
        digest = hashlib.sha256(content).hexdigest()[:16]
    return {
        "name": name,
        "digest": digest,
        "source": source,
        "profile": {"train_images": len(train.images), "image_shape": list(train.images.shape[1:])},
    }


def _quick_score(inputs: Inputs, seed: int, device: torch.device) -> QuickScore:
    test = inputs.test
    contents, styles = pairs_across(test.content.labels, test.style.labels, seed, test.by_class)
    return QuickScore(
        inputs.evaluator,
        to_training_tensor(test.content.images[contents], device),
        to_training_tensor(test.style.images[styles], device),
        test.content.labels[contents],
        device,
        test.by_class,
    )


def semantic_reader(
    params: Params, train: RestyleSplit, test: RestyleSplit, device: torch.device
) -> tuple[nn.Module | None, dict[str, float]]:
    """The semantic term's frozen classifier (`restyle.semantic` above 0): the evaluator's
    recipe trained on the style images' train split with a seed of the restyler's own (so not
    the evaluator, which scores the run), and its accuracy on their test split; None and no
    accuracy when the term is off."""
    if params.restyle.semantic == 0:
        return None, {}
    seed = derived_seed(params.restyle.seed, READER, bits=32)
    reader, score = frozen_classifier(params.evaluator, train.style, test.style, device, seed)
    log.info("the semantic term's classifier: test accuracy %.4f", score)
    return reader, {"reader_accuracy": score}


def _heads(labels: np.ndarray, by_class: bool, device: torch.device) -> torch.Tensor:
    """The discriminator's head of each image: its class, or the one head (0) when the two
    domains do not share their classes."""
    return torch.from_numpy(labels if by_class else np.zeros_like(labels)).to(device)


def _train(
    params: Params, paths: RunPaths, world: World, device: torch.device, inputs: Inputs
) -> RunRecord:
    per_epoch = steps_per_epoch(len(inputs.train.content.images), params.restyle.batch_size)
    stride = epoch_stride(params.restyle, RESTYLER, per_epoch)  # before steps are epochs
    params = with_whole_epochs(params, RESTYLER, per_epoch)  # `restyle.steps`, when set
    cfg, train, test = params.restyle, inputs.train, inputs.test
    prepare(world, device, params.run.deterministic, "ganops.restyle.loop", cfg.seed)
    channels_last = Acceleration.resolve(params.run, device).channels_last
    state = build_restyler(cfg, inputs.spec, device, channels_last)
    if inputs.spec.warp:  # (a resumed run loads the same scale with its weights)
        styles = to_training_tensor(inputs.train.style.images, device)
        state.restyler.style_encoder.set_moment_scale(styles)
        if state.ema is not None:  # the average starts as the scaled restyler, not re-measured
            state.ema.load_state_dict(state.restyler.state_dict())
    reader, reader_accuracy = semantic_reader(params, train, test, device)
    histories = {
        "history": HistoryFile(paths.history, METRICS),
        "fid_history": HistoryFile(paths.fid_history, inputs.quick_names),
    }
    steps = per_epoch * cfg.passes
    continuation = Continuation(RESUME_FORMAT, params_hash(params), world.size)
    run_id, checkpointing = resume_or_start(
        state, paths.checkpoints, continuation, histories, steps, params.run.checkpoint_every,
        world.is_main,
    )  # fmt: skip
    # the grid's contents one class after another, its styles from class 5 on
    grid_contents = spread_indices(test.content.labels, GRID_SIDE)
    grid_styles = spread_indices(test.style.labels, GRID_SIDE, 5)
    work = Training(
        images=to_training_tensor(train.content.images, device),
        labels=_heads(train.content.labels, train.by_class, device),
        grid_contents=to_training_tensor(test.content.images[grid_contents], device),
        grid_styles=to_training_tensor(test.style.images[grid_styles], device),
        checkpointing=checkpointing,
        log_every=params.run.log_every,
        channels_last=channels_last,
        epoch_stride=stride,
        style_images=(to_training_tensor(train.style.images, device) if train.two_domains
                      else None),
        style_labels=(_heads(train.style.labels, train.by_class, device) if train.two_domains
                      else None),
        reader=reader,
    )  # fmt: skip
    score = _quick_score(inputs, cfg.seed, device)
    log.info("training a restyler on %s (%s): %d steps", device,
             "channels-last" if channels_last else "plain fp32", steps)  # fmt: skip
    if train.two_domains:
        log.info(
            "content images of domain A (%d train), style images of domain B (%d train); %s",
            len(train.content.images), len(train.style.images),
            "the discriminator judges by the content's class" if train.by_class else
            "the domains do not share two classes or more: one discriminator head, no content "
            "kept",
        )  # fmt: skip
    say_length(RESTYLER, cfg.passes, len(train.content.images), cfg.batch_size, steps)
    say_stride(RESTYLER, per_epoch, stride)
    described = partial(dataset_input, params, train.content)
    with tracked(params, world, checkpointing, run_id, described, {}) as (stop, run):
        say = "quick fid %.3f  content kept %.3f" if test.by_class else "quick fid %.3f"
        logger = ScoredHistory(partial(score, state), say, *histories.values(), run)
        result = together(
            world, networks(state), lambda: train_restyler(state, cfg, work, logger, stop)
        )
        last = {name: histories["history"].rows[-1][name] for name in METRICS}
        quick = {name: histories["fid_history"].rows[-1][name] for name in inputs.quick_names}
        metrics = last | quick | reader_accuracy | {"steps": result.steps}
        record = _publish_and_record(
            state, params, paths, run, metrics, result.seconds, reader_accuracy
        )
    log.info("restyler written to %s; MLflow run %s", paths.model, record.run_id)
    return record


def _publish_and_record(
    state: RestyleState, params: Params, paths: RunPaths, run: Run, metrics: dict[str, float],
    seconds: float, accuracies: dict[str, float],
) -> RunRecord:  # fmt: skip
    """Write the restyler, the metrics and the run record; log the training time (with the
    `accuracies` of the semantic term's classifier when it is on) and the restyler as an
    MLflow model (registered as `tracking.registered_restyler`, served by
    `ganops.tracking.restyler_serving`) with its model card."""
    save_restyler(paths.model, state.published)
    write_json(paths.metrics, metrics)
    steps = int(metrics["steps"])
    run.log_summary({"train_time_s": seconds} | accuracies, step=steps)
    registered = params.tracking.registered_restyler
    model_uri = run.log_restyler(state.published, state.published.spec.to_dict(), registered)
    device = next(state.restyler.parameters()).device
    record = record_run(run, params, paths.run_record, model_uri, steps, steps, seconds, device)
    facts = {
        "what": "A restyler (content and style encoders, AdaIN decoder)",
        "images": params.restyle.batch_size * steps // max(params.restyle.passes, 1),
        "quick_fid": metrics.get("quick_fid"),
    }
    describe_model(run, registered, params, record, facts)
    return record

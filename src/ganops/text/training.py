"""A text-to-image run as the `train` stage does it: validate, build, resume, train the
sentence encoder (a fresh run only), train the GAN, publish.

The same shape as the other tasks' runs, on the same run machinery (`ganops.runs`): one
MLflow run with every param, the losses per step, per epoch the grid of the fixed prompts
(one row each, the prompt written beside it) and a quick score (FID of the test captions'
images against the test split, and how many the evaluator reads as the digit their caption
names); the published model (generator, text encoder, vocabulary), logged to the run as an
MLflow model registered as `tracking.registered_text` (served by
`ganops.tracking.text_serving`); `data/checkpoints/last.pt` resumes it exactly.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganops.config import Params, params_hash
from ganops.data.dataset import to_training_tensor
from ganops.device import resolve_device
from ganops.errors import ConfigError
from ganops.io import write_json
from ganops.metrics.evaluator import LoadedEvaluator, accuracy, extract, load_evaluator
from ganops.metrics.scores import fid_from_statistics, fid_statistics
from ganops.run_length import TEXT, epoch_stride, say_length, say_stride, with_whole_epochs
from ganops.run_record import RunRecord
from ganops.runs.distributed import World
from ganops.runs.launch import RunPaths, launch, prepare, together
from ganops.runs.loggers import HistoryFile, ScoredHistory
from ganops.runs.publish import describe_model, record_run, tracked
from ganops.runs.resume import Continuation, resume_or_start
from ganops.sampling import to_uint8
from ganops.text.artifact import TextModel, noise_batch, save_text_model
from ganops.text.corpus import Corpus, load_corpus
from ganops.text.grid import grid_prompts, grid_texts
from ganops.text.loop import (
    METRICS,
    RESUME_FORMAT,
    TextGanState,
    Training,
    build_state,
    networks,
    steps_per_epoch,
    train_text_gan,
)
from ganops.text.matching import MatchingConfig, MatchingModel, train_matching
from ganops.text.networks import TextGanSpec, draw, spec_problem
from ganops.tracking import Run

log = logging.getLogger("train")
QUICK_NAMES = ("quick_fid", "quick_digit_accuracy")
_GRID_SEED = 1


def matching_config(params: Params) -> MatchingConfig:
    """The sentence encoder's training: the matching model's defaults, `text.embed_dim` wide,
    `text.matching_epochs` long."""
    cfg = params.text
    return MatchingConfig(embed_dim=cfg.embed_dim, epochs=cfg.matching_epochs)


@dataclass(frozen=True)
class Inputs:
    """What a text run reads, checked: the captioned splits, the networks' spec and the
    evaluator (the quick score's)."""

    corpus: Corpus
    spec: TextGanSpec
    evaluator: LoadedEvaluator


def check_text_inputs(params: Params, paths: RunPaths, world: World) -> tuple[torch.device, Inputs]:
    """Everything a text run is checked against before it writes anything: one process, the
    device, the captions beside the splits, the image shape, the evaluator."""
    if world.size > 1:
        raise ConfigError("run.nproc: task text trains in one process; set run.nproc: 1")
    device = resolve_device(params.run.device)
    corpus = load_corpus(paths.data)
    channels, size = corpus.train.split.images.shape[1:3]
    problem = spec_problem(channels, size)
    if problem:
        raise ConfigError(f"data.image_size: {problem} (got {size} px, {channels} channels)")
    cfg = params.text
    spec = TextGanSpec(channels, size, cfg.width, cfg.noise_dim, cfg.embed_dim)
    return device, Inputs(corpus, spec, load_evaluator(paths.evaluator))


def run_text(params: Params, paths: RunPaths, world: World | None = None) -> RunRecord:
    """Train the text-to-image GAN as the stage does, resuming from `paths.checkpoints` when
    it can; returns the run record. Everything is validated before any work."""
    check = partial(check_text_inputs, params, paths)
    return launch(world, paths.checkpoints, check, partial(_train, params, paths))


def quick_names(corpus: Corpus) -> tuple[str, ...]:
    """The quick scores of a run: no digit accuracy for a user's own captions."""
    return QUICK_NAMES if corpus.has_digits else QUICK_NAMES[:1]


def dataset_input(params: Params, corpus: Corpus) -> dict[str, Any]:
    """What the MLflow run records of its data."""
    images = corpus.train.split.images
    folder = params.data.folder
    return {
        "name": params.data.source if corpus.has_digits else Path(str(folder)).name,
        "digest": params_hash(params, ("data", "task")),
        "source": f"text: {params.data.source} with captions made from label and shape"
        if corpus.has_digits else f"text: the captioned images of {folder}",
        "profile": {"train_images": len(images), "image_shape": list(images.shape[1:]),
                    "vocabulary_words": len(corpus.vocabulary.words)},
    }  # fmt: skip


@dataclass(frozen=True)
class QuickScore:
    """The per-epoch score: one image per test caption, fixed noise."""

    evaluator: LoadedEvaluator
    sentences: torch.Tensor  # (N, D)
    noise: torch.Tensor  # (N, noise_dim)
    digits: np.ndarray | None  # (N,) the digit each caption names; None: a user's captions
    device: torch.device

    def __call__(self, state: TextGanState) -> dict[str, float]:
        images = to_uint8(draw(state.generator, self.noise, self.sentences))
        features, logits = extract(self.evaluator.network, images, 500, self.device)
        reference = fid_statistics(self.evaluator.reference_features)
        fid = fid_from_statistics(fid_statistics(features), reference)
        scores = {"quick_fid": round(fid, 6)}
        if self.digits is not None:
            scores["quick_digit_accuracy"] = round(accuracy(logits, self.digits), 6)
        return scores


@torch.no_grad()
def encode_texts(
    matching: MatchingModel, texts: list[str], corpus: Corpus, device: torch.device
) -> torch.Tensor:
    """Sentence vectors `(N, D)` of `texts` by the frozen text encoder (words the training
    captions lack read as unknown: only a tiny split leaves one out)."""
    encoded = corpus.vocabulary.encode(texts, unknown="map")
    parts = [
        matching.text(encoded.tokens[i : i + 500].to(device), encoded.lengths[i : i + 500])
        for i in range(0, len(texts), 500)
    ]
    return torch.cat(parts).to(device)


def _sentence_encoder(params: Params, corpus: Corpus) -> MatchingModel:
    """A matching model with untrained weights (a resumed run loads its own), of the shape a
    trained one has."""
    channels = corpus.train.split.images.shape[1]
    with torch.random.fork_rng(devices=[]):
        return MatchingModel(len(corpus.vocabulary), channels, matching_config(params))


def _train(
    params: Params, paths: RunPaths, world: World, device: torch.device, inputs: Inputs
) -> RunRecord:
    per_epoch = steps_per_epoch(len(inputs.corpus.train.split.images), params.text.batch_size)
    stride = epoch_stride(params.text, TEXT, per_epoch)  # before the steps become epochs
    params = with_whole_epochs(params, TEXT, per_epoch)  # `text.steps`, when set
    cfg, corpus = params.text, inputs.corpus
    prepare(world, device, params.run.deterministic, "ganops.text.loop", cfg.seed)
    state = build_state(cfg, inputs.spec, _sentence_encoder(params, corpus), device)
    histories = {
        "history": HistoryFile(paths.history, METRICS),
        "fid_history": HistoryFile(paths.fid_history, quick_names(corpus)),
    }
    train_images = corpus.train.split.images
    steps = steps_per_epoch(len(train_images), cfg.batch_size) * cfg.passes
    continuation = Continuation(RESUME_FORMAT, params_hash(params), world.size)
    run_id, checkpointing = resume_or_start(
        state, paths.checkpoints, continuation, histories, steps, params.run.checkpoint_every,
        world.is_main,
    )  # fmt: skip
    if state.step == 0:  # a fresh run: the sentence encoder, on the real training pairs
        log.info("training the sentence encoder on %d real pairs (%d epochs)",
                 len(train_images), cfg.matching_epochs)  # fmt: skip
        trained, losses = train_matching(
            train_images, corpus.vocabulary.encode(corpus.train.texts), len(corpus.vocabulary),
            matching_config(params), cfg.seed,
        )  # fmt: skip
        state.matching.load_state_dict(trained.state_dict())
        log.info("sentence loss %.3f -> %.3f", losses[0], losses[-1])
    state.matching.to(device).eval().requires_grad_(False)
    encode = partial(encode_texts, state.matching, corpus=corpus, device=device)
    fixed = grid_prompts(corpus.test.texts, corpus.has_digits)
    prompts = grid_texts(fixed)
    work = Training(
        images=to_training_tensor(train_images, device),
        sentences=encode(corpus.train.texts),
        grid_prompts=fixed,
        grid_sentences=encode(prompts),
        grid_noise=noise_batch(len(prompts), cfg.noise_dim, _GRID_SEED).to(device),
        checkpointing=checkpointing,
        log_every=params.run.log_every,
        epoch_stride=stride,
    )
    test = corpus.test
    score = QuickScore(inputs.evaluator, encode(test.texts),
                       noise_batch(len(test.texts), cfg.noise_dim, _GRID_SEED + 1).to(device),
                       test.split.labels if corpus.has_digits else None, device)  # fmt: skip
    log.info("training a text-to-image GAN on %s: %d steps", device, steps)
    say_length(TEXT, cfg.passes, len(train_images), cfg.batch_size, steps)
    say_stride(TEXT, per_epoch, stride)
    with tracked(params, world, checkpointing, run_id, partial(dataset_input, params, corpus),
                 {}) as (stop, run):  # fmt: skip
        logger = ScoredHistory(partial(score, state), None, *histories.values(), run)
        result = together(world, networks(state),
                          lambda: train_text_gan(state, cfg, work, logger, stop))  # fmt: skip
        last = {name: histories["history"].rows[-1][name] for name in METRICS}
        quick = {name: histories["fid_history"].rows[-1][name] for name in quick_names(corpus)}
        metrics = last | quick | {"steps": result.steps}
        model = TextModel(state.generator, state.matching, corpus.vocabulary)
        example = "a thick seven" if corpus.has_digits else fixed[0]  # words it knows
        record = _publish_and_record(model, params, paths, run, metrics, result.seconds,
                                     len(train_images), example)  # fmt: skip
    log.info("text-to-image model written to %s; MLflow run %s", paths.model, record.run_id)
    return record


def _publish_and_record(
    model: TextModel, params: Params, paths: RunPaths, run: Run, metrics: dict[str, float],
    seconds: float, train_images: int, example_text: str,
) -> RunRecord:  # fmt: skip
    """Write the model, the metrics and the run record; log the training time and the
    model's file as an MLflow model (registered as `tracking.registered_text`, served by
    `ganops.tracking.text_serving`) with its model card."""
    save_text_model(paths.model, model)
    write_json(paths.metrics, metrics)
    steps = int(metrics["steps"])
    run.log_summary({"train_time_s": seconds}, step=steps)
    registered = params.tracking.registered_text
    spec = model.generator.spec.to_dict()
    model_uri = run.log_text_model(paths.model, spec, registered, example_text)
    device = next(model.generator.parameters()).device
    record = record_run(run, params, paths.run_record, model_uri, steps, steps, seconds, device)
    facts = {
        "what": "A text-to-image generator (sentence encoder, generator, vocabulary)",
        "images": train_images,
        "quick_fid": metrics.get("quick_fid"),
    }
    describe_model(run, registered, params, record, facts)
    return record

"""What a conditional generator's images are worth to a classifier: the downstream experiment.

The classifier of the evaluator's architecture and recipe (`evaluator.*`: width, batch size,
one-cycle learning rate) is trained in three arms, each over several seeds, and tested on the
real test split:

- `real`: the real train split alone;
- `real_synthetic`: the real train split, plus the generator's labelled samples making up
  `downstream.synthetic_share` of every batch (at most half: every batch is at least half real);
- `real_affine`: the real train split under classical augmentation only (random rotation,
  translation and scale), the reference a practitioner would try first.

Every arm takes the same number of optimiser steps (`downstream.steps`) with the same batch
size, so adding synthetic images buys no extra training. A seed fixes the initial weights and
the order of the batches, and is shared by the arms, so each gain is measured on paired runs
and judged by `ganops.significance`: a paired t-test on the per-seed differences, their spread
floored at one test image. The evaluator's own translation
augmentation (`evaluator.shift_px`) is left out: augmentation is what the arms vary.
"""

from __future__ import annotations

import math
import multiprocessing
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from ganops.config import DownstreamConfig, EvaluatorConfig
from ganops.data.dataset import Split, to_training_tensor
from ganops.device import adam
from ganops.errors import DataError
from ganops.metrics import shared_work
from ganops.metrics.evaluator import Evaluator, EvaluatorSpec, accuracy, classifier_step, extract
from ganops.significance import paired_test

CPU = torch.device("cpu")

ARMS = ("real", "real_synthetic", "real_affine")
# the comparisons reported: (name, arm, baseline arm)
GAINS = (
    ("gain_synthetic_vs_real", "real_synthetic", "real"),
    ("gain_synthetic_vs_affine", "real_synthetic", "real_affine"),
)


@dataclass(frozen=True)
class Labelled:
    """uint8 images `(N, C, H, W)` and their int64 classes `(N,)`."""

    images: np.ndarray
    labels: np.ndarray


def random_affine(
    images: torch.Tensor, cfg: DownstreamConfig, rng: torch.Generator
) -> torch.Tensor:
    """Rotate each image `(B, C, H, W)` in [-1, 1] by up to `affine_degrees`, scale it by up to
    `affine_scale` either way and shift it by up to `affine_translate` of its side, all drawn
    independently per image; vectorised, padded with the background value -1."""
    batch = images.shape[0]
    angle = (torch.rand(batch, generator=rng) * 2 - 1) * math.radians(cfg.affine_degrees)
    scale = 1 + (torch.rand(batch, generator=rng) * 2 - 1) * cfg.affine_scale
    shift = (torch.rand(batch, 2, generator=rng) * 2 - 1) * 2 * cfg.affine_translate  # [-1, 1] grid
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1
    )  # (B, 2, 3): output position -> input position
    grid = F.affine_grid(theta.to(images.device), list(images.shape), align_corners=False)
    return F.grid_sample(images + 1, grid, mode="bilinear", align_corners=False) - 1


class _Batches:
    """Indices into a set of `size` items, `count` at a time: seeded epochs of a permutation,
    carried over from one epoch to the next so every item is used equally often."""

    def __init__(self, size: int, rng: torch.Generator) -> None:
        self.size, self.rng = size, rng
        self.queue = torch.empty(0, dtype=torch.int64)

    def take(self, count: int) -> torch.Tensor:
        while len(self.queue) < count:
            self.queue = torch.cat([self.queue, torch.randperm(self.size, generator=self.rng)])
        chosen, self.queue = self.queue[:count], self.queue[count:]
        return chosen


def train_arm(
    arm: str,
    recipe: EvaluatorConfig,
    spec: EvaluatorSpec,
    real: Labelled,
    synthetic: Labelled,
    cfg: DownstreamConfig,
    seed: int,
    device: torch.device,
) -> Evaluator:
    """A classifier trained for `cfg.steps` steps of `recipe.batch_size` images in `arm`."""
    torch.manual_seed(seed)  # the same initial weights in every arm of a seed
    # channels-last: about 30% faster convolutions on the CPU as on a GPU
    network = Evaluator(spec).to(device).to(memory_format=torch.channels_last)
    optimizer = adam(network.parameters(), recipe.lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=recipe.lr, total_steps=cfg.steps
    )
    rng = torch.Generator().manual_seed(seed)
    real_images = to_training_tensor(real.images, device)
    real_labels = torch.from_numpy(real.labels)
    fake_images = to_training_tensor(synthetic.images, device)
    fake_labels = torch.from_numpy(synthetic.labels)
    mixed = arm == "real_synthetic"
    fakes_per_batch = round(recipe.batch_size * cfg.synthetic_share) if mixed else 0
    real_batches = _Batches(len(real_images), rng)
    fake_batches = _Batches(len(fake_images), rng)
    network.train()
    for _ in range(cfg.steps):
        index = real_batches.take(recipe.batch_size - fakes_per_batch)
        images, labels = real_images[index], real_labels[index]
        if arm == "real_affine":
            images = random_affine(images, cfg, rng)
        if fakes_per_batch:
            extra = fake_batches.take(fakes_per_batch)
            images = torch.cat([images, fake_images[extra]])
            labels = torch.cat([labels, fake_labels[extra]])
        images = images.contiguous(memory_format=torch.channels_last)  # (B, C, H, W)
        classifier_step(network, optimizer, schedule, images, labels.to(device))
    return network.eval()


def confident(
    synthetic: Labelled, logits: torch.Tensor, min_confidence: float
) -> tuple[Labelled, int]:
    """The synthetic images whose class the evaluator gives at least `min_confidence`
    probability (all of them at 0), and how many were dropped."""
    if min_confidence <= 0:
        return synthetic, 0
    probability = logits.softmax(1)[torch.arange(len(logits)), torch.from_numpy(synthetic.labels)]
    keep = (probability >= min_confidence).numpy()
    if not keep.any():
        raise DataError(
            f"downstream.min_confidence: the evaluator gives no synthetic image {min_confidence} "
            "or more for its class; lower it"
        )
    return Labelled(synthetic.images[keep], synthetic.labels[keep]), int((~keep).sum())


@dataclass(frozen=True)
class Trial:
    """What every classifier of an experiment is trained with and tested on."""

    recipe: EvaluatorConfig  # the evaluator's recipe
    spec: EvaluatorSpec  # its architecture
    tests: dict[str, Split]  # test set name -> its images and labels


# an arm's training: its kind (one of ARMS, for `train_arm`), its real images and those it adds
ArmData = tuple[str, Labelled, Labelled]


def arm_workers(cfg: DownstreamConfig, device: torch.device, runs: int) -> int:
    """How many classifiers train at once: `downstream.workers`, or for `auto` one a CPU thread
    torch has (at most `runs`); on a GPU one."""
    if device.type != "cpu":
        return 1
    wanted = torch.get_num_threads() if cfg.workers == "auto" else cfg.workers
    return max(1, min(wanted, runs))


# one classifier's training: its place in the runs, the trial, its arm's data, the config, its seed
_Job = tuple[int, Trial, ArmData, DownstreamConfig, int]


def _train_and_test(job: _Job, device: torch.device = CPU) -> tuple[int, dict[str, float]]:
    """Train one classifier and test it on every test set: its place and `{test set: accuracy}`."""
    place, trial, (kind, real, added), cfg, seed = job
    network = train_arm(kind, trial.recipe, trial.spec, real, added, cfg, seed, device)
    scores = {}
    for name, test in trial.tests.items():
        _, logits = extract(network, test.images, trial.recipe.batch_size, device)
        scores[name] = accuracy(logits, test.labels)
    return place, scores


def _one_thread() -> None:
    """A worker process's start: torch on one thread, as every classifier on the CPU trains."""
    torch.set_num_threads(1)


@contextmanager
def one_thread_here() -> Iterator[None]:
    """Torch on one thread in this process while the block runs, then as it was."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def run_arms(
    trial: Trial, arms: dict[str, ArmData], cfg: DownstreamConfig, device: torch.device
) -> dict[str, dict[str, list[float]]]:
    """Accuracy of every arm on every test set for seeds `cfg.seed`, `cfg.seed + 1`, ...:
    `{test set: {arm: [accuracy per seed]}}`; one classifier a seed and arm, tested on all.

    On the CPU every classifier trains on one thread, `arm_workers` of them at once, each in a
    spawned process of its own: on 2 cores, 1.17x faster than each on both threads one after
    another (docs/benchmarks.md), and one thread a classifier gives the same bytes whatever
    the number of workers or cores."""
    runs = [(seed, arm) for seed in range(cfg.seed, cfg.seed + cfg.seeds) for arm in arms]
    jobs = [(place, trial, arms[arm], cfg, seed) for place, (seed, arm) in enumerate(runs)]
    workers = arm_workers(cfg, device, len(jobs))
    progress = tqdm(total=len(jobs), desc="downstream", unit="classifier", disable=None)
    scores: dict[int, dict[str, float]] = {}
    if workers == 1:
        with progress, one_thread_here() if device.type == "cpu" else nullcontext():
            for job in jobs:
                place, scores[place] = _train_and_test(job, device)
                progress.update()
    else:
        context = multiprocessing.get_context("spawn")  # not forked: torch's threads, MLflow's
        # the workers ignore a terminal's Ctrl-C: this process stops, and leaving the block
        # terminates them, without a traceback from each
        with shared_work.workers_ignore_interrupts():
            pool = context.Pool(workers, initializer=_one_thread)
        with progress, pool:
            for place, tested in pool.imap_unordered(_train_and_test, jobs):
                scores[place] = tested
                progress.update()
    results: dict[str, dict[str, list[float]]] = {
        name: {arm: [] for arm in arms} for name in trial.tests
    }
    for place, (_, arm) in enumerate(runs):
        for name, value in scores[place].items():
            results[name][arm].append(value)
    return results


def paired_gain(ours: list[float], theirs: list[float], test_images: int) -> dict[str, Any]:
    """Mean, standard error and noise band of the paired per-seed differences of two arms'
    accuracies on `test_images` test images, and whether the mean leaves the band
    (`ganops.significance.paired_test`, the spread floored at one test image; never with a
    single seed)."""
    if test_images < 1:
        raise ValueError(f"a test split of {test_images} images scores nothing")
    return paired_test(ours, theirs, floor=1 / test_images).as_dict()


def summarise(
    accuracies: dict[str, list[float]],
    test_images: int,
    gains: tuple[tuple[str, str, str], ...] = GAINS,
) -> dict[str, Any]:
    """The DVC metrics of the arms, tested on `test_images` images: accuracy mean and standard
    deviation (over seeds) of each arm, and each of `gains` whose arms both ran, with its
    paired verdict (`paired_gain`). An arm of one value (one GAN run's classifier) is compared
    with every seed of the other."""
    summary: dict[str, Any] = {}
    for arm, values in accuracies.items():
        spread = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
        summary[arm] = {
            "accuracy_mean": round(float(np.mean(values)), 6),
            "accuracy_std": round(spread, 6),
        }
    for name, arm, baseline in gains:
        if arm in accuracies and baseline in accuracies:
            theirs = accuracies[baseline]
            ours = accuracies[arm] * len(theirs) if len(accuracies[arm]) == 1 else accuracies[arm]
            summary[name] = paired_gain(ours, theirs, test_images)
    return summary


def per_seed(accuracies: dict[str, list[float]], first_seed: int) -> dict[str, dict[str, float]]:
    """Every classifier's accuracy, `{arm: {seed: accuracy}}`: any two arms' paired test can
    be computed again from the metrics, not only the gains the stage reports."""
    return {
        arm: {str(first_seed + k): round(value, 6) for k, value in enumerate(values)}
        for arm, values in accuracies.items()
    }

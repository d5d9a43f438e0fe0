"""Whether the downstream stage's classifiers train faster in processes of their own.

The stage trains arms x seeds classifiers of the evaluator's architecture (the default: 3 x 3,
400 steps of 128 images each at 28 px). Side by side, in one run, on the same random data of
the default's sizes (4,000 real train images, 5,000 synthetic, 1,000 test), the whole of
`classifier_arms.run_arms`, training and testing every classifier:
  all threads, one after another   the stage's way until `downstream.workers`: each classifier
                                   on every thread torch has, in the stage's process;
  one thread, one after another    `downstream.workers: 1`;
  one thread each, N processes     `downstream.workers: auto` (N = torch's threads), the
                                   default: the processes' start is in the time.
The last two must give the same accuracies (one thread a classifier gives the same bytes
wherever it runs); the script says whether they did.

Prints the machine and one line per way; with --markdown, the docs table's rows. Usage:
    python bench/downstream_workers.py [--steps 400] [--seeds 3] [--workers N] [--markdown]
"""

from __future__ import annotations

import argparse
import sys
import time
from itertools import product
from pathlib import Path

import numpy as np
import torch

from ganops.classifier_arms import ARMS, Labelled, Trial, _train_and_test, run_arms
from ganops.config import DownstreamConfig, EvaluatorConfig
from ganops.data.dataset import Split
from ganops.metrics.evaluator import EvaluatorSpec

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference_work import cpu_name

REAL, SYNTHETIC, TEST, SIDE, CLASSES = 4000, 5000, 1000, 28, 10  # the default's sizes
CPU = torch.device("cpu")


def random_digits(count: int, rng: np.random.Generator) -> Labelled:
    """`count` random uint8 28 px images and classes: the time does not depend on the pixels."""
    images = rng.integers(0, 256, (count, 1, SIDE, SIDE), dtype=np.uint8)
    return Labelled(images, rng.integers(0, CLASSES, count).astype(np.int64))


def all_threads(trial: Trial, arms: dict, cfg: DownstreamConfig) -> None:
    """The stage's way before workers: every classifier in this process, on every thread (its
    accuracies, of other bytes than one thread's, are not compared)."""
    seeds = range(cfg.seed, cfg.seed + cfg.seeds)
    for place, (seed, arm) in enumerate(product(seeds, arms)):
        _train_and_test((place, trial, arms[arm], cfg, seed))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=400, help="steps of every classifier")
    parser.add_argument("--seeds", type=int, default=3, help="seeds of every arm")
    parser.add_argument("--workers", type=int, default=torch.get_num_threads())
    parser.add_argument("--markdown", action="store_true", help="also the docs table's rows")
    args = parser.parse_args(argv)

    rng = np.random.default_rng(0)
    real, synthetic, test = (random_digits(n, rng) for n in (REAL, SYNTHETIC, TEST))
    names = tuple(str(k) for k in range(CLASSES))
    spec = EvaluatorSpec((1, SIDE, SIDE), names, 16)
    trial = Trial(EvaluatorConfig(), spec, {"test": Split(test.images, test.labels, names)})
    arms = {arm: (arm, real, synthetic) for arm in ARMS}
    cfg = DownstreamConfig(steps=args.steps, seeds=args.seeds)
    classifiers = len(arms) * args.seeds
    print(f"machine: {cpu_name()}; torch {torch.__version__}")
    print(f"{classifiers} classifiers x {args.steps} steps of {trial.recipe.batch_size} images")

    ways = {
        "all threads, one after another (the stage's way before)": lambda: all_threads(
            trial, arms, cfg
        ),
        "one thread, one after another (workers 1)": lambda: run_arms(
            trial, arms, cfg.model_copy(update={"workers": 1}), CPU
        ),
        f"one thread each, {args.workers} processes (workers {args.workers})": lambda: run_arms(
            trial, arms, cfg.model_copy(update={"workers": args.workers}), CPU
        ),
    }
    seconds, results = {}, {}
    for way, run in ways.items():
        started = time.perf_counter()
        results[way] = run()
        seconds[way] = time.perf_counter() - started
    first = next(iter(seconds.values()))
    for way, value in seconds.items():
        print(f"{way}: {value:.1f} s, {first / value:.2f}x")
    one, many = list(results.values())[1:]
    print(f"one thread, one after another and in processes, the same accuracies: {one == many}")
    if args.markdown:
        print("\n| way | seconds | speed against the stage's way before |\n| --- | --- | --- |")
        for way, value in seconds.items():
            print(f"| {way} | {value:.1f} | {first / value:.2f}x |")
    return 0 if one == many else 1


if __name__ == "__main__":
    sys.exit(main())

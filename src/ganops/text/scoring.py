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

A user's own folder of captioned images (`data.folder`) has no digits and no shapes: its
table is `text_gan`, `retrieval` and `real_test` (the caption's own image), with R-precision,
FID and prompt diversity; the digit and attribute scores and the class image are left out.
Its `retrieval` (`caption_pools`) is a real TRAINING image with the caption's own text (case
and spacing aside), or, where no training caption has it, one whose caption shares the most
words with it (as the tokenizer reads them); a seeded pick among the images that qualify.

Scores:

- `digit_accuracy`: the evaluator reads the digit the caption names;
- `<attribute>_accuracy` (thickness, slant, width): the image's own Morpho-MNIST measurement
  falls in the bin the caption states, by the training split's edges, over the captions that
  state it (every caption states thickness and slant; width half of them); a blank image
  (no measurement) is a miss; `attribute_accuracy`: over every such statement together;
- `r_precision`: a matching model trained here, on the real training pairs only (never on
  generated images), with its own seed: the share of images whose own caption ranks first
  among 100 (99 others drawn at random); chance 0.01;
- `fid`: against the real test split, in the evaluator's features;
- `prompt_diversity`: the mean distance, in the evaluator's features, between two images of
  one caption (10 each of the first 100 test captions): the GAN's from ten noises, the
  baselines' ten seeded picks from their pools (none for `real_test`: one image a caption).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial

import numpy as np
import torch

from ganops.config import EvalConfig
from ganops.errors import DataError
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
from ganops.text.outputs import PROMPT_DRAWS
from ganops.text.vocab import Encoded, tokenize

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


def retrieval_pools(corpus: Corpus) -> tuple[list[np.ndarray], dict[str, int]]:
    """For each test caption, the training images retrieval picks among (see the module),
    and how many captions fell back to a looser match (the digits' captions only)."""
    if corpus.bins is None:
        raise DataError("retrieval by digit and bins: the captions name no digit")
    names = corpus.bins.names(corpus.train.measurements)  # every attribute's bin per image
    labels = corpus.train.split.labels
    digits = {int(d): np.flatnonzero(labels == d) for d in np.unique(labels)}
    pools, fallbacks = [], {"digit_thickness_slant": 0, "digit": 0}
    # a digit caption's digit is its test image's label (`load_corpus` checks it)
    for caption, digit in zip(corpus.test.captions, corpus.test.split.labels, strict=True):
        same_digit = digits[int(digit)]
        exact = [i for i in same_digit if all(names[i][a] == b for a, b in caption.states.items())]
        pool = exact or [
            i for i in same_digit
            if all(names[i][a] == caption.states[a] for a in ("thickness", "slant"))
        ]  # fmt: skip
        if not exact:
            fallbacks["digit_thickness_slant" if pool else "digit"] += 1
        pools.append(np.array(pool, dtype=np.int64) if pool else same_digit)
    return pools, fallbacks


def normalised(text: str) -> str:
    """`text` as the folder's retrieval compares captions: lower case, spaces collapsed."""
    return " ".join(text.lower().split())


def caption_pools(
    train_texts: list[str], images_of: np.ndarray, test_texts: list[str]
) -> tuple[list[np.ndarray], dict[str, int]]:
    """For each of `test_texts`, the training rows retrieval picks among for a user's folder
    (one row per training image, the first of its captions that qualifies; `images_of` `(M,)`:
    the image of each of `train_texts`): the images with a caption of the same text (see
    `normalised`); where there is none, the images whose caption shares the most words with
    it (as `tokenize` reads them; every image when none shares a word). And how many test
    captions fell back to shared words."""
    if not train_texts:
        raise DataError("retrieval by caption: the training split holds no caption")
    exact: dict[str, list[int]] = {}
    for row, text in enumerate(train_texts):
        exact.setdefault(normalised(text), []).append(row)
    words = sorted({word for text in train_texts for word in tokenize(text)})
    column = {word: j for j, word in enumerate(words)}
    train_words = np.zeros((len(train_texts), len(words)), dtype=np.float32)  # (M, W)
    for row, text in enumerate(train_texts):
        train_words[row, [column[word] for word in set(tokenize(text))]] = 1
    pools, fallbacks = [], {"shared_words": 0}
    for text in test_texts:
        rows = exact.get(normalised(text))
        if rows is None:
            fallbacks["shared_words"] += 1
            asked = np.zeros(len(words), dtype=np.float32)
            asked[[column[w] for w in set(tokenize(text)) if w in column]] = 1
            shared = train_words @ asked  # (M,) words each training caption shares
            rows = np.flatnonzero(shared == shared.max()).tolist()
        # one row per image: an image with two such captions is not picked twice as often
        _, first = np.unique(images_of[rows], return_index=True)
        pools.append(np.sort(np.asarray(rows, dtype=np.int64)[first]))
    return pools, fallbacks


def _pools(corpus: Corpus) -> tuple[list[np.ndarray], dict[str, int]]:
    """Retrieval's pools: by digit and bins for the digits' captions, by caption for a folder."""
    if corpus.has_digits:
        return retrieval_pools(corpus)
    images_of = corpus.train.images_of
    if images_of is None:  # one caption an image
        images_of = np.arange(len(corpus.train.captions))
    return caption_pools(corpus.train.texts, images_of, corpus.test.texts)


def retrieve(corpus: Corpus, seed: int) -> tuple[np.ndarray, dict[str, int]]:
    """For each test caption, a training row's index `(N,)` (seeded pick in its pool), and
    how many captions fell back to a looser match."""
    pools, fallbacks = _pools(corpus)
    return picked_from(pools, seed), fallbacks


def picked_from(pools: list[np.ndarray], seed: int) -> np.ndarray:
    """One seeded training row from each of retrieval's `pools` `(N,)`."""
    rng = np.random.default_rng(derived_seed(seed, _RETRIEVAL))
    return np.array([pool[int(rng.integers(len(pool)))] for pool in pools])


def class_pools(corpus: Corpus) -> list[np.ndarray]:
    """For each test caption, the training images of its digit (its test image's label)."""
    labels = corpus.train.split.labels
    digits = {int(d): np.flatnonzero(labels == d) for d in np.unique(labels)}
    return [digits[int(digit)] for digit in corpus.test.split.labels]


def class_images(corpus: Corpus, seed: int) -> np.ndarray:
    """For each test caption, a random training image of its digit `(N,)`."""
    rng = np.random.default_rng(derived_seed(seed, _CLASS))
    return np.array([rng.choice(pool) for pool in class_pools(corpus)], dtype=np.int64)


def draws_from(pools: list[np.ndarray], draws: int, seed: int, stream: int) -> np.ndarray:
    """`draws` seeded picks (with replacement) from each of `pools`, pool by pool `(P * K,)`."""
    rng = np.random.default_rng(derived_seed(seed, stream, draws))
    return np.concatenate([rng.choice(pool, draws) for pool in pools])


def prompt_diversity(
    evaluator: LoadedEvaluator, images: np.ndarray, draws: int, cfg: EvalConfig,
    device: torch.device,
) -> float:  # fmt: skip
    """Diversity within one prompt: the mean distance, in the evaluator's features, between
    two of the `draws` images of the same prompt (`images` prompt by prompt), averaged over
    the prompts."""
    features, _ = extract(evaluator.network, images, cfg.batch_size, device)
    groups = features.reshape(-1, draws, features.shape[1])  # (P, K, D)
    distances = torch.cdist(groups, groups)  # (P, K, K), zero on the diagonal
    return round(float(distances.sum() / (len(groups) * draws * (draws - 1))), 6)


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


def _candidates(texts: list[str], encoded: Encoded, groups: np.ndarray | None) -> int:
    """How many captions every test image can be ranked among: its own and the fewest others
    any image has (other words, as the vocabulary reads them; with `groups`, of other images
    too)."""
    if groups is None:
        return len(set(texts))
    ids = torch.unique(encoded.tokens, dim=0, return_inverse=True)[1].numpy()
    others = (ids[:, None] != ids[None, :]) & (groups[:, None] != groups[None, :])  # (N, N)
    return int(others.sum(1).min()) + 1


def score_way(
    images: np.ndarray, measurements: dict[str, np.ndarray], corpus: Corpus,
    evaluator: LoadedEvaluator, matching: MatchingModel, cfg: EvalConfig, device: torch.device,
) -> dict[str, float]:  # fmt: skip
    """Every score of one way's images, image i for test caption i (for a user's folder, no
    digit or attribute score)."""
    captions, digits = corpus.test.captions, corpus.test.split.labels
    features, logits = extract(evaluator.network, images, cfg.batch_size, device)
    reference = fid_statistics(evaluator.reference_features)
    scores: dict[str, float] = {}
    if corpus.bins is not None:
        hits = attribute_hits(measurements, captions, corpus.bins)
        every = np.concatenate(list(hits.values()))
        scores["digit_accuracy"] = accuracy(logits, digits)
        scores |= {f"{a}_accuracy": float(h.mean()) for a, h in hits.items()}
        scores["attribute_accuracy"] = float(every.mean())
    encoded = corpus.vocabulary.encode(corpus.test.texts, unknown="map")
    groups = corpus.test.images_of
    candidates = min(CANDIDATES, _candidates(corpus.test.texts, encoded, groups))
    scores["r_precision"] = r_precision(matching, images, encoded, candidates, cfg.seed, groups)
    scores["fid"] = fid_from_statistics(fid_statistics(features), reference)
    return {key: round(float(value), 6) for key, value in scores.items()}


def scored_ways(
    generated: np.ndarray, prompted: np.ndarray, corpus: Corpus, evaluator: LoadedEvaluator,
    cfg: EvalConfig,
    device: torch.device, matching_epochs: int = MatchingConfig.epochs,
    progress: Callable[[str], None] = log.info,
) -> dict[str, dict[str, float | None]]:  # fmt: skip
    """The table: way -> its scores (see the module), the GAN's first. `prompted`: the GAN's
    `PROMPT_DRAWS` images of each of the first test captions, prompt by prompt (for the
    diversity within one prompt)."""
    matching = matching_for_scores(corpus, cfg.seed, matching_epochs)
    train, test = corpus.train, corpus.test
    draws = PROMPT_DRAWS
    spread = partial(prompt_diversity, evaluator, draws=draws, cfg=cfg, device=device)
    pools, fallbacks = _pools(corpus)  # retrieval's, for its images and its diversity
    retrieved = picked_from(pools, cfg.seed)
    count = len(prompted) // draws
    if not corpus.has_digits:
        log.info("a folder's own captions name no digit and no shape: no digit or attribute "
                 "accuracy, no class-image baseline; retrieval by caption (%d of %d test "
                 "captions by shared words); scored: R-precision, FID, prompt diversity",
                 fallbacks["shared_words"], len(test.captions))  # fmt: skip
        table: dict[str, dict[str, float | None]] = {}
        for way, images in (("text_gan", generated), ("retrieval", train.split.images[retrieved]),
                            ("real_test", test.split.images)):  # fmt: skip
            progress(f"scoring {way}")
            table[way] = dict(score_way(images, {}, corpus, evaluator, matching, cfg, device))
        table["text_gan"]["prompt_diversity"] = spread(prompted)
        picked = draws_from(pools[:count], draws, cfg.seed, _RETRIEVAL)
        table["retrieval"]["prompt_diversity"] = spread(train.split.images[picked])
        table["real_test"]["prompt_diversity"] = None  # one image per caption
        table["retrieval"] |= {f"fallback_{k}": float(v) for k, v in fallbacks.items()}
        return table
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
        table[way] = dict(score_way(images, measured, corpus, evaluator, matching, cfg, device))
    # diversity within one prompt: K images of each of the first P captions
    table["text_gan"]["prompt_diversity"] = spread(prompted)
    for way, way_pools, stream in (("retrieval", pools, _RETRIEVAL),
                                   ("class_image", class_pools(corpus), _CLASS)):  # fmt: skip
        table[way]["prompt_diversity"] = spread(
            train.split.images[draws_from(way_pools[:count], draws, cfg.seed, stream)]
        )
    table["real_test"]["prompt_diversity"] = None  # one image per caption
    table["retrieval"] |= {f"fallback_{k}": float(v) for k, v in fallbacks.items()}
    return table

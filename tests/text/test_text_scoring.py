"""The text task's scores and its baselines on real digits: attribute accuracy reads a
digit's own measurements against the bins its caption states; retrieval finds training
digits of those bins; a blank image is a miss; the discriminator's head reads the sentence."""

from __future__ import annotations

import numpy as np
import torch

from ganops.data.dataset import Split
from ganops.text.captions import CaptionBins, caption_digits
from ganops.text.corpus import CaptionedSplit, Corpus
from ganops.text.loop import matching_aware_penalty
from ganops.text.networks import TextGanSpec, build_networks
from ganops.text.scoring import attribute_hits, class_images, retrieve
from ganops.text.vocab import Vocabulary


def _corpus(digits: dict[str, Split], measured: dict[str, dict[str, np.ndarray]]) -> Corpus:
    bins = CaptionBins.fit(measured["train"])
    splits = {
        name: CaptionedSplit(digits[name], caption_digits(digits[name].labels, measured[name],
                                                          bins, seed=3), measured[name])
        for name in ("train", "test")
    }  # fmt: skip
    vocabulary = Vocabulary.build(splits["train"].texts)
    return Corpus(splits["train"], splits["test"], bins, vocabulary)


def test_a_digits_own_caption_is_always_right_and_another_digits_often_not(
    digits: dict[str, Split], measured: dict[str, dict[str, np.ndarray]]
) -> None:
    corpus = _corpus(digits, measured)
    own = attribute_hits(corpus.test.measurements, corpus.test.captions, corpus.bins)
    assert all(hits.all() for hits in own.values())
    assert len(own["thickness"]) == len(own["slant"]) == len(corpus.test.captions)
    assert 0 < len(own["width"]) < len(corpus.test.captions)  # width is stated half the time
    shifted = {k: np.roll(v, 1) for k, v in corpus.test.measurements.items()}
    other = attribute_hits(shifted, corpus.test.captions, corpus.bins)
    assert other["thickness"].mean() < 0.7 and other["slant"].mean() < 0.7


def test_a_blank_image_is_a_miss(
    digits: dict[str, Split], measured: dict[str, dict[str, np.ndarray]]
) -> None:
    corpus = _corpus(digits, measured)
    blank = {k: np.where(np.arange(len(v)) == 0, np.nan, v)
             for k, v in corpus.test.measurements.items()}  # fmt: skip
    hits = attribute_hits(blank, corpus.test.captions, corpus.bins)
    assert not hits["thickness"][0] and not hits["slant"][0] and hits["slant"][1:].all()


def test_retrieval_finds_training_digits_of_the_stated_bins(
    digits: dict[str, Split], measured: dict[str, dict[str, np.ndarray]]
) -> None:
    corpus = _corpus(digits, measured)
    index, fallbacks = retrieve(corpus, seed=0)
    picked = {k: v[index] for k, v in corpus.train.measurements.items()}
    hits = attribute_hits(picked, corpus.test.captions, corpus.bins)
    exact = len(corpus.test.captions) - sum(fallbacks.values())
    assert exact > 0.5 * len(corpus.test.captions)
    assert min(h.mean() for h in hits.values()) > 0.8
    labels = corpus.train.split.labels
    assert np.array_equal(labels[index], corpus.test.split.labels)  # always the named digit
    same = class_images(corpus, seed=0)
    assert np.array_equal(labels[same], corpus.test.split.labels)
    assert np.array_equal(retrieve(corpus, seed=0)[0], index)  # seeded


def test_the_discriminator_reads_the_sentence_and_the_penalty_its_gradient() -> None:
    spec = TextGanSpec(channels=1, image_size=28, width=4, noise_dim=3, embed_dim=6)
    generator, discriminator = build_networks(spec, seed=0)
    noise, sentences = torch.randn(5, 3), torch.randn(5, 6)
    images = generator(noise, sentences)
    assert images.shape == (5, 1, 28, 28) and images.abs().max() <= 1
    real = images.detach().requires_grad_(True)
    said = sentences.clone().requires_grad_(True)
    logits = discriminator(real, said)
    assert logits.shape == (5,)
    assert not torch.allclose(logits, discriminator(real, sentences.roll(1, 0)))
    penalty = matching_aware_penalty(logits, real, said, power=6.0)
    assert penalty.item() > 0 and penalty.requires_grad

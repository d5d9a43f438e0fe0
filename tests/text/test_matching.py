"""The matching model learns real digit-caption pairs (R-precision well above chance on
held-out pairs), trains to the same bytes from one seed, and saves as plain tensors."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
import torch

from ganops.data.dataset import Split
from ganops.errors import ConfigError, DataError
from ganops.text.captions import CaptionBins, caption_digits
from ganops.text.matching import MatchingConfig, MatchingModel, encode, r_precision, train_matching
from ganops.text.vocab import Encoded, Vocabulary
from tests.helpers import load_script

TINY = MatchingConfig(embed_dim=32, word_dim=32, width=16, epochs=12, batch_size=32, lr=3e-3)
CANDIDATES = 20  # chance: 0.05


@pytest.fixture(scope="module")
def pairs(
    digits: dict[str, Split], measured: dict[str, dict[str, np.ndarray]]
) -> tuple[Vocabulary, dict[str, tuple[np.ndarray, Encoded]]]:
    """The real digits of each split with their made captions, encoded."""
    bins = CaptionBins.fit(measured["train"])
    texts = {
        name: [c.text for c in caption_digits(split.labels, measured[name], bins, 0)]
        for name, split in digits.items()
    }
    vocabulary = Vocabulary.build(texts["train"])
    return vocabulary, {
        name: (digits[name].images, vocabulary.encode(texts[name])) for name in digits
    }


@pytest.fixture(scope="module")
def trained(pairs: tuple[Vocabulary, dict[str, tuple[np.ndarray, Encoded]]]) -> MatchingModel:
    vocabulary, data = pairs
    model, losses = train_matching(*data["train"], len(vocabulary), TINY, seed=0)
    assert losses[-1] < 0.7 * losses[0]
    return model


def test_the_model_ranks_held_out_captions_well_above_chance(
    pairs: tuple[Vocabulary, dict[str, tuple[np.ndarray, Encoded]]], trained: MatchingModel
) -> None:
    vocabulary, data = pairs
    untrained, _ = train_matching(*data["train"], len(vocabulary), TINY.__class__(
        **{**TINY.__dict__, "epochs": 0}), seed=0)  # fmt: skip
    before = r_precision(untrained, *data["test"], candidates=CANDIDATES, seed=0)
    after = r_precision(trained, *data["test"], candidates=CANDIDATES, seed=0)
    assert before < 0.12  # an untrained model ranks at about chance
    # about 0.2 over seeds 0-2 at this size: four times chance
    assert after > 3 / CANDIDATES and after > before + 0.08
    # a true caption matched to the wrong image ranks no better than chance
    images, captions = data["test"]
    shuffled = images[np.random.default_rng(0).permutation(len(images))]
    assert r_precision(trained, shuffled, captions, candidates=CANDIDATES, seed=0) < 0.12


def test_one_seed_trains_the_same_bytes(
    pairs: tuple[Vocabulary, dict[str, tuple[np.ndarray, Encoded]]],
) -> None:
    vocabulary, data = pairs
    images, captions = data["train"]
    few = Encoded(captions.tokens[:96], captions.lengths[:96])
    quick = MatchingConfig(**{**TINY.__dict__, "epochs": 2})
    first, _ = train_matching(images[:96], few, len(vocabulary), quick, seed=5)
    again, _ = train_matching(images[:96], few, len(vocabulary), quick, seed=5)
    other, _ = train_matching(images[:96], few, len(vocabulary), quick, seed=6)
    for name, tensor in first.state_dict().items():
        assert torch.equal(tensor, again.state_dict()[name]), name
    assert not torch.equal(first.image.project.weight, other.image.project.weight)


def test_the_model_saves_as_plain_tensors(
    pairs: tuple[Vocabulary, dict[str, tuple[np.ndarray, Encoded]]], trained: MatchingModel
) -> None:
    _, data = pairs
    buffer = io.BytesIO()
    torch.save(trained.to_payload(), buffer)
    buffer.seek(0)
    loaded = MatchingModel.from_payload(torch.load(buffer, weights_only=True))
    for ours, theirs in zip(
        encode(trained, *data["test"]), encode(loaded, *data["test"]), strict=True
    ):
        assert torch.equal(ours, theirs)


def test_a_config_it_cannot_train_is_one_line() -> None:
    with pytest.raises(ConfigError, match="batch_size needs 2 or more"):
        MatchingConfig(batch_size=1)
    with pytest.raises(ConfigError, match="embed_dim an even number"):
        MatchingConfig(embed_dim=33)


def test_r_precision_refuses_what_it_cannot_rank(
    pairs: tuple[Vocabulary, dict[str, tuple[np.ndarray, Encoded]]], trained: MatchingModel
) -> None:
    _, data = pairs
    images, captions = data["test"]
    with pytest.raises(DataError, match="other distinct captions; 99 are needed"):
        r_precision(trained, images[:50], Encoded(captions.tokens[:50], captions.lengths[:50]))
    with pytest.raises(DataError, match="50 images but 400 captions"):
        r_precision(trained, images[:50], captions)


def test_r_precision_never_draws_a_caption_of_the_same_picture(
    pairs: tuple[Vocabulary, dict[str, tuple[np.ndarray, Encoded]]], trained: MatchingModel
) -> None:
    """With `groups` (each row's picture), the captions of an image's own picture are not
    among its wrong ones: where all but five rows share a picture, those rows have at most
    five captions to be ranked against."""
    _, data = pairs
    images, captions = data["test"]
    groups = np.zeros(len(images), dtype=np.int64)
    groups[:5] = 1
    assert 0 <= r_precision(trained, images, captions, 10, 0) <= 1
    with pytest.raises(DataError, match="other distinct captions; 9 are needed"):
        r_precision(trained, images, captions, 10, 0, groups)


def test_the_bench_prints_r_precision_per_seed(capsys: pytest.CaptureFixture[str]) -> None:
    """bench/text_matching.py at a tiny size (its figures are in docs/benchmarks.md)."""
    bench = load_script("bench", "text_matching")
    bench.main(["--count", "120", "--epochs", "1", "--seeds", "0", "1", "--candidates", "10"])
    printed = capsys.readouterr().out
    assert "digits: 120 train, 120 test" in printed and "chance: 0.100;" in printed
    assert re.search(r"exact-bins oracle on the test pairs: [01]\.\d{3}", printed)
    rows = re.findall(
        r"seed (\d): trained 1 epochs in [\d.]+ s, .*R-precision test ([\d.]+)", printed
    )
    assert [seed for seed, _ in rows] == ["0", "1"]
    assert all(0.0 <= float(value) <= 1.0 for _, value in rows)

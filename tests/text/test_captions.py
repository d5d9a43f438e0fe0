"""The captioner: bins from the training split's quantiles, seeded and varied captions that
state the bins they say, and the bins' JSON file."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from ganops.data.dataset import Split
from ganops.errors import DataError, TextError
from ganops.text.captions import (
    ATTRIBUTES,
    DIGIT_NAMES,
    PHRASES,
    CaptionBins,
    caption_digit,
    caption_digits,
    caption_words,
    describe,
)
from ganops.text.vocab import tokenize
from tests.helpers import ROOT
from tests.text.conftest import COUNT

Measured = dict[str, dict[str, np.ndarray]]


def _said(text: str, attribute: str) -> set[str]:
    """The bins of `attribute` whose phrases appear in `text`, longest phrase first (so
    "slanted to the left" is not read as "slanted")."""
    phrases = sorted(
        ((" ".join(tokenize(p)), value) for value, both in PHRASES[attribute].items()
         for p in (*both[0], *both[1])),
        key=lambda item: -len(item[0]),
    )  # fmt: skip
    padded, found = f" {' '.join(tokenize(text))} ", set()
    for phrase, value in phrases:
        if f" {phrase} " in padded:
            found.add(value)
            padded = padded.replace(f" {phrase} ", " | ")
    return found


def test_the_edges_are_the_training_splits_quantiles(measured: Measured) -> None:
    train = measured["train"]
    bins = CaptionBins.fit(train)
    assert bins.fitted_on == COUNT
    thirds = np.quantile(train["thickness"], [1 / 3, 2 / 3])
    assert bins.edges["thickness"] == pytest.approx(tuple(thirds))
    assert bins.edges["slant"] == pytest.approx(
        tuple(np.quantile(train["slant_deg"], [1 / 3, 2 / 3]))
    )
    assert bins.edges["width"] == pytest.approx((float(np.median(train["width"])),))
    assert bins.edges["size"] == pytest.approx((float(np.median(train["height"])),))
    # on the training split each bin holds its share; the test split is binned by the same edges
    for attribute, index in bins.assign(train).items():
        shares = np.bincount(index, minlength=len(ATTRIBUTES[attribute])) / COUNT
        assert shares == pytest.approx(1 / len(ATTRIBUTES[attribute]), abs=0.02), attribute
    test_index = bins.assign(measured["test"])["thickness"]
    expected = (measured["test"]["thickness"][:, None] >= np.array(thirds)).sum(axis=1)
    assert np.array_equal(test_index, expected)
    # slant's bins run left to right: the left bin leans left of the upright one
    slant = bins.assign(train)["slant"]
    assert train["slant_deg"][slant == 0].max() <= train["slant_deg"][slant == 1].min()


def test_the_bins_round_trip_through_json(measured: Measured, tmp_path: Path) -> None:
    bins = CaptionBins.fit(measured["train"])
    bins.save(tmp_path / "bins.json")
    again = CaptionBins.load(tmp_path / "bins.json")
    assert again == bins
    assert again.names(measured["test"]) == bins.names(measured["test"])


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("not json", "cannot read caption bins"),
        (json.dumps({"format": "other"}), "not a caption bins file"),
        (
            json.dumps({"format": "ganops-caption-bins", "fitted_on": 3,
                        "edges": {"thickness": [2.0, 1.0], "slant": [0, 1], "width": [1],
                                  "size": [1]}}),
            "edges of 'thickness' must be 2 increasing numbers",
        ),
    ],
)  # fmt: skip
def test_a_bad_bins_file_is_one_line_naming_it(payload: str, message: str, tmp_path: Path) -> None:
    path = tmp_path / "bins.json"
    path.write_text(payload)
    with pytest.raises(DataError, match=re.escape(message)) as caught:
        CaptionBins.load(path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_a_blank_digit_cannot_be_binned(measured: Measured) -> None:
    train = {name: values.copy() for name, values in measured["train"].items()}
    train["thickness"][7] = np.nan
    with pytest.raises(DataError, match="digit 7 has no thickness"):
        CaptionBins.fit(train)


def test_captions_state_the_digit_and_the_bins_they_name(
    digits: dict[str, Split], measured: Measured
) -> None:
    bins = CaptionBins.fit(measured["train"])
    labels = digits["test"].labels
    captions = caption_digits(labels, measured["test"], bins, seed=3)
    truth = bins.names(measured["test"])
    for caption, label, row in zip(captions, labels, truth, strict=True):
        assert caption.digit == label
        words = tokenize(caption.text)
        assert DIGIT_NAMES[label] in words or str(label) in words, caption.text
        assert {"thickness", "slant"} <= set(caption.states)
        for attribute in ATTRIBUTES:
            said = _said(caption.text, attribute)
            if attribute in caption.states:
                assert caption.states[attribute] == row[attribute]
                assert said == {row[attribute]}, (caption.text, attribute)
            else:
                assert not said, (caption.text, attribute)
    # width and size are each stated about half the time
    for attribute in ("width", "size"):
        share = np.mean([attribute in c.states for c in captions])
        assert 0.4 < share < 0.6


def test_captions_are_seeded_and_varied(measured: Measured, digits: dict[str, Split]) -> None:
    bins = CaptionBins.fit(measured["train"])
    labels = digits["train"].labels
    first = [c.text for c in caption_digits(labels, measured["train"], bins, seed=0)]
    again = [c.text for c in caption_digits(labels, measured["train"], bins, seed=0)]
    other = [c.text for c in caption_digits(labels, measured["train"], bins, seed=1)]
    assert first == again
    assert sum(a != b for a, b in zip(first, other, strict=True)) > 0.9 * COUNT
    # digit i's caption is drawn from (seed, i): the first five alone get the same captions
    head = caption_digits(labels[:5], {k: v[:5] for k, v in measured["train"].items()}, bins, 0)
    assert [c.text for c in head] == first[:5]
    # one digit and one set of bins: many phrasings, in more than one word order
    same = {"thickness": "thick", "slant": "right", "width": "wide", "size": "small"}
    texts = {caption_digit(7, same, np.random.default_rng([9, i])).text for i in range(200)}
    assert len(texts) > 100
    thick_first = any(
        re.search(r"\b(thick|bold|heavy|fat)\b.*\b(italic|slanted)\b", t) for t in texts
    )
    slant_first = any(
        re.search(r"\b(italic|slanted)\b.*\b(thick|bold|heavy|fat)\b", t) for t in texts
    )
    assert thick_first and slant_first
    assert any(
        " an " in f" {t} " for t in {describe(8, {}, np.random.default_rng(i)) for i in range(30)}
    )


def test_a_bin_or_digit_that_does_not_exist_is_one_line() -> None:
    with pytest.raises(TextError, match=r"no bin slant='sideways' \(known: thickness: thin/"):
        describe(1, {"slant": "sideways"}, np.random.default_rng(0))
    with pytest.raises(TextError, match="digit 12 is not one of 0-9"):
        describe(12, {}, np.random.default_rng(0))


def test_the_docs_page_lists_every_word_a_caption_can_hold() -> None:
    page = (ROOT / "docs" / "text.md").read_text()
    listed = page[page.index("## The words") :]
    missing = [w for w in caption_words() if not re.search(rf"`{re.escape(w)}`", listed)]
    assert missing == []
    for attribute, bins in ATTRIBUTES.items():
        assert all(f"`{value}`" in page for value in bins), attribute

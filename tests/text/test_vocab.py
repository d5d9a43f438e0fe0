"""The tokenizer and the vocabulary: padded indices with lengths, and one-line errors for
words never seen, empty text and overlong text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from ganops.errors import DataError, TextError
from ganops.text.vocab import UNKNOWN, Vocabulary, tokenize

TRAINING = ["A thick seven, leaning to the right!", "the digit 7 in a bold pen", "a thin 1"]


def test_tokens_are_lower_case_words_and_digits() -> None:
    assert tokenize("A Bold 7, leaning-right!  12") == ["a", "bold", "7", "leaning", "right", "12"]
    assert tokenize("Ünïcode wörds") == ["ünïcode", "wörds"]
    assert tokenize(" ,.;! ") == []


def test_encode_pads_to_the_longest_text_and_gives_lengths() -> None:
    vocabulary = Vocabulary.build(TRAINING, max_length=8)
    assert vocabulary.words == tuple(sorted(set(tokenize(" ".join(TRAINING)))))
    assert len(vocabulary) == len(vocabulary.words) + 2
    encoded = vocabulary.encode(["a thick seven", "The 7"])
    assert encoded.lengths.tolist() == [3, 2]
    assert encoded.tokens.shape == (2, 3) and encoded.tokens.dtype == torch.int64
    assert encoded.tokens[1, 2] == 0  # padding
    assert vocabulary.decode(encoded.tokens[0], 3) == "a thick seven"
    assert vocabulary.decode(encoded.tokens[1], 2) == "the 7"
    assert (encoded.tokens[0] >= 2).all()  # no word is padding or unknown


def test_unknown_words_are_one_line_naming_them_and_the_vocabulary(tmp_path: Path) -> None:
    path = tmp_path / "vocabulary.json"
    Vocabulary.build(TRAINING).save(path)
    vocabulary = Vocabulary.load(path)
    with pytest.raises(TextError) as caught:
        vocabulary.encode(["a thick seven", "a purple zebra seven"])
    message = str(caught.value)
    assert "'purple', 'zebra'" in message and str(path) in message
    assert "unknown='map'" in message and "\n" not in message
    assert isinstance(caught.value, ValueError)
    mapped = vocabulary.encode(["a purple zebra seven"], unknown="map")
    assert mapped.tokens[0].tolist()[1:3] == [vocabulary.index[UNKNOWN]] * 2
    assert mapped.lengths.tolist() == [4]


def test_empty_and_overlong_texts_are_one_line() -> None:
    vocabulary = Vocabulary.build(TRAINING, max_length=8)
    with pytest.raises(TextError, match=r"^text 1 is empty: a text needs at least one word$"):
        vocabulary.encode(["a seven", " ?! "])
    with pytest.raises(TextError, match=r"^text 0 has 9 words; the model reads at most 8 "):
        vocabulary.encode(["a " * 9])
    with pytest.raises(TextError, match="no text given"):
        vocabulary.encode([])
    with pytest.raises(TextError, match="text 1 has 9 words"):
        Vocabulary.build(["a seven", "a " * 9], max_length=8)


def test_a_vocabulary_round_trips_and_a_bad_file_is_one_line(tmp_path: Path) -> None:
    vocabulary = Vocabulary.build(TRAINING, max_length=12)
    vocabulary.save(tmp_path / "v.json")
    again = Vocabulary.load(tmp_path / "v.json")
    assert (again.words, again.max_length) == (vocabulary.words, 12)
    assert torch.equal(again.encode(TRAINING).tokens, vocabulary.encode(TRAINING).tokens)
    payload = json.loads((tmp_path / "v.json").read_text())
    for change, message in [
        ({"words": ["b", "a"]}, "distinct tokens, sorted"),
        ({"words": ["two words"]}, "distinct tokens, sorted"),
        ({"max_length": 0}, "max_length must be a positive whole number"),
        ({"format": "x"}, "not a vocabulary file"),
    ]:
        (tmp_path / "bad.json").write_text(json.dumps(payload | change))
        with pytest.raises(DataError, match=message):
            Vocabulary.load(tmp_path / "bad.json")

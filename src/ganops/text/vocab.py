"""Words as indices: the tokenizer, and the vocabulary a text model reads.

Tokens are lower-cased words (letters of any script) and runs of digits; everything else
(punctuation, spaces) separates them: "A bold 7, leaning!" -> `a bold 7 leaning`. The
vocabulary is built from the TRAINING captions only (AttnGAN builds its dictionary from the
training captions the same way: T. Xu et al., "AttnGAN: Fine-Grained Text to Image Generation
with Attentional Generative Adversarial Networks", CVPR 2018) and kept as JSON.

Index 0 is padding, 1 the unknown word, then the words in sorted order. A text is refused
with a one-line `TextError` when it has no word, when it is longer than the vocabulary's
`max_length`, or when it holds words the vocabulary never saw, unless `unknown="map"` reads
those as the unknown word.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple

import torch

from ganops.errors import DataError, TextError
from ganops.io import write_json

PAD, UNKNOWN = "<pad>", "<unk>"
SPECIALS = (PAD, UNKNOWN)  # indices 0 and 1
DEFAULT_MAX_LENGTH = 32  # words a text model reads at most
VOCABULARY_FORMAT = "ganops-vocabulary"
_TOKEN = re.compile(r"[^\W\d_]+|\d+")
_SHOWN = 10  # unknown words named in the error; the rest are counted
Unknown = Literal["error", "map"]


def tokenize(text: str) -> list[str]:
    """The lower-cased words and digit runs of `text`, in order."""
    return _TOKEN.findall(text.lower())


class Encoded(NamedTuple):
    """Texts as indices: `tokens` `(N, L)` int64 padded with 0 to the longest text, `lengths`
    `(N,)` int64 its words per text."""

    tokens: torch.Tensor
    lengths: torch.Tensor


@dataclass(frozen=True)
class Vocabulary:
    """The words a text model knows (`words`, sorted; their indices start at 2), the most
    words it reads in one text, and `where` the vocabulary is kept (its file, or how it was
    built): the errors name it."""

    words: tuple[str, ...]
    max_length: int = DEFAULT_MAX_LENGTH
    where: str = "built in memory"

    @classmethod
    def build(
        cls,
        captions: Iterable[str],
        max_length: int = DEFAULT_MAX_LENGTH,
        where: str = "built from the training captions",
    ) -> Vocabulary:
        """Every word of the training `captions`; one over `max_length` words, or an empty
        one, is a `TextError` (the vocabulary must read its own training data)."""
        words: set[str] = set()
        count = 0
        for count, caption in enumerate(captions, start=1):
            tokens = tokenize(caption)
            _check_length(tokens, count - 1, max_length, where)
            words.update(tokens)
        if not count:
            raise TextError("vocabulary: no captions to build it from")
        return cls(words=tuple(sorted(words)), max_length=max_length, where=where)

    @functools.cached_property
    def index(self) -> dict[str, int]:
        """word -> its index (the specials included)."""
        return {word: i for i, word in enumerate((*SPECIALS, *self.words))}

    def __len__(self) -> int:
        return len(SPECIALS) + len(self.words)

    def encode(self, texts: Sequence[str], unknown: Unknown = "error") -> Encoded:
        """`texts` as padded indices. With `unknown="error"` a word the vocabulary lacks is a
        `TextError` naming every such word; with `"map"` it reads as `<unk>` (index 1)."""
        if isinstance(texts, str):
            texts = [texts]
        if not texts:
            raise TextError("no text given")
        rows = []
        for number, text in enumerate(texts):
            tokens = tokenize(text)
            _check_length(tokens, number, self.max_length, self.where)
            rows.append(tokens)
        missing = sorted({word for row in rows for word in row if word not in self.index})
        if missing and unknown != "map":
            shown = ", ".join(repr(word) for word in missing[:_SHOWN])
            more = f" and {len(missing) - _SHOWN} more" if len(missing) > _SHOWN else ""
            raise TextError(
                f"words the model never saw: {shown}{more}; its vocabulary ({self.where}) "
                f"has {len(self.words)} words; unknown='map' (ganops sample --unknown-words map) "
                f"reads them as {UNKNOWN}"
            )
        lengths = torch.tensor([len(row) for row in rows], dtype=torch.int64)
        padded = torch.zeros((len(rows), int(lengths.max())), dtype=torch.int64)  # (N, L)
        unknown_index = self.index[UNKNOWN]
        for number, row in enumerate(rows):
            indices = [self.index.get(word, unknown_index) for word in row]
            padded[number, : len(row)] = torch.tensor(indices, dtype=torch.int64)
        return Encoded(tokens=padded, lengths=lengths)

    def decode(self, tokens: torch.Tensor, length: int) -> str:
        """The words of one encoded text (`tokens` `(L,)`, its first `length`)."""
        every = (*SPECIALS, *self.words)
        return " ".join(every[int(i)] for i in tokens[:length])

    def save(self, path: Path) -> None:
        """Write it as JSON (the words and max_length; not `where`, which names this place)."""
        write_json(
            path,
            {"format": VOCABULARY_FORMAT, "specials": list(SPECIALS), "words": list(self.words),
             "max_length": self.max_length},
        )  # fmt: skip

    @classmethod
    def load(cls, path: Path) -> Vocabulary:
        """A vocabulary `save` wrote; anything else is a one-line `DataError` naming `path`."""
        try:
            payload = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise DataError(f"{path}: cannot read the vocabulary ({error})") from None
        if not isinstance(payload, dict) or payload.get("format") != VOCABULARY_FORMAT:
            raise DataError(f"{path}: not a vocabulary file (format {VOCABULARY_FORMAT!r})")
        words, max_length = payload.get("words"), payload.get("max_length")
        if (
            not isinstance(words, list)
            or not all(isinstance(w, str) and tokenize(w) == [w] for w in words)
            or sorted(set(words)) != words
        ):
            raise DataError(f"{path}: its words must be distinct tokens, sorted")
        if payload.get("specials") != list(SPECIALS):
            raise DataError(f"{path}: its special tokens must be {list(SPECIALS)}")
        if not isinstance(max_length, int) or max_length < 1:
            raise DataError(f"{path}: max_length must be a positive whole number")
        return cls(words=tuple(words), max_length=max_length, where=str(path))


def _check_length(tokens: list[str], number: int, max_length: int, where: str) -> None:
    """A `TextError` for text `number` when it has no word or more than `max_length`."""
    if not tokens:
        raise TextError(f"text {number} is empty: a text needs at least one word")
    if len(tokens) > max_length:
        raise TextError(
            f"text {number} has {len(tokens)} words; the model reads at most {max_length} "
            f"(the max_length of the vocabulary, {where})"
        )

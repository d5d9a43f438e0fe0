"""Captions for digits, made from the label and the digit's own shape.

Captioning MNIST from templates is alignDRAW's idea (E. Mansimov, E. Parisotto, J. L. Ba and
R. Salakhutdinov, "Generating Images from Captions with Attention", ICLR 2016: "MNIST with
captions"); the shape comes from the Morpho-MNIST measurements (D. C. Castro et al., JMLR
20(178), 2019; `ganops.metrics.morpho`). Four attributes are put into words:

| attribute   | measurement       | bins                    | edges (training split)      |
| ----------- | ----------------- | ----------------------- | --------------------------- |
| `thickness` | `thickness` (px)  | thin, medium, thick     | its 1/3 and 2/3 quantiles   |
| `slant`     | `slant_deg` (°)   | left, upright, right    | its 1/3 and 2/3 quantiles   |
| `width`     | `width` (px)      | narrow, wide            | its median                  |
| `size`      | `height` (px)     | small, large            | its median                  |

The edges are fitted once on the training split (`CaptionBins.fit`) and kept as JSON, so a
test digit or a generated one is put in its bin by the training split's edges. A value on an
edge goes to the bin above it.

A caption always states the digit, its thickness and its slant, and each of width and size
with probability 1/2; each stated attribute is said by an adjective before the noun or by a
phrase after it, drawn from several synonyms, in a shuffled order, inside one of several
noun phrases ("a seven", "the digit 7", ...). So one digit's caption is not one fixed string:
a seeded draw per digit picks it, and `Caption.states` says which bins it names (what an
attribute score later checks). docs/text.md lists every template and word.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ganops.errors import DataError, TextError
from ganops.io import write_json

# attribute -> its bins, low to high
ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "thickness": ("thin", "medium", "thick"),
    "slant": ("left", "upright", "right"),
    "width": ("narrow", "wide"),
    "size": ("small", "large"),
}
MEASUREMENT = {"thickness": "thickness", "slant": "slant_deg", "width": "width", "size": "height"}
ALWAYS_STATED = ("thickness", "slant")
SOMETIMES_STATED = ("width", "size")  # each stated with probability STATE_PROBABILITY
STATE_PROBABILITY = 0.5
DIGIT_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
BINS_FORMAT = "ganops-caption-bins"

# attribute -> bin -> (adjectives before the noun, phrases after it)
PHRASES: dict[str, dict[str, tuple[tuple[str, ...], tuple[str, ...]]]] = {
    "thickness": {
        "thin": (
            ("thin", "fine", "light", "delicate"),
            ("with a thin stroke", "drawn with a fine line", "in a light pen"),
        ),
        "medium": (
            ("medium", "regular"),
            ("with a medium stroke", "drawn with a regular line", "of medium weight"),
        ),
        "thick": (
            ("thick", "bold", "heavy", "fat"),
            ("with a thick stroke", "drawn with a heavy line", "in a bold pen"),
        ),
    },
    "slant": {
        "left": (
            ("left leaning", "back slanted"),
            ("leaning to the left", "slanted to the left", "tilted left"),
        ),
        "upright": (
            ("upright", "straight", "vertical"),
            ("standing upright", "standing straight", "with no slant"),
        ),
        "right": (
            ("italic", "slanted", "right leaning"),
            ("leaning to the right", "slanted to the right", "tilted right", "in italics"),
        ),
    },
    "width": {
        "narrow": (("narrow", "condensed", "squeezed"), ("that is narrow", "squeezed narrow")),
        "wide": (("wide", "broad", "stretched"), ("that is wide", "stretched wide")),
    },
    "size": {
        "small": (("small", "little", "tiny"), ("written small",)),
        "large": (("large", "big"), ("written large", "written big")),
    },
}

# noun phrases: {adjectives} before the noun, the digit as a word ({name}) or a numeral ({numeral})
TEMPLATES = (
    "{adjectives} {name}",
    "{adjectives} handwritten {name}",
    "{adjectives} digit {name}",
    "{adjectives} number {numeral}",
    "{adjectives} {numeral}",
)
ARTICLES = ("a", "the", "")  # before a template; `a` becomes `an` before a vowel sound
JOINERS = (" and ", ", ")  # between phrases after the noun


@dataclass(frozen=True)
class Caption:
    """One caption: its text, the digit it names and the bin of each attribute it states
    (attribute -> bin; attributes it leaves out are absent). A user's own caption names no
    digit (None) and states no bin."""

    text: str
    digit: int | None
    states: Mapping[str, str]


@dataclass(frozen=True)
class CaptionBins:
    """The inner edges of each attribute's bins, increasing: quantiles of the training split's
    measurements (`fit`). `fitted_on` counts the digits they came from."""

    edges: Mapping[str, tuple[float, ...]]
    fitted_on: int

    @classmethod
    def fit(cls, measurements: Mapping[str, np.ndarray]) -> CaptionBins:
        """Edges from the measurements of the TRAINING split (`morpho.measure_batch`'s dict):
        for n bins, the k/n quantiles, k = 1 .. n-1. A blank digit (NaN) is a `DataError`."""
        columns = _columns(measurements)
        edges = {}
        for attribute, bins in ATTRIBUTES.items():
            fractions = [k / len(bins) for k in range(1, len(bins))]
            edges[attribute] = tuple(float(q) for q in np.quantile(columns[attribute], fractions))
        return cls(edges=edges, fitted_on=len(columns["thickness"]))

    def assign(self, measurements: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Each attribute's bin index per digit `(N,)` int64 (0 = the lowest bin)."""
        columns = _columns(measurements)
        return {
            attribute: np.searchsorted(np.array(self.edges[attribute]), values, side="right")
            for attribute, values in columns.items()
        }

    def names(self, measurements: Mapping[str, np.ndarray]) -> list[dict[str, str]]:
        """Each digit's bins by name: one dict attribute -> bin per digit."""
        indices = self.assign(measurements)
        count = len(indices["thickness"])
        return [
            {attribute: ATTRIBUTES[attribute][int(indices[attribute][i])] for attribute in indices}
            for i in range(count)
        ]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": BINS_FORMAT,
            "measurements": MEASUREMENT,
            "bins": {name: list(bins) for name, bins in ATTRIBUTES.items()},
            "edges": {name: list(edges) for name, edges in self.edges.items()},
            "fitted_on": self.fitted_on,
        }

    def save(self, path: Path) -> None:
        write_json(path, self.to_json())

    @classmethod
    def load(cls, path: Path) -> CaptionBins:
        """Bins saved by `save`; anything else is a one-line `DataError` naming `path`."""
        try:
            payload = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise DataError(f"{path}: cannot read caption bins ({error})") from None
        if not isinstance(payload, dict) or payload.get("format") != BINS_FORMAT:
            raise DataError(f"{path}: not a caption bins file (format {BINS_FORMAT!r})")
        edges = payload.get("edges")
        fitted_on = payload.get("fitted_on")
        if not isinstance(edges, dict) or not isinstance(fitted_on, int):
            raise DataError(f"{path}: caption bins without edges or fitted_on")
        checked: dict[str, tuple[float, ...]] = {}
        for attribute, bins in ATTRIBUTES.items():
            values = edges.get(attribute)
            if (
                not isinstance(values, list)
                or len(values) != len(bins) - 1
                or not all(isinstance(v, int | float) and math.isfinite(v) for v in values)
                or sorted(values) != values
            ):
                raise DataError(
                    f"{path}: edges of {attribute!r} must be {len(bins) - 1} increasing numbers"
                )
            checked[attribute] = tuple(float(v) for v in values)
        return cls(edges=checked, fitted_on=fitted_on)


def _columns(measurements: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """attribute -> its measurement `(N,)` float64; a `DataError` for a missing or ragged
    field, or a blank digit (NaN)."""
    columns = {}
    for attribute, field in MEASUREMENT.items():
        if field not in measurements:
            raise DataError(f"caption bins: the measurements lack {field!r}")
        columns[attribute] = np.asarray(measurements[field], dtype=np.float64).reshape(-1)
    lengths = {len(values) for values in columns.values()}
    if len(lengths) != 1 or 0 in lengths:
        raise DataError(f"caption bins: measurements of unequal or zero length {sorted(lengths)}")
    for attribute, values in columns.items():
        missing = np.flatnonzero(~np.isfinite(values))
        if len(missing):
            raise DataError(
                f"caption bins: digit {int(missing[0])} has no {MEASUREMENT[attribute]} "
                f"(a blank image?); {len(missing)} such digits"
            )
    return columns


def _article(word: str) -> str:
    """`an` before a vowel sound (`an eight`, `an 8`, `an upright`), else `a` (`a one`)."""
    vowel = word[0] in "aeiou" and not word.startswith(("one", "uni"))
    return "an" if vowel or word in ("8", "11", "18") else "a"


def _pick(options: Sequence[str], rng: np.random.Generator) -> str:
    return options[int(rng.integers(len(options)))]


def describe(digit: int, states: Mapping[str, str], rng: np.random.Generator) -> str:
    """A caption of `digit` (0-9) that states each attribute bin in `states` (attribute ->
    bin), its phrasing drawn with `rng`. An unknown attribute or bin is a `TextError`."""
    if not 0 <= digit < len(DIGIT_NAMES):
        raise TextError(f"captions: digit {digit} is not one of 0-9")
    adjectives: list[str] = []
    after: list[str] = []
    for attribute, value in states.items():
        if attribute not in PHRASES or value not in PHRASES[attribute]:
            known = ", ".join(f"{a}: {'/'.join(bins)}" for a, bins in ATTRIBUTES.items())
            raise TextError(f"captions: no bin {attribute}={value!r} (known: {known})")
        before_noun, after_noun = PHRASES[attribute][value]
        if rng.random() < 0.5:
            adjectives.append(_pick(before_noun, rng))
        else:
            after.append(_pick(after_noun, rng))
    order = rng.permutation(len(adjectives))
    noun = _pick(TEMPLATES, rng).format(
        adjectives=" ".join(adjectives[i] for i in order),
        name=DIGIT_NAMES[digit],
        numeral=str(digit),
    )
    words = noun.split()
    article = _pick(ARTICLES, rng)
    if article == "a":
        article = _article(words[0])
    text = " ".join([article, *words] if article else words)
    if after:
        phrases = [after[i] for i in rng.permutation(len(after))]
        text += " " + _pick(JOINERS, rng).join(phrases)
    return text


def caption_digit(digit: int, bins: Mapping[str, str], rng: np.random.Generator) -> Caption:
    """A caption of one digit whose bins (attribute -> bin, every attribute) are `bins`:
    thickness and slant always stated, width and size each with probability 1/2."""
    stated = [*ALWAYS_STATED, *(a for a in SOMETIMES_STATED if rng.random() < STATE_PROBABILITY)]
    states = {attribute: bins[attribute] for attribute in stated}
    return Caption(text=describe(digit, states, rng), digit=digit, states=states)


def caption_digits(
    labels: np.ndarray, measurements: Mapping[str, np.ndarray], bins: CaptionBins, seed: int
) -> list[Caption]:
    """One caption per digit: `labels` `(N,)` 0-9 and their `morpho.measure_batch`
    measurements, binned by `bins`. Digit i's caption is drawn from the seeds (`seed`, i), so
    the first k digits captioned alone get the first k captions of the whole batch."""
    labels = np.asarray(labels).reshape(-1)
    named = bins.names(measurements)
    if len(named) != len(labels):
        raise DataError(f"captions: {len(labels)} labels but {len(named)} measured digits")
    return [
        caption_digit(int(label), row, np.random.default_rng([seed, index]))
        for index, (label, row) in enumerate(zip(labels, named, strict=True))
    ]


def caption_words() -> list[str]:
    """Every word a caption can hold, sorted (docs/text.md lists them)."""
    texts = [*ARTICLES, "an", *JOINERS, *DIGIT_NAMES, *(str(d) for d in range(10)), *TEMPLATES]
    for bins in PHRASES.values():
        for before_noun, after_noun in bins.values():
            texts.extend([*before_noun, *after_noun])
    words = set()
    for text in texts:
        for word in text.replace(",", " ").split():
            if not word.startswith("{"):
                words.add(word)
    return sorted(words)

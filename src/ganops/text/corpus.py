"""The captioned digits of `task: text`: what the preprocess stage writes beside the splits,
and reads back for the stages after it.

For each split every digit is measured (Morpho-MNIST, `ganops.metrics.morpho`), the caption
bins are fitted on the TRAINING split's measurements, each digit gets one seeded caption
(`text.caption_seed`; `ganops.text.captions`) and the vocabulary is every word of the
training captions. Into the processed folder, beside the arrays:

- `captions.json`: per split, each digit's caption (its text, its digit and the bins it
  states) and its measurements (`thickness`, `slant_deg`, `width`, `height`);
- `caption_bins.json`: the bins' edges (`CaptionBins`);
- `vocabulary.json`: the words the text encoder reads (`Vocabulary`).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ganops.config import Params
from ganops.data.dataset import Split, load_split
from ganops.data.processing import prepare, write_processed
from ganops.errors import ConfigError, DataError
from ganops.io import atomic_dir, write_json
from ganops.metrics.morpho import measure_batch
from ganops.text.captions import MEASUREMENT, Caption, CaptionBins, caption_digits
from ganops.text.vocab import Vocabulary

log = logging.getLogger(__name__)
CAPTIONS_FILE, BINS_FILE, VOCABULARY_FILE = "captions.json", "caption_bins.json", "vocabulary.json"
CAPTIONS_FORMAT = "ganops-digit-captions/1"
SPLITS = ("train", "test")


@dataclass(frozen=True)
class CaptionedSplit:
    """One split's images with their captions and measurements `(N,)` per field."""

    split: Split
    captions: list[Caption]
    measurements: dict[str, np.ndarray]

    @property
    def texts(self) -> list[str]:
        return [caption.text for caption in self.captions]


@dataclass(frozen=True)
class Corpus:
    """The captioned train and test splits, the bins and the vocabulary."""

    train: CaptionedSplit
    test: CaptionedSplit
    bins: CaptionBins
    vocabulary: Vocabulary


def check_digits(params: Params) -> None:
    """The captions name digits 0-9: a one-line `ConfigError` for other data."""
    if params.data.folder is not None:
        raise ConfigError(
            "data.folder: task text captions digits from their class and shape; a folder of "
            "your own captioned images is not read yet (docs/text.md)"
        )


def preprocess_text(params: Params, raw: Path, processed: Path) -> Corpus:
    """The splits as `preprocess` writes them, and the captions, bins and vocabulary beside
    them, all in one atomic write of `processed`."""
    check_digits(params)
    prepared = prepare(raw, params.data)
    if len(prepared.class_names) != 10 or (prepared.labels["train"] < 0).any():
        raise ConfigError(
            "data.source: task text captions the ten digits from their labels; "
            f"{params.data.source} has {len(prepared.class_names)} classes (or unlabelled images)"
        )
    splits = {
        name: Split(prepared.images[name], prepared.labels[name], prepared.class_names)
        for name in SPLITS
    }
    measured = {name: measure_batch(splits[name].images) for name in SPLITS}
    bins = CaptionBins.fit(measured["train"])
    seed = params.text.caption_seed
    captions = {
        name: caption_digits(splits[name].labels, measured[name], bins, seed + i)
        for i, name in enumerate(SPLITS)
    }
    vocabulary = Vocabulary.build([c.text for c in captions["train"]])
    with atomic_dir(processed) as staging:
        write_processed(staging, prepared)
        write_json(staging / CAPTIONS_FILE, _payload(captions, measured, seed))
        bins.save(staging / BINS_FILE)
        vocabulary.save(staging / VOCABULARY_FILE)
    kept = {name: _kept(measured[name]) for name in SPLITS}
    train, test = (CaptionedSplit(splits[n], captions[n], kept[n]) for n in SPLITS)
    return Corpus(
        train,
        test,
        bins=bins,
        vocabulary=Vocabulary(
            vocabulary.words, vocabulary.max_length, str(processed / VOCABULARY_FILE)
        ),
    )


def _kept(measured: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {field: measured[field] for field in MEASUREMENT.values()}


def _payload(
    captions: dict[str, list[Caption]], measured: dict[str, dict[str, np.ndarray]], seed: int
) -> dict[str, Any]:
    return {
        "format": CAPTIONS_FORMAT,
        "caption_seed": seed,
        "splits": {
            name: {
                "captions": [
                    {"text": c.text, "digit": c.digit, "states": dict(c.states)} for c in rows
                ],
                "measurements": {
                    field: [round(float(v), 6) for v in measured[name][field]]
                    for field in MEASUREMENT.values()
                },
            }
            for name, rows in captions.items()
        },
    }


def load_corpus(processed: Path) -> Corpus:
    """What `preprocess_text` wrote; a one-line `DataError` naming the stage to rerun when
    the folder holds no captions or they do not fit the splits."""
    path = processed / CAPTIONS_FILE
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DataError(
            f"{path}: cannot read the captions ({type(error).__name__}); rerun the preprocess "
            "stage with task: text"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != CAPTIONS_FORMAT:
        raise DataError(f"{path}: not the digits' captions (format {CAPTIONS_FORMAT!r})")
    splits = []
    for name in SPLITS:
        split = load_split(processed, name)
        entry = payload["splits"][name]
        captions = [Caption(r["text"], int(r["digit"]), r["states"]) for r in entry["captions"]]
        measurements = {
            k: np.asarray(v, dtype=np.float64) for k, v in entry["measurements"].items()
        }
        digits = np.array([c.digit for c in captions])
        if len(captions) != len(split.labels) or not np.array_equal(digits, split.labels):
            raise DataError(
                f"{path}: the {name} captions do not fit the {name} split; rerun preprocess"
            )
        splits.append(CaptionedSplit(split, captions, measurements))
    bins = CaptionBins.load(processed / BINS_FILE)
    vocabulary = Vocabulary.load(processed / VOCABULARY_FILE)
    return Corpus(splits[0], splits[1], bins, vocabulary)

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

A user's own folder of captioned images (`data.folder`, `ganops.text.folder`) has no digits
and no shapes: its `captions.json` (`FOLDER_FORMAT`) holds each caption's text and the image
of the split it describes, and there is no bins file. Its splits are read back one row per
caption (an image with three captions is three rows), so every later stage reads (image,
caption) pairs alike.
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
from ganops.metrics import shared_work
from ganops.metrics.morpho import measure_batch
from ganops.text.captions import MEASUREMENT, Caption, CaptionBins, caption_digits
from ganops.text.vocab import Vocabulary

log = logging.getLogger(__name__)
CAPTIONS_FILE, BINS_FILE, VOCABULARY_FILE = "captions.json", "caption_bins.json", "vocabulary.json"
CAPTIONS_FORMAT = "ganops-digit-captions/1"
FOLDER_FORMAT = "ganops-folder-captions/1"
SPLITS = ("train", "test")


@dataclass(frozen=True)
class CaptionedSplit:
    """One split's images with their captions and measurements `(N,)` per field."""

    split: Split
    captions: list[Caption]
    measurements: dict[str, np.ndarray]
    # (N,) which of the split's images caption i describes (a user's folder, where an image
    # may have several); None: caption i is image i's only one (the digits)
    images_of: np.ndarray | None = None

    @property
    def texts(self) -> list[str]:
        return [caption.text for caption in self.captions]


@dataclass(frozen=True)
class Corpus:
    """The captioned train and test splits, the bins (None for a user's own captions, which
    state no bins) and the vocabulary."""

    train: CaptionedSplit
    test: CaptionedSplit
    bins: CaptionBins | None
    vocabulary: Vocabulary

    @property
    def has_digits(self) -> bool:
        """Whether the captions were made for digits (and name a digit and its bins)."""
        return self.bins is not None


def preprocess_text(params: Params, raw: Path, processed: Path) -> Corpus:
    """The splits as `preprocess` writes them, and the captions, bins and vocabulary beside
    them, all in one atomic write of `processed`."""
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
    with shared_work.shared():  # one core's work an image: among as many processes as threads
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


def _folder_splits(processed: Path, payload: dict[str, Any]) -> list[CaptionedSplit]:
    """A user's folder's splits, one row per caption: its image, its class, its text."""
    splits = []
    for name in SPLITS:
        split = load_split(processed, name)
        rows = payload["splits"][name]["captions"]
        index = np.array([int(row["image"]) for row in rows], dtype=np.int64)
        if len(index) == 0 or index.min() < 0 or index.max() >= len(split.labels):
            raise DataError(
                f"{processed / CAPTIONS_FILE}: the {name} captions do not fit the {name} "
                "split; rerun preprocess"
            )
        rows_split = Split(split.images[index], split.labels[index], split.class_names)
        captions = [Caption(str(row["text"]), None, {}) for row in rows]
        splits.append(CaptionedSplit(rows_split, captions, {}, index))
    return splits


def load_corpus(processed: Path) -> Corpus:
    """What `preprocess_text` (or `ganops.text.folder` for a user's folder) wrote; a one-line
    `DataError` naming the stage to rerun when the folder holds no captions or they do not
    fit the splits."""
    path = processed / CAPTIONS_FILE
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DataError(
            f"{path}: cannot read the captions ({type(error).__name__}); rerun the preprocess "
            "stage with task: text"
        ) from None
    if isinstance(payload, dict) and payload.get("format") == FOLDER_FORMAT:
        train, test = _folder_splits(processed, payload)
        return Corpus(train, test, None, Vocabulary.load(processed / VOCABULARY_FILE))
    if not isinstance(payload, dict) or payload.get("format") != CAPTIONS_FORMAT:
        raise DataError(
            f"{path}: not the captions preprocess writes (format {CAPTIONS_FORMAT!r} or "
            f"{FOLDER_FORMAT!r}); rerun preprocess"
        )
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

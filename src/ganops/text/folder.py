"""A user's own folder of captioned images for `task: text` (`data.folder`): the preprocess
stage's half (fetch's is `ganops.text.layouts.fetch_captioned`).

The images and captions fetch copied into the raw directory are read again
(`read_captioned_folder`), split by image (seeded, stratified by class sub-folder when the
folder has them; `data.test_size`, `data.split_seed`, `data.train_per_class`), so an image's
captions all fall in its split, and resized to `data.image_size` (colour kept). The
vocabulary is every word of the TRAINING captions. Written into the processed folder, in one
atomic write: the splits' arrays and manifest as for `generate` (one row per image), the
captions (`captions.json` in `FOLDER_FORMAT`: per split, each caption's text and the image it
describes) and `vocabulary.json`. No digits, no shape bins.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ganops.config import Params
from ganops.data.folder import ONE_CLASS, class_labels
from ganops.data.processing import (
    Prepared,
    center_crop_resize,
    split_record,
    stratified_split,
    training_subset,
    write_processed,
)
from ganops.data.sources import fetched_folder
from ganops.errors import ConfigError
from ganops.io import atomic_dir, write_json
from ganops.text.corpus import (
    CAPTIONS_FILE,
    FOLDER_FORMAT,
    SPLITS,
    VOCABULARY_FILE,
    Corpus,
    load_corpus,
)
from ganops.text.layouts import SOURCE, CaptionedFiles, read_captioned_folder
from ganops.text.vocab import Vocabulary

log = logging.getLogger(__name__)


def _captions(captioned: CaptionedFiles, index: np.ndarray) -> list[dict[str, object]]:
    """The captions of the images `index` (in the split's order), each naming its image's
    place in the split."""
    return [
        {"text": text, "image": place}
        for place, image in enumerate(index.tolist())
        for text in captioned.captions[image]
    ]


def _check_raw(params: Params, raw: Path) -> str:
    """The raw directory holds the folder `data.folder` names, as fetch copied it; its name."""
    what = "the captioned folder data.folder names"
    record = fetched_folder(raw, SOURCE, params.data.folder, what)
    return str(record.get("name", "folder"))


def preprocess_captioned_folder(params: Params, raw: Path, processed: Path) -> Corpus:
    """The splits of the captioned folder fetch copied into `raw`, their captions and the
    vocabulary of the training captions, into `processed` (replaced whole); everything
    checked before anything is written."""
    cfg = params.data
    if cfg.labelled_per_class is not None:
        raise ConfigError(
            "data.labelled_per_class: task text trains on every captioned image; set it to null"
        )
    name = _check_raw(params, raw)
    read = read_captioned_folder(raw)
    captioned = read.captioned
    labels, class_names = class_labels(raw, list(captioned.files))
    train, test = stratified_split(labels, cfg.test_size, cfg.split_seed)
    train = train[training_subset(labels[train], cfg)]
    images = center_crop_resize(read.images, cfg.image_size)  # (N, C, S, S)
    indices = dict(zip(SPLITS, (train, test), strict=True))
    prepared = Prepared(
        source=name,
        images={split: images[index] for split, index in indices.items()},
        labels={split: labels[index] for split, index in indices.items()},
        class_names=class_names,
        extra=split_record(cfg) | {"captions_layout": captioned.layout},
    )
    rows = {split: _captions(captioned, index) for split, index in indices.items()}
    vocabulary = Vocabulary.build([str(row["text"]) for row in rows["train"]])
    # a test caption too long for the text encoder: refused now, not at the train stage
    vocabulary.encode([str(row["text"]) for row in rows["test"]], unknown="map")
    if class_names == (ONE_CLASS,):
        log.warning(
            "%s: no class sub-folders, so the evaluator has one class to learn: its accuracy "
            "is trivially 1, and FID and prompt diversity measure images in its untrained "
            "features (R-precision is unaffected); give the images class sub-folders for "
            "those scores in trained features",
            cfg.folder,
        )
    with atomic_dir(processed) as staging:
        write_processed(staging, prepared)
        payload = {
            "format": FOLDER_FORMAT,
            "folder": name,
            "layout": captioned.layout,
            "splits": {split: {"captions": captions} for split, captions in rows.items()},
        }
        write_json(staging / CAPTIONS_FILE, payload)
        vocabulary.save(staging / VOCABULARY_FILE)
    return load_corpus(processed)

"""A user's images with captions, in the two layouts such data comes in.

1. **Metadata** (the "imagefolder" convention of Hugging Face datasets): a `metadata.jsonl`
   (one JSON object a line) or a `metadata.csv` (a header row) at the top of the folder, each
   row a `file_name` (the image's path relative to the folder, `/`-separated) and its `text`.
   An image may have several rows: each is one caption of it.
2. **Caption files**: beside each image a `.txt` of the same name (`7/a.png` -> `7/a.txt`),
   each non-blank line one caption of it (AttnGAN's layout of its bird captions: T. Xu et al.,
   CVPR 2018, `text/<name>.txt`).

The images are found as the project finds a folder's images (`ganops.data.folder`: hidden
files skipped, images by suffix) and read by it too. Everything is checked before a pixel is
read: an image without a caption, an empty caption, a metadata row naming an image that is
not there, a row without `file_name` or `text`, a folder holding both layouts. Each is a
one-line `DataError` naming the file.

`fetch_captioned` (the fetch stage of `task: text` with `data.folder`) checks all of that and
decodes every image, then copies the images and their caption files, as they are, into the
raw directory with a `source.json` record: a bad folder writes nothing.
"""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

import numpy as np

from ganops.data.folder import MAX_SIDE, check_images, class_labels, image_files, read_images
from ganops.data.sources import SOURCE_RECORD, source_record
from ganops.errors import DataError
from ganops.io import atomic_dir, write_json
from ganops.text.vocab import DEFAULT_MAX_LENGTH, tokenize

METADATA_FILES = ("metadata.jsonl", "metadata.csv")
SOURCE = "text.folder"  # the raw record's source: not a registered data source
COLUMNS = ("file_name", "text")
Layout = Literal["metadata.jsonl", "metadata.csv", "txt"]


@dataclass(frozen=True)
class CaptionedFiles:
    """The images of a folder (relative POSIX paths, sorted) and each one's captions, in the
    order the folder gives them, and the layout they came in."""

    files: tuple[str, ...]
    captions: tuple[tuple[str, ...], ...]
    layout: Layout

    def pairs(self) -> list[tuple[int, str]]:
        """Every (image index, caption) pair, image by image."""
        return [(i, text) for i, texts in enumerate(self.captions) for text in texts]


@dataclass(frozen=True)
class CaptionedImages:
    """A captioned folder read: uint8 `(N, C, S, S)` images and their captions."""

    images: np.ndarray
    captioned: CaptionedFiles


def _rows_jsonl(path: Path) -> Iterator[tuple[str, dict[str, object]]]:
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{path.name} line {number}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                raise DataError(f"{where}: not a JSON object") from None
            if not isinstance(row, dict):
                raise DataError(f"{where}: not a JSON object")
            yield where, row


def _rows_csv(path: Path) -> Iterator[tuple[str, dict[str, object]]]:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [column for column in COLUMNS if column not in (reader.fieldnames or [])]
        if missing:
            raise DataError(f"{path.name}: its header lacks the column {missing[0]!r}")
        for row in reader:
            yield f"{path.name} line {reader.line_num}", dict(row)


def _metadata_captions(root: Path, meta: Path, files: list[str]) -> dict[str, list[str]]:
    """image -> its captions, from the metadata file `meta`; every row checked."""
    known = set(files)
    captions: dict[str, list[str]] = {}
    try:
        rows = list(_rows_jsonl(meta) if meta.suffix == ".jsonl" else _rows_csv(meta))
    except UnicodeDecodeError:
        raise DataError(f"{meta}: not UTF-8 text") from None
    except csv.Error as error:
        raise DataError(f"{meta}: not CSV ({error})") from None
    for where, row in rows:
        name, text = row.get("file_name"), row.get("text")
        if not isinstance(name, str) or not name.strip():
            raise DataError(f"{root / where}: no file_name")
        name = PurePosixPath(name.strip()).as_posix()
        if name not in known:
            raise DataError(f"{root / where}: {name}: no such image in the folder")
        if not isinstance(text, str):
            raise DataError(f"{root / where} ({name}): no text")
        if not text.strip():
            raise DataError(f"{root / where} ({name}): empty caption")
        captions.setdefault(name, []).append(text.strip())
    return captions


def _text_file(name: str) -> str:
    return PurePosixPath(name).with_suffix(".txt").as_posix()


def _txt_captions(root: Path, files: list[str]) -> dict[str, list[str]]:
    """image -> its captions, from the `.txt` beside each image."""
    captions = {}
    for name in files:
        path = root / _text_file(name)
        if not path.is_file():
            raise DataError(
                f"{root / name}: no caption: neither {path.name} beside it nor a "
                f"{' or '.join(METADATA_FILES)} in {root}"
            )
        try:
            lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
        except UnicodeDecodeError:
            raise DataError(f"{path}: not UTF-8 text") from None
        texts = [line for line in lines if line]
        if not texts:
            raise DataError(f"{path}: empty caption")
        captions[name] = texts
    return captions


def _stray_metadata(root: Path) -> Path | None:
    """A metadata file below the top, which this reader would not read."""
    for name in METADATA_FILES:
        for path in sorted(root.rglob(name)):
            if path.parent != root and not any(p.startswith(".") for p in path.parts):
                return path
    return None


def read_captions(root: Path) -> CaptionedFiles:
    """The images under `root` and their captions, in whichever layout the folder uses;
    every problem a one-line `DataError` naming the file, found before any image is read."""
    files = image_files(root)
    present = [root / name for name in METADATA_FILES if (root / name).is_file()]
    stray = _stray_metadata(root)
    if stray is not None:
        raise DataError(f"{stray}: a metadata file must sit at the top of {root}")
    if len(present) > 1:
        raise DataError(f"{root}: both metadata.jsonl and metadata.csv; keep one")
    layout: Layout
    if present:
        meta = present[0]
        with_txt = [name for name in files if (root / _text_file(name)).is_file()]
        if with_txt:
            raise DataError(
                f"{root / _text_file(with_txt[0])}: a caption file beside {meta.name}; "
                "keep one layout"
            )
        captions = _metadata_captions(root, meta, files)
        uncaptioned = [name for name in files if name not in captions]
        if uncaptioned:
            more = f" and {len(uncaptioned) - 1} more" if len(uncaptioned) > 1 else ""
            raise DataError(f"{root / uncaptioned[0]}: no caption in {meta.name}{more}")
        layout = "metadata.jsonl" if meta.suffix == ".jsonl" else "metadata.csv"
    else:
        captions = _txt_captions(root, files)
        layout = "txt"
    return CaptionedFiles(
        files=tuple(files), captions=tuple(tuple(captions[name]) for name in files), layout=layout
    )


def read_captioned_folder(root: Path) -> CaptionedImages:
    """`read_captions`, then the images as `ganops.data.folder` reads a folder: each
    centre-cropped to a square at the shortest side among them (at most `MAX_SIDE`), RGB when
    any is in colour; an unreadable image is a `DataError` naming it."""
    captioned = read_captions(root)
    files = list(captioned.files)
    shortest, colour = check_images(root, files)
    images = read_images(root, files, min(shortest, MAX_SIDE), colour)  # (N, C, S, S)
    return CaptionedImages(images=images, captioned=captioned)


def caption_files(captioned: CaptionedFiles) -> list[str]:
    """The files that hold the captions: the metadata file, or every image's `.txt`."""
    if captioned.layout == "txt":
        return [_text_file(name) for name in captioned.files]
    return [captioned.layout]


def check_readable(root: Path, captioned: CaptionedFiles) -> None:
    """A one-line `DataError` naming the image whose caption the text encoder cannot read:
    no word (only punctuation) or more than `DEFAULT_MAX_LENGTH` words."""
    for name, texts in zip(captioned.files, captioned.captions, strict=True):
        for text in texts:
            words = len(tokenize(text))
            if not words:
                raise DataError(f"{root / name}: the caption {text!r} has no word")
            if words > DEFAULT_MAX_LENGTH:
                raise DataError(
                    f"{root / name}: a caption of {words} words; the text encoder reads at "
                    f"most {DEFAULT_MAX_LENGTH}"
                )


def fetch_captioned(folder: str, raw: Path) -> CaptionedFiles:
    """Check the captioned folder (its captions, each one readable by the text encoder, its
    class sub-folders, every image decoded),
    then copy its images and caption files into `raw` (replaced whole) with a `source.json`
    record naming the folder; nothing is written when a check fails."""
    root = Path(folder)
    captioned = read_captions(root)
    check_readable(root, captioned)
    files = list(captioned.files)
    class_labels(root, files)  # images beside class sub-folders: a one-line error
    check_images(root, files)
    copied = files + caption_files(captioned)
    with atomic_dir(raw) as staging:
        for name in copied:
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(root / name, staging / name)
        record = source_record(staging, SOURCE, {name: (root / name).as_posix() for name in copied})
        name = root.resolve().name or "folder"  # names the data in manifests and MLflow
        write_json(staging / SOURCE_RECORD, record | {"folder": folder, "name": name})
    return captioned

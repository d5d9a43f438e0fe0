"""A user's captioned images in both layouts (metadata.jsonl / metadata.csv beside the
images, or a .txt beside each one), and their one-line errors, raised before any image is read."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from PIL import Image

from ganops.data.dataset import Split
from ganops.errors import DataError
from ganops.text import layouts
from ganops.text.layouts import read_captioned_folder, read_captions

FILES = ("0/a.png", "1/b.png", "1/c.png")  # images in class folders: paths keep them
TEXTS = ("a thick zero", "a thin one leaning left", "an upright one")


@pytest.fixture
def folder(tmp_path: Path, digits: dict[str, Split]) -> Path:
    """Three real test digits as PNG files, no captions yet."""
    root = tmp_path / "captioned"
    for index, name in enumerate(FILES):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(digits["test"].images[index, 0]).save(root / name)
    return root


def _jsonl(root: Path, rows: list[dict[str, object]]) -> None:
    (root / "metadata.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def _csv(
    root: Path, rows: list[dict[str, str]], columns: tuple[str, ...] = ("file_name", "text")
) -> None:
    with (root / "metadata.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def _txt(root: Path) -> None:
    for name, text in zip(FILES, TEXTS, strict=True):
        (root / name).with_suffix(".txt").write_text(text + "\n")


def _rows() -> list[dict[str, str]]:
    return [{"file_name": n, "text": t} for n, t in zip(FILES, TEXTS, strict=True)]


@pytest.mark.parametrize("layout", ["metadata.jsonl", "metadata.csv", "txt"])
def test_each_layout_reads_the_same_captions_and_images(
    layout: str, folder: Path, digits: dict[str, Split]
) -> None:
    if layout == "metadata.jsonl":
        _jsonl(folder, list(_rows()))
    elif layout == "metadata.csv":
        _csv(folder, _rows())
    else:
        _txt(folder)
    read = read_captioned_folder(folder)
    assert read.captioned.layout == layout
    assert read.captioned.files == FILES
    assert read.captioned.captions == tuple((t,) for t in TEXTS)
    assert read.images.shape == (3, 1, 28, 28) and read.images.dtype == np.uint8
    assert np.array_equal(read.images, digits["test"].images[:3])


def test_several_captions_an_image(folder: Path) -> None:
    _jsonl(folder, [*_rows(), {"file_name": "1/b.png", "text": "a slim one"}])
    assert read_captions(folder).captions[1] == ("a thin one leaning left", "a slim one")
    (folder / "metadata.jsonl").unlink()
    _txt(folder)
    (folder / "0/a.txt").write_text("a thick zero\n\n  a bold 0  \n")
    captioned = read_captions(folder)
    assert captioned.captions[0] == ("a thick zero", "a bold 0")
    assert captioned.pairs()[:3] == [(0, "a thick zero"), (0, "a bold 0"), (1, TEXTS[1])]


def _fails(folder: Path, pattern: str) -> None:
    with (
        mock.patch.object(layouts, "read_images") as reading,
        pytest.raises(DataError, match=pattern) as caught,
    ):
        read_captioned_folder(folder)
    assert "\n" not in str(caught.value)
    reading.assert_not_called()  # refused before any image is read


def test_an_image_without_a_caption_is_named(folder: Path) -> None:
    _txt(folder)
    (folder / "1/c.txt").unlink()
    _fails(folder, re.escape(f"{folder / '1/c.png'}: no caption: neither c.txt beside it"))
    (folder / "1/c.txt").write_text("a one")
    _jsonl(folder, _rows()[:2])
    for txt in FILES:
        (folder / txt).with_suffix(".txt").unlink()
    _fails(folder, re.escape(f"{folder / '1/c.png'}: no caption in metadata.jsonl"))


@pytest.mark.parametrize("kind", ["jsonl", "csv", "txt"])
def test_an_empty_caption_is_named(kind: str, folder: Path) -> None:
    rows = _rows()
    rows[2]["text"] = "   "
    if kind == "jsonl":
        _jsonl(folder, list(rows))
        _fails(folder, re.escape(f"{folder / 'metadata.jsonl line 3'} (1/c.png): empty caption"))
    elif kind == "csv":
        _csv(folder, rows)
        _fails(folder, re.escape(f"{folder / 'metadata.csv line 4'} (1/c.png): empty caption"))
    else:
        _txt(folder)
        (folder / "1/c.txt").write_text(" \n\n")
        _fails(folder, re.escape(f"{folder / '1/c.txt'}: empty caption"))


def test_a_metadata_row_naming_a_missing_image_is_named(folder: Path) -> None:
    _jsonl(folder, [*_rows(), {"file_name": "7/gone.png", "text": "a seven"}])
    _fails(folder, re.escape(f"{folder / 'metadata.jsonl line 4'}: 7/gone.png: no such image"))


@pytest.mark.parametrize(
    ("write", "pattern"),
    [
        (lambda root: _jsonl(root, [{"file_name": "0/a.png"}]), r"line 1 \(0/a.png\): no text"),
        (lambda root: _jsonl(root, [{"text": "a zero"}]), r"line 1: no file_name"),
        (lambda root: (root / "metadata.jsonl").write_text("{oops\n"), "line 1: not a JSON object"),
        (lambda root: _csv(root, _rows(), ("file_name", "caption")),
         "metadata.csv: its header lacks the column 'text'"),
        (lambda root: (_jsonl(root, _rows()), _csv(root, _rows())),
         "both metadata.jsonl and metadata.csv"),
        (lambda root: (_jsonl(root, _rows()), _txt(root)), "a caption file beside metadata.jsonl"),
        (lambda root: (_txt(root), _jsonl(root / "1", [])), "a metadata file must sit at the top"),
    ],
)  # fmt: skip
def test_malformed_metadata_is_one_line(write: object, pattern: str, folder: Path) -> None:
    write(folder)  # type: ignore[operator]
    _fails(folder, pattern)


def test_a_folder_without_images_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "metadata.jsonl").write_text("")
    with pytest.raises(DataError, match="the folder holds no images"):
        read_captions(tmp_path)

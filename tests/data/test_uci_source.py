"""The offline uci-digits source: the UCI handwritten digits shipped inside scikit-learn."""

from __future__ import annotations

import gzip
import importlib.resources
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from ganops.config import DataConfig
from ganops.data import sources
from ganops.data.dataset import load_split
from ganops.data.processing import preprocess
from ganops.data.sources import fetch_source, get_source, source_names, verify_raw
from ganops.errors import DataError

UCI = DataConfig(source="uci-digits", test_size=500)
# the 17 grey levels 0..16 as uint8, worked out here rather than read from the code under test
LEVELS = np.array([round(level * 255 / 16) for level in range(17)], dtype=np.uint8)


def shipped_file() -> Path:
    return Path(str(importlib.resources.files("sklearn.datasets") / "data" / "digits.csv.gz"))


def csv_gz(rows: list[list[float]]) -> bytes:
    return gzip.compress("\n".join(",".join(str(v) for v in row) for row in rows).encode())


@pytest.fixture(scope="module")
def uci(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """uci-digits fetched and preprocessed once: `<dir>/raw`, `<dir>/processed`."""
    base = tmp_path_factory.mktemp("uci")
    fetch_source(UCI, base / "raw")
    preprocess(base / "raw", base / "processed", UCI)
    return base


def test_registry_knows_uci_digits() -> None:
    assert "uci-digits" in source_names()
    assert "works offline" in get_source("uci-digits").description
    with pytest.raises(DataError, match=r"known sources: .*uci-digits"):
        get_source("nope")


def test_fetch_copies_the_shipped_file_as_published(uci: Path) -> None:
    raw = uci / "raw"
    assert (raw / "digits.csv.gz").read_bytes() == shipped_file().read_bytes()
    record = json.loads((raw / "source.json").read_text())
    assert record["source"] == "uci-digits"
    entry = record["files"]["digits.csv.gz"]
    assert entry == {
        "sha256": "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22",
        "origin": "sklearn/datasets/data/digits.csv.gz",
    }
    assert verify_raw(raw) == "uci-digits"


def test_decoded_uci_digits_are_1797_digits_in_17_grey_levels(uci: Path) -> None:
    decoded = get_source("uci-digits").load(uci / "raw")
    assert decoded.images.shape == (1797, 1, 8, 8)
    assert decoded.images.dtype == np.uint8 and decoded.labels.dtype == np.int64
    assert decoded.class_names == tuple("0123456789")
    counts = np.bincount(decoded.labels, minlength=10)
    assert len(counts) == 10 and counts.sum() == 1797
    assert ((counts >= 170) & (counts <= 190)).all()  # about 180 per class
    assert set(np.unique(decoded.images)) <= set(LEVELS.tolist())
    assert decoded.images.min() == 0 and decoded.images.max() == 255
    # real digits: the border columns are mostly background
    assert decoded.images[:, :, :, 0].mean() < decoded.images[:, :, :, 3:5].mean() / 10


def test_decoded_images_are_scikit_learns_scaled_to_255(uci: Path) -> None:
    from sklearn.datasets import load_digits

    digits = load_digits()
    decoded = get_source("uci-digits").load(uci / "raw")
    assert np.array_equal(decoded.images[:, 0], LEVELS[digits.images.astype(np.int64)])
    assert np.array_equal(decoded.labels, digits.target)


def test_preprocess_resizes_the_digits_to_28_px(uci: Path) -> None:
    manifest = json.loads((uci / "processed" / "manifest.json").read_text())
    assert manifest["source"] == "uci-digits" and manifest["image_shape"] == [1, 28, 28]
    train, test = load_split(uci / "processed", "train"), load_split(uci / "processed", "test")
    assert train.images.shape == (1297, 1, 28, 28) and test.images.shape == (500, 1, 28, 28)
    assert train.images.dtype == np.uint8 and test.images.max() > 200
    assert sorted(np.unique(test.labels).tolist()) == list(range(10))


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"not gzip at all", "cannot be decoded"),
        (gzip.compress(b"1,2,x\n"), "cannot be decoded"),
        (csv_gz([[0] * 64]), "expected rows of 65"),
        (csv_gz([[0] * 63 + [0.5, 3]]), "expected rows of 65"),
        (csv_gz([[0] * 63 + [17, 3]]), "out of range"),
        (csv_gz([[0] * 63 + [-1, 3]]), "out of range"),
        (csv_gz([[0] * 64 + [10]]), "out of range"),
    ],
    ids=[
        "not-gzip",
        "not-numbers",
        "64-values",
        "fraction",
        "pixel-17",
        "pixel-minus-1",
        "label-10",
    ],
)
def test_corrupt_raw_file_is_a_data_error_naming_it(
    tmp_path: Path, content: bytes, problem: str
) -> None:
    path = tmp_path / "digits.csv.gz"
    path.write_bytes(content)
    with pytest.raises(DataError, match=re.escape(str(path)) + ".*" + problem):
        get_source("uci-digits").load(tmp_path)


def test_tampered_shipped_file_says_reinstall_scikit_learn(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(sources, "UCI_DIGITS_SHA256", "0" * 64)
    message = r"digits\.csv\.gz does not match its pinned sha256 0{12}\.+; reinstall scikit-learn$"
    with pytest.raises(DataError, match=message):
        fetch_source(UCI, tmp_path / "raw")
    assert not (tmp_path / "raw").exists()


def test_missing_scikit_learn_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    message = r"needs the scikit-learn package \(pip install scikit-learn\)"
    with pytest.raises(DataError, match=message):
        fetch_source(UCI, tmp_path / "raw")
    assert not (tmp_path / "raw").exists()

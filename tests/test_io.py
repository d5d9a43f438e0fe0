"""Atomic writes: a failed or interrupted writer never leaves a partial file behind."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest

from ganops.errors import DataError
from ganops.io import (
    atomic_dir,
    atomic_open,
    is_model_file,
    read_json_record,
    save_npy,
    sha256_file,
    write_json,
)


def test_failed_write_keeps_the_previous_file(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_open(target) as handle:
        handle.write(b"new but incomplete")
        raise RuntimeError("killed mid-write")
    assert target.read_bytes() == b"old"
    assert list(tmp_path.iterdir()) == [target]  # no temporary left behind


def test_written_files_get_ordinary_permissions(tmp_path: Path) -> None:
    write_json(tmp_path / "a.json", {"b": 1, "a": 2})
    mode = stat.S_IMODE((tmp_path / "a.json").stat().st_mode)
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask


def test_json_is_stable(tmp_path: Path) -> None:
    write_json(tmp_path / "a.json", {"b": 1, "a": 2})
    first = (tmp_path / "a.json").read_bytes()
    write_json(tmp_path / "a.json", {"a": 2, "b": 1})
    assert (tmp_path / "a.json").read_bytes() == first
    assert json.loads(first) == {"a": 2, "b": 1}


def test_atomic_dir_replaces_whole_or_not_at_all(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "stale.txt").write_text("stale")
    with atomic_dir(dest) as staging:
        (staging / "fresh.txt").write_text("fresh")
    assert sorted(p.name for p in dest.iterdir()) == ["fresh.txt"]

    with pytest.raises(RuntimeError), atomic_dir(dest) as staging:
        (staging / "half.txt").write_text("half")
        raise RuntimeError("interrupted")
    assert sorted(p.name for p in dest.iterdir()) == ["fresh.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_npy_round_trip_and_checksum(tmp_path: Path) -> None:
    array = np.arange(12, dtype=np.uint8).reshape(3, 4)
    save_npy(tmp_path / "a.npy", array)
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), array)
    assert len(sha256_file(tmp_path / "a.npy")) == 64


@pytest.mark.parametrize(
    ("content", "reason"),
    [(None, "missing; run the train stage first"), ("{not json", "corrupt"), ("[1]", "corrupt")],
)
def test_json_records_fail_clearly(tmp_path: Path, content: str | None, reason: str) -> None:
    path = tmp_path / "run.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(DataError, match=reason):
        read_json_record(path, producer="train")


def test_a_model_value_is_a_file_unless_it_is_an_mlflow_uri(tmp_path: Path) -> None:
    """Every command's `--model` reads a file or an MLflow model URI by one rule."""
    assert is_model_file("data/models/model.pt")  # a file that is not there yet: still a file
    assert not is_model_file("models:/ganops-generator/1")
    assert not is_model_file("models:/ganops-text@champion")
    assert not is_model_file("runs:/0123abcd/model")
    assert not is_model_file("s3://bucket/model")
    odd = tmp_path / "models:"  # an existing path with a URI-like name is read as the file
    (odd / "a").mkdir(parents=True)
    assert is_model_file(str(odd / "a"))

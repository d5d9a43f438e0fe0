"""Reading image sets made by other tools."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ganops.data.images import read_images
from ganops.errors import DataError

DIGITS = np.random.default_rng(0).integers(0, 256, size=(5, 1, 28, 28), dtype=np.uint8)


def _save_pngs(folder: Path, images: np.ndarray) -> Path:
    folder.mkdir()
    for index, image in enumerate(images):
        Image.fromarray(image[0]).save(folder / f"{index:03d}.png")
    return folder


def test_folder_of_pngs(tmp_path: Path) -> None:
    assert np.array_equal(read_images(_save_pngs(tmp_path / "pngs", DIGITS)), DIGITS)


@pytest.mark.parametrize(
    ("array", "expected"),
    [
        (DIGITS, DIGITS),
        (DIGITS[:, 0], DIGITS),  # (N, H, W)
        (DIGITS.transpose(0, 2, 3, 1), DIGITS),  # (N, H, W, C)
        (DIGITS / 255.0, DIGITS),  # float in [0, 1]
        (DIGITS / 127.5 - 1.0, DIGITS),  # float in [-1, 1]
        (DIGITS.astype(np.int64), DIGITS),
    ],
)
def test_arrays_in_common_layouts(tmp_path: Path, array: np.ndarray, expected: np.ndarray) -> None:
    np.save(tmp_path / "a.npy", array)
    assert np.array_equal(read_images(tmp_path / "a.npy"), expected)


def test_npz_by_key(tmp_path: Path) -> None:
    np.savez(tmp_path / "one.npz", x=DIGITS)
    np.savez(tmp_path / "named.npz", images=DIGITS, labels=np.arange(5))
    np.savez(tmp_path / "many.npz", a=DIGITS, b=DIGITS)
    assert np.array_equal(read_images(tmp_path / "one.npz"), DIGITS)
    assert np.array_equal(read_images(tmp_path / "named.npz"), DIGITS)
    with pytest.raises(DataError, match=r"holds arrays \['a', 'b'\]; name the images one 'images'"):
        read_images(tmp_path / "many.npz")


def _bad_inputs(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    empty = tmp_path / "empty"
    empty.mkdir()
    mixed = _save_pngs(tmp_path / "mixed", DIGITS)
    (mixed / "notes.txt").write_text("not an image")
    sizes = _save_pngs(tmp_path / "sizes", DIGITS)
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(sizes / "big.png")
    nan = DIGITS / 255.0
    nan[0, 0, 0, 0] = np.nan
    np.save(tmp_path / "nan.npy", nan)
    np.save(tmp_path / "wide.npy", DIGITS * 3.0)
    (tmp_path / "junk.npy").write_bytes(b"not numpy")
    return {
        "empty": (empty, "the folder has no images"),
        "non-image": (mixed, "notes.txt: not an image this tool can read"),
        "mixed sizes": (sizes, "images differ in size or channels"),
        "nan": (tmp_path / "nan.npy", "the array holds NaN or infinite values"),
        "range": (tmp_path / "wide.npy", "values span [0, 765], not 0-255"),
        "junk": (tmp_path / "junk.npy", "cannot be read as a NumPy array"),
        "missing": (tmp_path / "nothing", "no such file or folder"),
        "wrong kind": (tmp_path / "empty" / ".." / "nan.npy", "holds NaN"),
    }


@pytest.mark.parametrize(
    "case", ["empty", "non-image", "mixed sizes", "nan", "range", "junk", "missing", "wrong kind"]
)
def test_bad_inputs_are_one_line_errors(tmp_path: Path, case: str) -> None:
    path, message = _bad_inputs(tmp_path)[case]
    with pytest.raises(DataError) as caught:
        read_images(path)
    assert message in str(caught.value) and "\n" not in str(caught.value)

"""The pictures for reports, read back: what each must show a reader."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from ganops.plots import arms_png, class_histogram_png, neighbour_sheet, per_class_png
from ganops.sampling import make_grid


def _read(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def _edges_blank(picture: np.ndarray, width: int = 2) -> bool:
    """Nothing drawn on the outer `width` px of a white-background picture: no label cut."""
    edges = [picture[:width], picture[-width:], picture[:, :width], picture[:, -width:]]
    return all((edge > 245).all() for edge in edges)


def test_the_neighbour_sheet_names_its_two_rows() -> None:
    samples = np.full((4, 1, 28, 28), 200, np.uint8)
    neighbours = np.full((4, 1, 28, 28), 100, np.uint8)
    sheet = neighbour_sheet(samples, neighbours)
    grid = make_grid(np.concatenate([samples, neighbours]), columns=4, min_side=64)
    label_width = sheet.shape[1] - grid.shape[1]
    assert sheet.shape[0] == grid.shape[0] and label_width > 40
    assert np.array_equal(sheet[:, label_width:], grid)  # the images as they were
    labels = sheet[:, :label_width, 0]
    half = grid.shape[0] // 2
    # white text in each row's band, on black
    assert (labels[:half] > 200).sum() > 50 and (labels[half:] > 200).sum() > 50
    # the lower label is the longer ("nearest training image"): more ink than "generated"
    assert (labels[half:] > 128).sum() > (labels[:half] > 128).sum()


def test_the_arms_picture_keeps_its_axis_label_whole() -> None:
    arms = {"real": [0.983, 0.982, 0.984], "real_synthetic": [0.981, 0.982, 0.983],
            "real_affine": [0.978, 0.982, 0.983]}  # fmt: skip
    picture = _read(arms_png(arms, "Classifier test accuracy by training data (3 seeds)"))
    assert _edges_blank(picture)
    # the label under the axis, "... grey dots: each seed", has ink in its last rows
    assert (picture[-40:].min(axis=2) < 128).sum() > 100


def test_the_class_histogram_fits_its_picture() -> None:
    share = np.full(10, 0.1)
    picture = _read(class_histogram_png(tuple(str(k) for k in range(10)), share, share))
    assert _edges_blank(picture)


def test_the_per_class_picture_marks_each_scores_weakest_class() -> None:
    accuracy = np.array([0.99, 0.98, 0.97, 0.99, 0.95, 0.99, 0.99, 0.98, 0.60, 0.99])
    diversity = np.array([1.0, 0.9, 1.1, np.nan, 1.0, 0.3, 1.0, 1.0, 1.0, 1.0])
    names = tuple(str(k) for k in range(10))
    picture = _read(per_class_png(names, {"accuracy": accuracy, "diversity": diversity}))
    assert _edges_blank(picture)
    red = (picture[:, :, 0] > 180) & (picture[:, :, 1] < 80) & (picture[:, :, 2] < 80)
    left, right = red[:, : picture.shape[1] // 2], red[:, picture.shape[1] // 2 :]
    # one red bar in each panel, on the row of its weakest class (8, then 5)
    rows_left, rows_right = np.flatnonzero(left.any(1)), np.flatnonzero(right.any(1))
    assert len(rows_left) > 5 and len(rows_right) > 5
    assert rows_left.mean() > rows_right.mean()  # 8 sits below 5 (classes run downwards)

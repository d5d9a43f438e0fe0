"""The baselines that need no training: the UCI acquisition, bicubic, MNIST's geometry."""

from __future__ import annotations

import numpy as np
import pytest

from ganops.data.dataset import Split
from ganops.data.processing import center_crop_resize
from ganops.translation.baselines import (
    bicubic,
    handmade_for,
    identity,
    low_resolution,
    mnist_geometry,
    uci_acquisition,
    uci_geometry,
    uci_like,
)
from ganops.translation.domains import Domains
from ganops.translation.scoring import baselines

GRID_17 = np.round(np.arange(17) * 255 / 16).astype(np.uint8)  # the 17 grey levels, as uint8


def gradient(size: int, count: int = 3) -> np.ndarray:
    """Diagonal ramps from black to white plus noise: every grey level occurs."""
    ramp = np.add.outer(np.arange(size), np.arange(size)) * 255 / (2 * size - 2)
    noise = np.random.default_rng(0).normal(0, 20, (count, 1, size, size))
    return np.clip(ramp + noise, 0, 255).round().astype(np.uint8)


def blocks(values: np.ndarray, block_px: int) -> np.ndarray:
    """`(N, C, 8, 8)` values as constant `block_px` x `block_px` blocks."""
    return np.kron(values, np.ones((1, 1, block_px, block_px), np.uint8)).astype(np.uint8)


def centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    mass = image.astype(np.float64)  # (H, W)
    rows = (mass.sum(1) * np.arange(mass.shape[0])).sum() / mass.sum()
    cols = (mass.sum(0) * np.arange(mass.shape[1])).sum() / mass.sum()
    return float(rows), float(cols)


@pytest.mark.parametrize("size", [28, 32])
def test_low_resolution_is_8x8_on_at_most_17_grey_levels(size: int) -> None:
    low = low_resolution(gradient(size))
    assert low.shape == (3, 1, 8, 8) and low.dtype == np.uint8
    assert set(np.unique(low)) <= set(GRID_17)
    assert len(np.unique(low)) > 8  # the ramp reaches most levels


def test_quantisation_rounds_to_the_nearest_of_the_levels() -> None:
    flat = np.full((1, 1, 28, 28), 100, np.uint8)  # 100 / 255 * 16 = 6.27 -> level 6 -> 95.6
    assert (low_resolution(flat) == 96).all()
    assert (low_resolution(flat, levels=2) == 0).all()


@pytest.mark.parametrize("size", [28, 32, 64])
def test_uci_acquisition_keeps_the_shape_and_blank_stays_blank(size: int) -> None:
    out = uci_acquisition(gradient(size))
    assert out.shape == (3, 1, size, size) and out.dtype == np.uint8
    blank = np.zeros((2, 3, size, size), np.uint8)
    assert (uci_acquisition(blank) == 0).all()


def test_an_image_of_8x8_constant_blocks_survives_the_acquisition() -> None:
    values = np.random.default_rng(1).choice(GRID_17, (2, 1, 8, 8))
    image = blocks(values, 4)  # (2, 1, 32, 32)
    assert np.array_equal(low_resolution(image), values)  # nothing lost going down
    # the only change is preprocessing's own resize of the 8x8 image back up
    assert np.array_equal(uci_acquisition(image), center_crop_resize(values, 32))
    rows, cols = np.indices((8, 8))
    smooth = blocks(GRID_17[rows + cols // 2][None, None], 4)  # blocks in gentle steps
    change = np.abs(uci_acquisition(smooth).astype(np.int64) - smooth)
    assert change.mean() < 8  # of 255: nearly unchanged


def test_uci_acquisition_refuses_images_that_are_not_square() -> None:
    with pytest.raises(ValueError, match="square"):
        uci_acquisition(np.zeros((1, 1, 28, 32), np.uint8))


def test_bicubic_upsamples_to_the_size_asked() -> None:
    low = low_resolution(gradient(28))
    out = bicubic(low, 28)
    assert out.shape == (3, 1, 28, 28) and out.dtype == np.uint8
    flat = np.full((2, 3, 8, 8), 200, np.uint8)
    assert (bicubic(flat, 32) == 200).all()  # a constant has nothing to overshoot
    checker = (np.indices((8, 8)).sum(0) % 2 * 255).astype(np.uint8)[None, None]
    assert bicubic(checker, 28).shape == (1, 1, 28, 28)  # overshoot clamped, not wrapped


def test_identity_returns_a_copy() -> None:
    image = gradient(28)
    out = identity(image)
    assert np.array_equal(out, image) and out is not image
    out[0] = 0
    assert image[0].any()


def test_mnist_geometry_shrinks_a_full_frame_into_the_20px_box() -> None:
    full = np.full((1, 1, 28, 28), 255, np.uint8)
    out = mnist_geometry(full)
    assert out.shape == full.shape and out.dtype == np.uint8
    rows, cols = np.nonzero(out[0, 0])
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (4, 23, 4, 23)
    assert centre_of_mass(out[0, 0]) == pytest.approx((13.5, 13.5))


@pytest.mark.parametrize("size", [28, 56])
def test_mnist_geometry_centres_an_off_centre_digit_by_its_mass(size: int) -> None:
    digit = np.zeros((2, 1, size, size), np.uint8)
    digit[0, 0, : size // 2, : size // 3] = 255  # ink in the top left
    digit[1, 0, size // 4 :, size // 2 :] = 180  # ink in the bottom right
    out = mnist_geometry(digit)
    box = round(20 * size / 28)
    for image in out[:, 0]:
        rows, cols = np.nonzero(image)
        assert rows.max() - rows.min() < box and cols.max() - cols.min() < box
        row, col = centre_of_mass(image)
        assert abs(row - (size - 1) / 2) <= 1 and abs(col - (size - 1) / 2) <= 1


def test_mnist_geometry_leaves_a_blank_image_blank() -> None:
    assert (mnist_geometry(np.zeros((2, 3, 28, 28), np.uint8)) == 0).all()


@pytest.mark.parametrize(
    ("source_a", "source_b", "expected"),
    [
        ("mnist-5k", "uci-digits", uci_like),
        ("mnist", "uci-digits", uci_like),
        ("uci-digits", "mnist-5k", mnist_geometry),
        ("uci-digits", "mnist", mnist_geometry),
        ("mnist-5k", "mnist", None),
        ("uci-digits", "uci-digits", None),
        ("fashion-mnist", "uci-digits", None),
        ("uci-digits", "cifar10", None),
    ],
)
def test_handmade_for_knows_the_two_directions_between_mnist_and_uci(
    source_a: str, source_b: str, expected: object
) -> None:
    assert handmade_for(source_a, source_b) is expected


def test_uci_geometry_stretches_the_ink_to_the_full_height_aspect_kept() -> None:
    images = np.zeros((2, 1, 28, 28), dtype=np.uint8)
    images[0, 0, 10:17, 12:14] = 255  # a 7 x 2 px stroke off centre
    out = uci_geometry(images)
    assert out.shape == images.shape and out.dtype == np.uint8
    ink = out[0, 0] > 0
    rows, cols = np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))
    assert (rows[0], rows[-1]) == (0, 27)  # the full height
    assert 7 <= len(cols) <= 9  # 2 px * 28 / 7 = 8 px wide, centred
    assert abs((cols[0] + cols[-1]) / 2 - 13.5) <= 1
    assert not out[1].any()  # blank stays blank


def test_uci_like_of_a_wide_digit_keeps_it_inside_the_frame() -> None:
    images = np.zeros((1, 1, 28, 28), dtype=np.uint8)
    images[0, 0, 12:16, 2:26] = 200  # 4 x 24 px: the height would make it 168 px wide
    out = uci_like(images)
    assert out.shape == images.shape
    assert (out[0, 0] > 0).any(1).all()  # ink in every row: stretched to the full frame


def test_bicubic_is_a_baseline_of_the_uci_super_resolution_only() -> None:
    split = Split(gradient(28), np.zeros(3, dtype=np.int64), ("0",))
    paired, unpaired = Domains(split, split, aligned=True), Domains(split, split, aligned=False)
    assert "bicubic" in baselines(paired, ("mnist-5k:uci", "mnist-5k"))
    assert "bicubic" not in baselines(paired, ("facades/A", "facades/B"))  # a user's own pairs
    assert set(baselines(unpaired, ("mnist-5k", "uci-digits"))) == {"identity", "handmade"}

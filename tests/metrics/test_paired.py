"""Paired scores: known values, SSIM against a plain loop of its definition, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ganops.metrics.paired import PSNR_CAP_DB, l1, paired_scores, psnr, ssim


def images(shape: tuple[int, ...], seed: int = 0, high: int = 256) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, high, shape, dtype=np.uint8)


def noisy(clean: np.ndarray, spread: int, seed: int = 1) -> np.ndarray:
    noise = np.random.default_rng(seed).integers(-spread, spread + 1, clean.shape)
    noisy_pixels: np.ndarray = np.clip(clean.astype(np.int64) + noise, 0, 255)
    return noisy_pixels.astype(np.uint8)


def ssim_by_loop(pred: np.ndarray, target: np.ndarray) -> float:
    """Wang et al. 2004 as written: Gaussian-weighted statistics of every 11x11 window wholly
    inside each channel of each image, averaged."""
    offsets = np.arange(11) - 5.0
    line = np.exp(-(offsets**2) / (2 * 1.5**2))
    weights = np.outer(line, line) / np.outer(line, line).sum()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    values = []
    for x_image, y_image in zip(pred.astype(np.float64), target.astype(np.float64), strict=True):
        for x_plane, y_plane in zip(x_image, y_image, strict=True):
            for top in range(x_plane.shape[0] - 10):
                for left in range(x_plane.shape[1] - 10):
                    x = x_plane[top : top + 11, left : left + 11]
                    y = y_plane[top : top + 11, left : left + 11]
                    mu_x, mu_y = (weights * x).sum(), (weights * y).sum()
                    var_x = (weights * (x - mu_x) ** 2).sum()
                    var_y = (weights * (y - mu_y) ** 2).sum()
                    cov = (weights * (x - mu_x) * (y - mu_y)).sum()
                    values.append(
                        ((2 * mu_x * mu_y + c1) * (2 * cov + c2))
                        / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
                    )
    return float(np.mean(values))


def test_l1_of_a_constant_offset_is_the_offset_over_255() -> None:
    target = images((4, 1, 28, 28), high=240)
    assert l1(target + 10, target) == pytest.approx(10 / 255)
    assert l1(target, target) == 0.0


def test_psnr_of_a_constant_offset_follows_from_its_mse() -> None:
    target = images((4, 3, 16, 16), high=240)
    assert psnr(target + 10, target) == pytest.approx(20 * math.log10(255 / 10))


def test_psnr_caps_an_exact_copy_instead_of_going_infinite() -> None:
    target = images((2, 1, 28, 28), high=240)
    assert psnr(target, target) == PSNR_CAP_DB
    one_copy = target.copy()
    one_copy[1] += 10  # image 0 exact, image 1 off by 10 levels
    assert psnr(one_copy, target) == pytest.approx((PSNR_CAP_DB + 20 * math.log10(25.5)) / 2)


def test_ssim_of_identical_images_is_one_and_noise_lowers_it() -> None:
    clean = images((3, 1, 28, 28))
    assert ssim(clean, clean) == pytest.approx(1.0)
    slightly, heavily = ssim(noisy(clean, 10), clean), ssim(noisy(clean, 80), clean)
    assert 1.0 > slightly > heavily


def test_ssim_is_symmetric() -> None:
    first, second = images((2, 3, 20, 20), seed=2), images((2, 3, 20, 20), seed=3)
    assert ssim(first, second) == pytest.approx(ssim(second, first))


def test_ssim_matches_its_definition_computed_window_by_window() -> None:
    target = images((2, 3, 16, 13), seed=4)
    pred = noisy(target, 60, seed=5)
    assert ssim(pred, target) == pytest.approx(ssim_by_loop(pred, target), abs=1e-10)


def test_ssim_of_images_smaller_than_the_window_uses_a_smaller_window() -> None:
    small = images((2, 1, 8, 8))
    assert ssim(small, small) == pytest.approx(1.0)
    assert ssim(noisy(small, 80), small) < 1.0


def test_paired_scores_names_its_three_scores() -> None:
    target = images((2, 1, 28, 28), high=240)
    scores = paired_scores(target + 10, target)
    assert set(scores) == {"l1", "psnr", "ssim"}
    assert scores["l1"] == l1(target + 10, target)
    assert scores["psnr"] == psnr(target + 10, target)
    assert scores["ssim"] == ssim(target + 10, target)


@pytest.mark.parametrize(
    ("pred", "target"),
    [
        (np.zeros((2, 1, 28, 28), np.uint8), np.zeros((2, 1, 32, 32), np.uint8)),
        (np.zeros((2, 1, 28, 28), np.uint8), np.zeros((3, 1, 28, 28), np.uint8)),
        (np.zeros((2, 1, 28, 28), np.float32), np.zeros((2, 1, 28, 28), np.float32)),
        (np.zeros((2, 1, 28, 28), np.uint8), np.zeros((2, 1, 28, 28), np.int64)),
        (np.zeros((0, 1, 28, 28), np.uint8), np.zeros((0, 1, 28, 28), np.uint8)),
    ],
)
def test_mismatched_or_non_uint8_batches_are_a_one_line_error(
    pred: np.ndarray, target: np.ndarray
) -> None:
    with pytest.raises(ValueError, match="paired scores need") as error:
        paired_scores(pred, target)
    assert "\n" not in str(error.value)

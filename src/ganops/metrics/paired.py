"""Scores of translated images against their ground truth (paired tasks): L1, PSNR and SSIM on
uint8 `(N, C, H, W)` arrays, averaged over images (and channels)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

PSNR_CAP_DB = 100.0  # an exact copy scores this finite ceiling rather than infinity
SSIM_WINDOW_PX = 11  # Wang et al. 2004: an 11x11 Gaussian window of sigma 1.5 px
SSIM_SIGMA_PX = 1.5
SSIM_K1, SSIM_K2 = 0.01, 0.03
DATA_RANGE = 255.0


def _check(pred: np.ndarray, target: np.ndarray) -> None:
    if pred.shape != target.shape or pred.dtype != np.uint8 or target.dtype != np.uint8:
        raise ValueError(
            f"paired scores need uint8 images of one shape; got {pred.dtype} {pred.shape} "
            f"and {target.dtype} {target.shape}"
        )
    if pred.ndim != 4 or len(pred) == 0:
        raise ValueError(f"paired scores need a non-empty (N, C, H, W) batch; got {pred.shape}")


def l1(pred: np.ndarray, target: np.ndarray) -> float:
    """Mean absolute difference, in [0, 1] (pixels / 255)."""
    _check(pred, target)
    return float(np.abs(pred.astype(np.float64) - target).mean() / DATA_RANGE)


def psnr(pred: np.ndarray, target: np.ndarray) -> float:
    """Mean over images of the peak signal-to-noise ratio, in dB, with data range 255.

    An image identical to its target (zero error, infinite PSNR) counts `PSNR_CAP_DB`, and so
    does any image above it, so one exact copy cannot make the mean infinite.
    """
    _check(pred, target)
    error = ((pred.astype(np.float64) - target) ** 2).reshape(len(pred), -1).mean(1)  # (N,)
    with np.errstate(divide="ignore"):
        per_image = 10 * np.log10(DATA_RANGE**2 / error)
    return float(np.minimum(per_image, PSNR_CAP_DB).mean())


def _gaussian_window(size: int) -> torch.Tensor:
    offsets = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    line = torch.exp(-(offsets**2) / (2 * SSIM_SIGMA_PX**2))
    line /= line.sum()
    return torch.outer(line, line)  # (size, size), sums to 1


def ssim(pred: np.ndarray, target: np.ndarray) -> float:
    """Mean structural similarity (Wang et al. 2004) over images, channels and window positions.

    Gaussian window of 11 px and sigma 1.5, K1 0.01, K2 0.03, data range 255, each channel
    alone, population (not sample) statistics, only the windows wholly inside the image: what
    `skimage.metrics.structural_similarity(..., gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False, data_range=255)` computes. Images under 11 px a side (where
    scikit-image refuses) get the largest odd window that fits, of the same sigma.
    """
    _check(pred, target)
    _, channels, height, width = pred.shape
    size = min(SSIM_WINDOW_PX, height, width)
    size -= 1 - size % 2  # odd, so the window has a centre pixel
    window = _gaussian_window(size).expand(channels, 1, size, size)
    x = torch.from_numpy(np.ascontiguousarray(pred)).double()
    y = torch.from_numpy(np.ascontiguousarray(target)).double()

    def local_mean(images: torch.Tensor) -> torch.Tensor:
        return F.conv2d(images, window, groups=channels)  # (N, C, H - size + 1, W - size + 1)

    c1, c2 = (SSIM_K1 * DATA_RANGE) ** 2, (SSIM_K2 * DATA_RANGE) ** 2
    mu_x, mu_y = local_mean(x), local_mean(y)
    var_x = local_mean(x * x) - mu_x**2
    var_y = local_mean(y * y) - mu_y**2
    covariance = local_mean(x * y) - mu_x * mu_y
    index = ((2 * mu_x * mu_y + c1) * (2 * covariance + c2)) / (
        (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)
    )
    return float(index.mean())


def paired_scores(pred: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """`{"l1", "psnr", "ssim"}` of `pred` against `target` (see each function); a one-line
    `ValueError` when the two are not uint8 batches of one shape."""
    return {"l1": l1(pred, target), "psnr": psnr(pred, target), "ssim": ssim(pred, target)}

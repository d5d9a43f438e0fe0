"""Pictures for reports: the class histogram, the nearest-neighbour sheet and the downstream
arms (no file I/O)."""

from __future__ import annotations

import io

import matplotlib
import numpy as np

matplotlib.use("Agg")  # no display; must precede pyplot
import matplotlib.pyplot as plt

from ganops.sampling import READABLE_PX, make_grid


def class_histogram_png(
    class_names: tuple[str, ...], generated: np.ndarray, real: np.ndarray
) -> bytes:
    """Bars of the share of generated and real images per class, as PNG bytes."""
    positions = np.arange(len(class_names))
    figure, axes = plt.subplots(figsize=(max(4.0, 0.55 * len(class_names)), 3.0), dpi=100)
    axes.bar(positions - 0.2, real, width=0.4, label="real (test split)", color="#9e9e9e")
    axes.bar(positions + 0.2, generated, width=0.4, label="generated", color="#945dd6")
    axes.set_xticks(positions, class_names)
    axes.set_ylabel("share of images")
    axes.set_title("Classes as the evaluator sees them")
    axes.legend(frameon=False, fontsize=8)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return buffer.getvalue()


# arms whose name is not "a_b" for "a + b" (the few-labels experiment's)
ARM_NAMES = {"pseudo_label": "pseudo-label", "semi_supervised_gan": "semi-supervised GAN"}


def arms_png(accuracies: dict[str, list[float]], title: str) -> bytes:
    """Test accuracy of each arm (`{arm: [accuracy per seed]}`): one dot per seed and the
    mean with its standard deviation, as PNG bytes."""
    names = list(accuracies)
    figure, axes = plt.subplots(figsize=(5.0, 0.6 * len(names) + 1.2), dpi=100)
    for row, name in enumerate(names):
        values = np.asarray(accuracies[name]) * 100
        spread = values.std(ddof=1) if len(values) > 1 else 0.0
        axes.errorbar(values.mean(), row, xerr=spread, fmt="o", color="#945dd6", capsize=4)
        axes.scatter(values, np.full(len(values), row + 0.15), s=12, color="#9e9e9e")
    shown = [ARM_NAMES.get(name, name.replace("_", " + ")) for name in names]
    axes.set_yticks(range(len(names)), shown)
    axes.invert_yaxis()
    axes.set_xlabel("test accuracy, % (mean ± std over seeds; grey: each seed)")
    axes.set_title(title, fontsize=10)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return buffer.getvalue()


def neighbour_sheet(samples: np.ndarray, neighbours: np.ndarray) -> np.ndarray:
    """Two rows: generated samples on top, each one's nearest training image below it.
    uint8 `(N, C, H, W)` each -> `(H', W', C)` picture."""
    pair = np.concatenate([samples, neighbours])
    return make_grid(pair, columns=len(samples), min_side=READABLE_PX)

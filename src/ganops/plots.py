"""Pictures for reports: the class histogram and the nearest-neighbour sheet (no file I/O)."""

from __future__ import annotations

import io

import matplotlib
import numpy as np

matplotlib.use("Agg")  # no display; must precede pyplot
import matplotlib.pyplot as plt

from ganops.sampling import make_grid


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


def neighbour_sheet(samples: np.ndarray, neighbours: np.ndarray) -> np.ndarray:
    """Two rows: generated samples on top, each one's nearest training image below it.
    uint8 `(N, C, H, W)` each -> `(H', W', C)` picture."""
    return make_grid(np.concatenate([samples, neighbours]), columns=len(samples))

"""Pictures for reports: the class histogram, the per-class scores, the nearest-neighbour
sheet and the downstream arms (no file I/O)."""

from __future__ import annotations

import io

import matplotlib
import numpy as np
from matplotlib import font_manager
from matplotlib.figure import Figure
from PIL import Image, ImageDraw, ImageFont

matplotlib.use("Agg")  # no display; must precede pyplot
import matplotlib.pyplot as plt

from ganops.sampling import READABLE_PX, make_grid

LABEL_PT = 14  # size of the row labels drawn beside a sheet of images, px


def _png(figure: Figure) -> bytes:
    """The figure as PNG bytes, cropped to what is drawn (a long label is never cut off)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight", pad_inches=0.1)
    plt.close(figure)
    return buffer.getvalue()


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
    return _png(figure)


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
    axes.set_xlabel("test accuracy, % (mean ± std over seeds)\ngrey dots: each seed")
    axes.set_title(title, fontsize=10)
    return _png(figure)


def per_class_png(class_names: tuple[str, ...], scores: dict[str, np.ndarray]) -> bytes:
    """A panel of bars per score (`{name: (K,) per class}`, NaN where a class has none, left
    blank): each panel's lowest class drawn in red and named in its title, as PNG bytes."""
    figure, panels = plt.subplots(
        1, len(scores), figsize=(3.0 * len(scores), max(2.5, 0.3 * len(class_names) + 1.2)),
        dpi=100, squeeze=False,
    )  # fmt: skip
    positions = np.arange(len(class_names))
    for axes, (name, values) in zip(panels[0], scores.items(), strict=True):
        lowest = -1 if np.isnan(values).all() else int(np.nanargmin(values))
        colours = ["#d62728" if k == lowest else "#945dd6" for k in positions]
        axes.barh(positions, np.nan_to_num(values), color=colours)
        axes.set_yticks(positions, class_names)
        axes.invert_yaxis()
        weakest = class_names[lowest] if lowest >= 0 else "none measured"
        axes.set_title(f"{name}\nweakest class: {weakest}", fontsize=10)
    axes.figure.supxlabel("per class, as the evaluator sees the samples", fontsize=9)
    return _png(figure)


def label_rows(picture: np.ndarray, labels: list[str], row_height: int, padding: int) -> np.ndarray:
    """`picture` `(H, W, C)` uint8 (a `make_grid` sheet whose rows are `row_height` px apart,
    after `padding` px) with a column on its left naming each row, white on black."""
    font = ImageFont.truetype(font_manager.findfont("DejaVu Sans"), LABEL_PT)
    lines = [line for label in labels for line in label.split("\n")]
    width = max(int(font.getlength(line)) for line in lines) + 2 * padding + 8
    strip = Image.new("L", (width, picture.shape[0]), 0)
    draw = ImageDraw.Draw(strip)
    for row, label in enumerate(labels):
        middle = padding + row * row_height + (row_height - padding) // 2
        draw.multiline_text((4, middle), label, fill=255, font=font, anchor="lm")
    column = np.asarray(strip)[:, :, None].repeat(picture.shape[2], axis=2)  # (H, width, C)
    return np.concatenate([column, picture], axis=1)


NEIGHBOUR_ROWS = ["generated", "nearest\ntraining\nimage"]


def neighbour_sheet(samples: np.ndarray, neighbours: np.ndarray) -> np.ndarray:
    """Two rows, named on the left: generated samples on top, each one's nearest training
    image below it. uint8 `(N, C, H, W)` each -> `(H', W', C)` picture."""
    pair = np.concatenate([samples, neighbours])
    padding = 2
    sheet = make_grid(pair, columns=len(samples), padding=padding, min_side=READABLE_PX)
    row_height = (sheet.shape[0] - padding) // 2
    return label_rows(sheet, NEIGHBOUR_ROWS, row_height, padding)

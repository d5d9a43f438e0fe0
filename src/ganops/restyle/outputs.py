"""What the sample stage writes for a restyler (`data/samples/`), and reads back for
`evaluate`: every test image as content, each drawn in the style of a test image of another
class (seeded pairs, `sample.seed`).

- `samples.npy`: uint8 `(N, C, H, W)`, the outputs, in the generator's sample format;
- `labels.npy`: int64 `(N,)`, the content's class (the class each output should show);
- `content_index.npy`, `style_index.npy`: int64 `(N,)`, each output's content and style
  image as indices into the test split of `data/processed` (`test_images.npy`); with two
  domains the content's into domain A's (`data/processed/A/`), every A test image as content,
  each in the style of a B test image (of another class where the domains share their
  classes);
- `style_labels.npy`: int64 `(N,)`, the style image's class;
- `spread_samples.npy`: uint8 `(S, K, C, H, W)`, a few contents each in several styles, for
  the spread over styles: `spread_content_index.npy` int64 `(S,)`, `SPREAD_CONTENTS` test
  images as contents (all when fewer) in the order a seeded draw took them, and
  `spread_style_index.npy` int64 `(S, K)`, for each `SPREAD_STYLES` distinct style images of
  another class (fewer where the split has fewer; of any class where the domains do not share
  their classes), indexed as `content_index.npy` and `style_index.npy` are;
- `grid.png`: the style images along the top, the content images down the left, each cell
  the content in that style (one content and style per class);
- `manifest.json`: the count, the image shape and every file's sha256.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ganops.data.dataset import to_training_tensor
from ganops.errors import DataError
from ganops.io import atomic_dir, read_json_record, save_npy, sha256_file, verify_file, write_json
from ganops.restyle.domains import RestyleSplit
from ganops.restyle.networks import Restyler, restyle_images, style_grid
from ganops.restyle.pairs import pairs_across, spread_indices
from ganops.sampling import LABELS_FILE, MANIFEST, SAMPLES_FILE, save_png, to_uint8

CONTENT_INDEX_FILE = "content_index.npy"
STYLE_INDEX_FILE = "style_index.npy"
STYLE_LABELS_FILE = "style_labels.npy"
GRID_FILE = "grid.png"
PAIR_FILES = (SAMPLES_FILE, LABELS_FILE, CONTENT_INDEX_FILE, STYLE_INDEX_FILE, STYLE_LABELS_FILE)
SPREAD_SAMPLES_FILE = "spread_samples.npy"
SPREAD_CONTENT_INDEX_FILE = "spread_content_index.npy"
SPREAD_STYLE_INDEX_FILE = "spread_style_index.npy"
SPREAD_FILES = (SPREAD_SAMPLES_FILE, SPREAD_CONTENT_INDEX_FILE, SPREAD_STYLE_INDEX_FILE)

SPREAD_CONTENTS = 50  # contents drawn in several styles each, for the spread over styles
SPREAD_STYLES = 10  # styles each of them is drawn in: "one content in ten styles"
_SPREAD_STREAM = 1  # the spread's draw is its own stream of the seed, apart from the pairs'


def styles_per_content(content_labels: np.ndarray, style_labels: np.ndarray, by_class: bool) -> int:
    """How many distinct style images every content can be drawn in: `SPREAD_STYLES`, or
    fewer where some content's class leaves fewer style images of another class (of any
    class when not `by_class`)."""
    if not by_class:
        return min(SPREAD_STYLES, len(style_labels))
    fewest = min(int((style_labels != value).sum()) for value in np.unique(content_labels))
    return min(SPREAD_STYLES, fewest)


def spread_pairs(
    content_labels: np.ndarray, style_labels: np.ndarray, seed: int, by_class: bool
) -> tuple[np.ndarray, np.ndarray]:
    """`SPREAD_CONTENTS` content images (all of them when fewer), each with
    `styles_per_content` distinct style images of another class (of any when not
    `by_class`), a seeded draw: int64 content indices `(S,)` in the order drawn (the first
    few are a fair subset: a split may be stored class by class) and style indices `(S, K)`."""
    rng = np.random.default_rng([seed, _SPREAD_STREAM])
    count = min(SPREAD_CONTENTS, len(content_labels))
    contents = rng.permutation(len(content_labels))[:count].astype(np.int64)
    per_content = styles_per_content(content_labels, style_labels, by_class)
    styles = np.empty((count, per_content), np.int64)
    for row, index in enumerate(contents):
        pool = np.arange(len(style_labels))
        if by_class:
            pool = np.flatnonzero(style_labels != content_labels[index])
        styles[row] = rng.choice(pool, per_content, replace=False)
    return contents, styles


def restyle_split(
    restyler: Restyler, images: np.ndarray, contents: np.ndarray, styles: np.ndarray,
    device: torch.device, batch_size: int = 500, style_images: np.ndarray | None = None,
) -> np.ndarray:  # fmt: skip
    """uint8 outputs `(N, C, H, W)`: `images[contents[i]]` in the style of `images[styles[i]]`
    (of `style_images[styles[i]]` when given: two domains)."""
    style_images = images if style_images is None else style_images
    return to_uint8(
        restyle_images(
            restyler,
            to_training_tensor(images[contents], device),
            to_training_tensor(style_images[styles], device),
            batch_size,
        )
    )


def _described(test: RestyleSplit, seed: int) -> str:
    if not test.two_domains:
        return (
            f"each test image (content) in the style of a test image of another class, seed {seed}"
        )
    which = "of another class" if test.by_class else "of any class"
    return (
        f"each test image of domain A (content, A/) in the style of a test image of domain B "
        f"{which}, seed {seed}"
    )


def write_restyled(
    restyler: Restyler, test: RestyleSplit, seed: int, out: Path, device: torch.device,
    batch_size: int = 500, grid_side: int = 10,
) -> dict[str, Path]:  # fmt: skip
    """Draw every (content) test image in the style of a seeded (style) test image of another
    class (of any with two domains that do not share their classes), and a few contents each
    in several styles (`spread_pairs`), and write the arrays, the grid and the manifest into
    `out` (replaced whole)."""
    content, style = test.content, test.style
    contents, styles = pairs_across(content.labels, style.labels, seed, test.by_class)
    outputs = restyle_split(
        restyler, content.images, contents, styles, device, batch_size, style.images
    )
    spread_contents, spread_styles = spread_pairs(
        content.labels, style.labels, seed, test.by_class
    )  # (S,), (S, K)
    spread = restyle_split(
        restyler, content.images, np.repeat(spread_contents, spread_styles.shape[1]),
        spread_styles.ravel(), device, batch_size, style.images,
    )  # fmt: skip
    arrays = {
        SAMPLES_FILE: outputs,
        LABELS_FILE: content.labels[contents].astype(np.int64),
        CONTENT_INDEX_FILE: contents,
        STYLE_INDEX_FILE: styles,
        STYLE_LABELS_FILE: style.labels[styles].astype(np.int64),
        SPREAD_SAMPLES_FILE: spread.reshape(*spread_styles.shape, *outputs.shape[1:]),
        SPREAD_CONTENT_INDEX_FILE: spread_contents,
        SPREAD_STYLE_INDEX_FILE: spread_styles,
    }
    shown_contents = content.images[spread_indices(content.labels, grid_side)]
    grid_contents = to_training_tensor(shown_contents, device)
    grid_styles = to_training_tensor(
        style.images[spread_indices(style.labels, grid_side, 1)], device
    )
    with atomic_dir(out) as staging:
        for name, array in arrays.items():
            save_npy(staging / name, array)
        save_png(staging / GRID_FILE, style_grid(restyler, grid_contents, grid_styles))
        files = sorted(p.name for p in staging.iterdir())
        write_json(
            staging / MANIFEST,
            {
                "count": len(outputs),
                "image_shape": list(outputs.shape[1:]),
                "restyled": _described(test, seed),
                "spread": f"{spread_styles.shape[0]} contents each in {spread_styles.shape[1]} "
                "distinct styles (spread_*.npy)",
                "num_classes": len(style.class_names),
                "files": {name: {"sha256": sha256_file(staging / name)} for name in files},
            },
        )
    return {name: out / name for name in (*arrays, GRID_FILE, MANIFEST)}


def load_restyled(folder: Path) -> dict[str, np.ndarray]:
    """The arrays `write_restyled` wrote, by file name, verified against the manifest."""
    files = read_json_record(folder / MANIFEST, producer="sample").get("files", {})
    arrays = {}
    for name in (*PAIR_FILES, *SPREAD_FILES):
        if name not in files:
            raise DataError(
                f"{folder}: holds no {name}: these are not a restyler's samples; rerun the "
                "sample stage with task: restyle"
            )
        verify_file(folder / name, files[name].get("sha256"), MANIFEST, producer="sample")
        arrays[name] = np.load(folder / name, allow_pickle=False)
    count = len(arrays[SAMPLES_FILE])
    for name in PAIR_FILES[1:]:
        if arrays[name].dtype != np.int64 or arrays[name].shape != (count,):
            raise DataError(
                f"{folder / name}: expected int64 of shape ({count},), got "
                f"{arrays[name].dtype} of shape {arrays[name].shape}; rerun the sample stage"
            )
    _check_spread(folder, arrays)
    return arrays


def _check_spread(folder: Path, arrays: dict[str, np.ndarray]) -> None:
    """A one-line `DataError` unless the spread arrays agree: contents `(S,)`, styles
    `(S, K)`, outputs `(S, K)` of the pairs' image shape."""
    contents, styles = arrays[SPREAD_CONTENT_INDEX_FILE], arrays[SPREAD_STYLE_INDEX_FILE]
    spread = arrays[SPREAD_SAMPLES_FILE]
    image_shape = arrays[SAMPLES_FILE].shape[1:]
    if (
        contents.dtype != np.int64 or styles.dtype != np.int64 or spread.dtype != np.uint8
        or contents.ndim != 1 or styles.shape[:1] != contents.shape
        or spread.shape != (*styles.shape, *image_shape)
    ):  # fmt: skip
        raise DataError(
            f"{folder}: the spread arrays do not agree (contents {contents.shape}, styles "
            f"{styles.shape}, outputs {spread.shape} of {spread.dtype}); rerun the sample stage"
        )

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
    class (of any with two domains that do not share their classes) and write the arrays, the
    grid and the manifest into `out` (replaced whole)."""
    content, style = test.content, test.style
    contents, styles = pairs_across(content.labels, style.labels, seed, test.by_class)
    outputs = restyle_split(
        restyler, content.images, contents, styles, device, batch_size, style.images
    )
    arrays = {
        SAMPLES_FILE: outputs,
        LABELS_FILE: content.labels[contents].astype(np.int64),
        CONTENT_INDEX_FILE: contents,
        STYLE_INDEX_FILE: styles,
        STYLE_LABELS_FILE: style.labels[styles].astype(np.int64),
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
                "num_classes": len(style.class_names),
                "files": {name: {"sha256": sha256_file(staging / name)} for name in files},
            },
        )
    return {name: out / name for name in (*arrays, GRID_FILE, MANIFEST)}


def load_restyled(folder: Path) -> dict[str, np.ndarray]:
    """The arrays `write_restyled` wrote, by file name, verified against the manifest."""
    files = read_json_record(folder / MANIFEST, producer="sample").get("files", {})
    arrays = {}
    for name in PAIR_FILES:
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
    return arrays

"""What the sample stage writes for a text-to-image model (`data/samples/`), read back by
`evaluate`: one image per TEST caption, in the test split's order, drawn from noise seeded by
`sample.seed`.

- `samples.npy`: uint8 `(N, C, H, W)`, image i drawn from test caption i;
- `labels.npy`: int64 `(N,)`, the digit each caption names (a user's folder: the class of
  the caption's image);
- `prompt_samples.npy`: uint8 `(P * K, C, H, W)`, K = 10 images of each of the first P = 100
  test captions, caption by caption (other noise): the diversity within one prompt;
- `grid.png`: the fixed prompts (`ganops.text.grid`), one row each, the prompt beside it;
- `manifest.json`: the count, the image shape, the seed and every file's sha256.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ganops.errors import DataError
from ganops.io import atomic_dir, read_json_record, save_npy, sha256_file, verify_file, write_json
from ganops.sampling import LABELS_FILE, MANIFEST, SAMPLES_FILE, load_samples, save_png, to_uint8
from ganops.text.artifact import TextModel
from ganops.text.corpus import Corpus
from ganops.text.grid import GRID_COLUMNS, grid_prompts, prompt_grid

GRID_FILE = "grid.png"
PROMPT_SAMPLES_FILE = "prompt_samples.npy"
PROMPT_DRAWS = 10  # images of one caption, for the diversity within one prompt
PROMPT_COUNT = 100  # captions (the first of the test split) drawn PROMPT_DRAWS times


def write_text_samples(
    model: TextModel, corpus: Corpus, seed: int, out: Path, batch_size: int = 500
) -> dict[str, Path]:
    """One image per test caption and the prompts' grid into `out` (replaced whole). A
    word of a test caption that no training caption has reads as unknown (only a tiny split
    leaves one out)."""
    test = corpus.test
    images = to_uint8(model.draw(test.texts, 1, seed, batch_size, unknown="map"))
    first = test.texts[:PROMPT_COUNT]
    prompted = to_uint8(model.draw(first, PROMPT_DRAWS, seed + 1, batch_size, unknown="map"))
    fixed = grid_prompts(test.texts, corpus.has_digits)
    grid = prompt_grid(to_uint8(model.draw(fixed, GRID_COLUMNS, seed, unknown="map")), fixed)
    with atomic_dir(out) as staging:
        save_npy(staging / SAMPLES_FILE, images)
        save_npy(staging / LABELS_FILE, test.split.labels.astype(np.int64))
        save_npy(staging / PROMPT_SAMPLES_FILE, prompted)
        save_png(staging / GRID_FILE, grid)
        files = sorted(p.name for p in staging.iterdir())
        write_json(
            staging / MANIFEST,
            {
                "count": len(images),
                "image_shape": list(images.shape[1:]),
                "seed": seed,
                "drawn": "one image per caption of the test split, in its order",
                "files": {name: {"sha256": sha256_file(staging / name)} for name in files},
            },
        )
    names = (SAMPLES_FILE, LABELS_FILE, PROMPT_SAMPLES_FILE, GRID_FILE, MANIFEST)
    return {name: out / name for name in names}


def load_text_samples(folder: Path, corpus: Corpus) -> tuple[np.ndarray, np.ndarray]:
    """The images of the test captions and of the first ones drawn `PROMPT_DRAWS` times, as
    `write_text_samples` wrote them, checked against the test captions."""
    images, labels = load_samples(folder)
    if labels is None or len(images) != len(corpus.test.captions):
        raise DataError(
            f"{folder}: not one image per test caption ({len(images)} images, "
            f"{len(corpus.test.captions)} captions); rerun the sample stage with task: text"
        )
    if not np.array_equal(labels, corpus.test.split.labels):
        raise DataError(f"{folder}: its digits are not the test captions'; rerun the sample stage")
    files = read_json_record(folder / MANIFEST, producer="sample").get("files", {})
    verify_file(folder / PROMPT_SAMPLES_FILE, files.get(PROMPT_SAMPLES_FILE, {}).get("sha256"),
                MANIFEST, producer="sample")  # fmt: skip
    prompted = np.load(folder / PROMPT_SAMPLES_FILE, allow_pickle=False)
    expected = min(PROMPT_COUNT, len(images)) * PROMPT_DRAWS
    if prompted.shape != (expected, *images.shape[1:]) or prompted.dtype != np.uint8:
        raise DataError(f"{folder / PROMPT_SAMPLES_FILE}: not {expected} images like the samples")
    return images, prompted

"""The picture of prompts a person reads: one row per prompt, its text written to the left
of its images (the per-epoch grid of a text run, the sample stage's, `ganops sample --text`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ganops.sampling import READABLE_PX, make_grid

# the fixed prompts of the per-epoch grid and the sample stage's: every word is a caption word
GRID_PROMPTS = (
    "a thick seven leaning to the right",
    "a thin seven leaning to the left",
    "a bold upright zero",
    "a thin 1 slanted to the right",
    "a heavy three tilted left",
    "a fine upright eight",
    "a wide thick two",
    "a narrow thin four standing straight",
)
GRID_COLUMNS = 8  # images per prompt


def grid_prompts(test_texts: Sequence[str], digits: bool) -> tuple[str, ...]:
    """The fixed prompts of a run's grids: `GRID_PROMPTS` for the digits' made captions, else
    as many distinct test captions of the user's folder, spread evenly through the test split
    (which is in class order: every class has its rows), or all where it has fewer."""
    if digits:
        return GRID_PROMPTS
    distinct = list(dict.fromkeys(test_texts))  # in order, each once
    rows = min(len(GRID_PROMPTS), len(distinct))
    return tuple(distinct[round(i * (len(distinct) - 1) / max(rows - 1, 1))] for i in range(rows))


def grid_texts(prompts: Sequence[str]) -> list[str]:
    """Each prompt of a grid once per image of its row (`GRID_COLUMNS`)."""
    return [prompt for prompt in prompts for _ in range(GRID_COLUMNS)]


def prompt_grid(images: np.ndarray, prompts: list[str] | tuple[str, ...]) -> np.ndarray:
    """uint8 `(P * n, C, H, W)` images, `n` per prompt in prompt order -> one `(H', W', 3)`
    uint8 picture: a row per prompt, the prompt written on the left."""
    per_prompt = len(images) // len(prompts)
    tiles = make_grid(images, columns=per_prompt, min_side=READABLE_PX)  # (H', W', C)
    if tiles.shape[2] == 1:
        tiles = np.repeat(tiles, 3, axis=2)
    row_height = tiles.shape[0] // len(prompts)
    font = ImageFont.load_default()
    margin = 8 + max(int(font.getlength(prompt)) for prompt in prompts)
    picture = Image.new("RGB", (margin + tiles.shape[1], tiles.shape[0]), (255, 255, 255))
    picture.paste(Image.fromarray(tiles), (margin, 0))
    pen = ImageDraw.Draw(picture)
    for row, prompt in enumerate(prompts):
        pen.text((4, row * row_height + row_height // 2 - 6), prompt, fill=(0, 0, 0), font=font)
    return np.asarray(picture)

"""`ganops sample --text`: digits drawn from words, by a text-to-image model (`task: text`).

    ganops sample --model data/models/model.pt --text "a thick seven leaning to the right" \
        --text "a thin upright one" -n 8 --out prompts.png
    ganops sample --model models:/ganops-text/1 --text "a thin upright one" --out ones.png

One row per prompt (`-n` images each), the prompt written beside it, in a PNG; or the
images as `.npy`/`.npz` (prompt by prompt). A word the model never saw is a one-line error
naming it and where the vocabulary is (inside the model's file); so is an empty or an
overlong text. The generator command (`ganops.cli`) hands `--text` here.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ganops.device import resolve_device
from ganops.errors import ConfigError, TrackingError
from ganops.io import is_model_file, save_npy, write_bytes
from ganops.sampling import png_bytes, to_uint8

if TYPE_CHECKING:
    import torch

    from ganops.text.artifact import TextModel

log = logging.getLogger("ganops")
MAX_PROMPTS = 64


def add_text_option(parser: argparse.ArgumentParser) -> None:
    """`--text` on the sample command (repeatable)."""
    parser.add_argument(
        "--text",
        action="append",
        metavar="PROMPT",
        help="text-to-image models (task: text): draw -n images of this caption, one grid row "
        "per prompt (repeatable)",
    )
    parser.add_argument(
        "--unknown-words",
        choices=("error", "map"),
        default="error",
        help="with --text: a word the model never saw is an error (default), or map: read as "
        "the unknown word <unk>",
    )


def load_any_text_model(model: str, device: torch.device) -> TextModel:
    """The text-to-image model of a model.pt path or of an MLflow model URI
    (`models:/ganops-text/1`, `models:/ganops-text@champion`, `runs:/<run_id>/text`), as
    the other tasks' commands tell a file from a URI."""
    from ganops.text.artifact import load_text_model

    path = Path(model)
    if is_model_file(model):
        if not path.is_file():
            raise ConfigError(f"--model: {model} is not a file; --text needs the model's file "
                              "(data/models/model.pt of a task: text run) or its MLflow model "
                              "(models:/ganops-text/VERSION)")  # fmt: skip
        return load_text_model(path, device)
    from ganops.text.artifact import TextModel
    from ganops.tracking import load_logged_text

    logged, _ = load_logged_text(model)
    if not isinstance(logged, TextModel):
        raise TrackingError(f"{model}: not a ganops text-to-image model")
    # the errors of a word it never saw name the model the user gave
    where = f"inside {model}'s model file"
    vocabulary = dataclasses.replace(logged.vocabulary, where=where)
    return TextModel(logged.generator.to(device).eval(), logged.matching.to(device).eval(),
                     vocabulary)  # fmt: skip


def sample_text(args: argparse.Namespace) -> None:
    """Draw `args.n` images of each `args.text` with the model `args.model` (a file or an
    MLflow model URI) and write them to `args.out` (.png grid, .npy or .npz)."""
    from ganops.text.grid import prompt_grid

    prompts: list[str] = args.text
    if len(prompts) > MAX_PROMPTS:
        raise ConfigError(f"--text: {len(prompts)} prompts; at most {MAX_PROMPTS} at once")
    out = Path(args.out)
    if out.suffix not in (".png", ".npy", ".npz"):
        raise ConfigError(f"--out: with --text use a .png grid, .npy or .npz (got {out.name})")
    if args.classes:
        raise ConfigError("--class: a text-to-image model takes its digit from --text")
    device = resolve_device(args.device, key="--device")
    model = load_any_text_model(args.model, device)
    model.sentences(prompts, args.unknown_words)  # every prompt readable, before drawing
    images = to_uint8(
        model.draw(prompts, args.n, args.seed, args.batch_size, unknown=args.unknown_words)
    )
    if out.suffix == ".png":
        write_bytes(out, png_bytes(prompt_grid(images, prompts)))
    elif out.suffix == ".npy":
        save_npy(out, images)
    else:
        prompt_index = np.repeat(np.arange(len(prompts)), args.n)
        with out.open("wb") as handle:
            np.savez(handle, images=images, prompt=prompt_index, prompts=np.array(prompts))
    log.info("%d images of %d prompts written to %s", len(images), len(prompts), out)

"""A folder of one's own captioned images through the text task: does the GAN draw what the
captions say, at 32 or 64 px, on a few hundred images?

It draws a folder of shapes (circles and squares in class sub-folders, each in one of four
colours and two sizes, at a seeded place), each captioned with its size, colour and shape in
`metadata.jsonl` ("a small red circle"), then runs the stages' own commands (from
`dvc.yaml`, as `bench/small_folder.py` does) in a temporary workspace with the project's
params, `task=text`, `data.folder` and `--set` edits, and prints the evaluate stage's table:
the GAN's R-precision, FID and prompt diversity beside retrieval's (a real training image of
each test caption's text) and the real test images'.

Usage:
    python bench/text_folder.py [--images 240] [--size 32] [--set key=value ...]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from stages_direct import run_stages  # noqa: E402

COLOURS = {"red": (220, 30, 30), "blue": (30, 60, 220), "green": (30, 170, 50),
           "yellow": (230, 210, 40)}  # fmt: skip
SIZES = {"small": 0.18, "large": 0.33}  # half the shape's side, a share of the image's
STAGES = ("fetch", "preprocess", "train_evaluator", "train", "sample", "evaluate")


def make_captioned(folder: Path, images: int, size: int, seed: int = 0) -> None:
    """`images` PNGs of `size` px under `folder/<shape>/`, shape, colour and size in turn, each
    at a seeded place, and their captions in `folder/metadata.jsonl`."""
    rng = np.random.default_rng(seed)
    rows = []
    kinds = [(s, c, z) for s in ("circle", "square") for c in COLOURS for z in SIZES]
    for index in range(images):
        shape, colour, scale = kinds[index % len(kinds)]
        half = round(SIZES[scale] * size)
        x, y = (int(v) for v in rng.integers(half + 1, size - half - 1, size=2))
        image = Image.new("RGB", (size, size), (245, 245, 240))
        pen = ImageDraw.Draw(image)
        box = (x - half, y - half, x + half, y + half)
        (pen.ellipse if shape == "circle" else pen.rectangle)(box, fill=COLOURS[colour])
        name = f"{shape}/{index:05d}.png"
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        image.save(folder / name)
        rows.append({"file_name": name, "text": f"a {scale} {colour} {shape}"})
    (folder / "metadata.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))


def run(images: int, size: int, edits: list[str], keep: Path | None = None) -> dict[str, object]:
    """The stages on a fresh captioned folder; the evaluate stage's table."""
    work = Path(tempfile.mkdtemp(prefix="text-folder-"))
    try:
        make_captioned(work / "shapes", images, size)
        test_size = max(8, images // 5)
        base = [
            "task=text", "data.folder=shapes", f"data.image_size={size}",
            f"data.test_size={test_size}", f"eval.kid_subset_size={min(50, test_size)}",
        ]  # fmt: skip
        seconds = run_stages(work, STAGES, [*base, *edits])
        metrics = json.loads((work / "data/eval/metrics.json").read_text())
        return {"edits": edits, "images": images, "size": size, "seconds": seconds,
                "metrics": metrics}  # fmt: skip
    finally:
        if keep:
            shutil.copytree(work, keep, dirs_exist_ok=True)
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=240)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--keep", type=Path, default=None, help="copy the workspace here")
    args = parser.parse_args(argv)
    print(json.dumps(run(args.images, args.size, args.set, args.keep), indent=1))


if __name__ == "__main__":
    main()

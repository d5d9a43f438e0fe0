"""A small folder of a user's own images through the translation task, scored beside the
identity map: does the default train long enough on a few hundred pairs?

`--unpaired` draws CycleGAN's layout instead (`trainA/<class>/`, `trainB/<class>/`), each
domain's shapes drawn apart, so the translator learns it without pairs. `--generate` trains
the GAN (`task=generate`) on B's filled shapes, one class a shape, and prints its scores.
`--restyle` trains the restyler (`task=restyle`, `restyle.folder`) on the unpaired layout:
outlines as content, filled shapes as style (docs/style.md, your own folders).

It draws a paired folder of shapes (`A/<class>/` outlines in black on white, `B/<class>/` the
same shapes filled in their class's colour: red circles, green squares, blue triangles, each
with its own position, size and a little hue jitter), then runs the stages' own commands
(from `dvc.yaml`, as `bench/stages_direct.py` does) in a temporary workspace with the
project's params plus `--set` edits, and prints the translator's FID, label preservation,
PSNR and SSIM beside the identity map's.

Usage:
    python bench/small_folder.py [--pairs 450] [--size 32] [--unpaired] [--set key=value ...]
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

CLASSES = {"circle": (220, 40, 40), "square": (40, 170, 60), "triangle": (50, 70, 220)}
STAGES = ("fetch", "preprocess", "train_evaluator", "train", "sample", "evaluate")


def _outline(draw: ImageDraw.ImageDraw, shape: str, box: tuple[int, ...], **style: object) -> None:
    left, top, right, bottom = box
    if shape == "circle":
        draw.ellipse(box, **style)  # type: ignore[arg-type]
    elif shape == "square":
        draw.rectangle(box, **style)  # type: ignore[arg-type]
    else:
        draw.polygon([((left + right) // 2, top), (right, bottom), (left, bottom)], **style)  # type: ignore[arg-type]


def make_shapes(folder: Path, pairs: int, size: int, seed: int = 0, unpaired: bool = False) -> None:
    """`pairs` paired images under `folder/A/<class>/` and `folder/B/<class>/`, as PNGs of
    `size` px, classes in turn; seeded. `unpaired`: CycleGAN's `trainA/<class>/` and
    `trainB/<class>/` instead, each domain's shapes drawn apart (no outline has its filling)."""
    if unpaired:
        for domain, offset in (("A", 0), ("B", 1)):
            drawn = folder / f"drawn{domain}"
            make_shapes(drawn, pairs, size, seed * 2 + offset)
            shutil.move(drawn / domain, folder / f"train{domain}")
            shutil.rmtree(drawn)
        return
    rng = np.random.default_rng(seed)
    for index in range(pairs):
        shape = list(CLASSES)[index % len(CLASSES)]
        side = int(rng.integers(size // 2, size - 4))
        left, top = (int(v) for v in rng.integers(1, size - side - 1, size=2))
        box = (left, top, left + side, top + side)
        colour = tuple(int(np.clip(c + rng.integers(-25, 26), 0, 255)) for c in CLASSES[shape])
        for domain, style in (
            ("A", {"outline": (0, 0, 0), "fill": None, "width": 1}),
            ("B", {"outline": colour, "fill": colour}),
        ):
            image = Image.new("RGB", (size, size), (255, 255, 255))
            _outline(ImageDraw.Draw(image), shape, box, **style)
            path = folder / domain / shape / f"{index:05d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            image.save(path)


def run(
    pairs: int,
    size: int,
    edits: list[str],
    keep: Path | None = None,
    unpaired: bool = False,
    generate: bool = False,
    restyle: bool = False,
) -> dict[str, object]:
    """The stages on a fresh shapes folder; the scores of the translator and the identity
    (`generate`: of a GAN drawing B's filled shapes, one class a shape)."""
    work = Path(tempfile.mkdtemp(prefix="small-folder-"))
    try:
        make_shapes(work / "shapes", pairs, size, unpaired=unpaired or restyle)
        test_size = max(30, pairs // 5)
        task = ["task=generate", "data.source=folder", "data.folder=shapes/B"] if generate else [
            "task=restyle", "restyle.folder=shapes"] if restyle else [
            "task=translate", "translate.folder=shapes"]  # fmt: skip
        base = [
            *task, f"data.image_size={size}", f"data.test_size={test_size}",
            f"eval.kid_subset_size={min(50, test_size)}",
        ]  # fmt: skip
        seconds = run_stages(work, STAGES, [*base, *edits])
        metrics = json.loads((work / "data/eval/metrics.json").read_text())
        trained = {}  # run.json, and the run's time from its link file beside it
        for name in ("run.json", "mlflow_run.json"):
            record = work / "data/train" / name
            trained.update(json.loads(record.read_text()) if record.exists() else {})
        layout = ("generate B" if generate else "restyle" if restyle
                  else "unpaired" if unpaired else "paired")  # fmt: skip
        return {"edits": edits, "pairs": pairs, "layout": layout, "seconds": seconds,
                "train": {key: trained.get(key) for key in ("hardware", "train_time_s", "steps")},
                "metrics": metrics}  # fmt: skip
    finally:
        if keep:
            shutil.copytree(work, keep, dirs_exist_ok=True)
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=450)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--keep", type=Path, default=None, help="copy the workspace here")
    parser.add_argument("--unpaired", action="store_true", help="trainA/ + trainB/, drawn apart")
    parser.add_argument("--generate", action="store_true", help="a GAN of B's shapes instead")
    parser.add_argument("--restyle", action="store_true", help="the restyler on trainA/ + trainB/")
    args = parser.parse_args(argv)
    result = run(args.pairs, args.size, args.set, args.keep, args.unpaired, args.generate,
                 args.restyle)  # fmt: skip
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()

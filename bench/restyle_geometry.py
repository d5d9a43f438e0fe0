"""Does the geometry term (`restyle.geometry`, `ganops.restyle.geometry`) move a digit's hand?
The restyler on mnist-5k through the stages up to `evaluate`, one (weight, seed) a process,
and the table of docs/style.md from the records (the default's own at `--weight 0`).

Each run is `params.yaml` plus `task: restyle`, `restyle.geometry: WEIGHT`, `restyle.seed:
SEED`, `restyle.epochs: 10` (1,250 steps: the default's length until 2026-11-29, and that of
every record made without `--epochs`; `--epochs` sets another, 3 for short trials, 6 the
default's now), `restyle.warp: true` with `--warp`, `restyle.semantic` with `--semantic`,
`restyle.geometry_numbers: strokes` with `--strokes`, `restyle.geometry_slant` with
`--slant` and `restyle.ema_kimg` with `--ema`, in a scratch workspace; its record holds the
seconds and the evaluate stage's scores.

    OMP_NUM_THREADS=1 python bench/restyle_geometry.py --weight 1 --seed 0 --out A.json &
    OMP_NUM_THREADS=1 python bench/restyle_geometry.py --weight 1 --seed 1 --out B.json
    wait
    python bench/restyle_geometry.py --table A.json B.json
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
from datetime import date
from pathlib import Path
from typing import Any

from ganops.device import cpu_model

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

STAGES = ("fetch", "preprocess", "train_evaluator", "train", "sample", "evaluate")
HAND = ("slant", "thickness", "width", "height")


def overrides(
    weight: float, seed: int, epochs: int | None, warp: bool = False, semantic: float = 0.0,
    strokes: bool = False, slant: float = 1.0, ema: float = 0.0,
) -> dict[str, Any]:  # fmt: skip
    restyle: dict[str, Any] = {"seed": seed, "geometry": weight}
    if slant != 1.0:
        restyle["geometry_slant"] = slant
    if ema:
        restyle["ema_kimg"] = ema
    if warp:
        restyle["warp"] = True
    if strokes:
        restyle["geometry_numbers"] = "strokes"
    if semantic:
        restyle["semantic"] = semantic
    if epochs is not None:
        restyle |= {"epochs": epochs, "steps": None}
    return {"task": "restyle", "restyle": restyle}


def measure(
    weight: float, seed: int, epochs: int | None, warp: bool = False, semantic: float = 0.0,
    keep: Path | None = None, strokes: bool = False, slant: float = 1.0, ema: float = 0.0,
) -> dict[str, Any]:  # fmt: skip
    """One restyler through the stages up to evaluate: its record (the workspace kept in
    `keep`, a new folder, when given)."""
    from translation import run_stages

    setting = overrides(weight, seed, epochs, warp, semantic, strokes, slant, ema)
    if keep is not None:
        keep.mkdir(parents=True)  # (a kept workspace is never overwritten)
    with tempfile.TemporaryDirectory(prefix="restyle-geometry-") as scratch:
        workspace = keep or Path(scratch)
        seconds = run_stages(workspace, setting, STAGES)
        metrics = json.loads((workspace / "data/eval/metrics.json").read_text())
        trained = json.loads((workspace / "data/train/metrics.json").read_text())
        nearest = nearest_reader(workspace)
    return {
        "date": date.today().isoformat(),
        "machine": f"{cpu_model()}, {platform.system()}",
        "overrides": setting,
        "seed": seed,
        "seconds": round(seconds, 1),
        "train": trained,
        "evaluate": metrics,
        "nearest": nearest,
    }


def nearest_reader(workspace: Path) -> dict[str, Any]:
    """A second reader of content kept, of another kind than the evaluator (which the
    semantic term's classifier shares a recipe with): the class of each output's nearest
    train image in pixels (Euclidean), against its content's class, over every restyled test
    image of a kept workspace's `data/samples`; beside it the same reader on the content
    images themselves (its ceiling)."""
    import numpy as np
    import torch

    from ganops.data.dataset import load_split
    from ganops.restyle.outputs import CONTENT_INDEX_FILE, load_restyled
    from ganops.sampling import LABELS_FILE, SAMPLES_FILE

    train = load_split(workspace / "data/processed", "train")
    test = load_split(workspace / "data/processed", "test")
    arrays = load_restyled(workspace / "data/samples")
    bank = torch.from_numpy(train.images.reshape(len(train.images), -1)).float()

    def read(images: np.ndarray) -> np.ndarray:
        flat = torch.from_numpy(images.reshape(len(images), -1)).float()
        nearest = torch.cat([torch.cdist(part, bank).argmin(1) for part in flat.split(250)])
        return train.labels[nearest.numpy()]

    labels = arrays[LABELS_FILE]
    contents = test.images[arrays[CONTENT_INDEX_FILE]]
    return {
        "images": len(labels),
        "content_kept_nn": round(float((read(arrays[SAMPLES_FILE]) == labels).mean()), 6),
        "content_as_it_is_nn": round(float((read(contents) == labels).mean()), 6),
    }


def _setting(record: dict[str, Any]) -> tuple[bool, float, str, float, int | None]:
    restyle = record["overrides"]["restyle"]
    warp, semantic = bool(restyle.get("warp")), float(restyle.get("semantic", 0.0))
    numbers = restyle.get("geometry_numbers", "moments")
    if restyle.get("geometry_slant", 1.0) != 1.0:  # the shear weighed apart
        numbers += f", slant {restyle['geometry_slant']:g}"
    if restyle.get("ema_kimg"):  # the moving average published
        numbers += f", ema {restyle['ema_kimg']:g}"
    return warp, float(restyle.get("geometry", 0.0)), numbers, semantic, restyle.get("epochs")


def table(records: list[dict[str, Any]]) -> str:
    """Markdown: the restyler's scores, one row a record (warp, weight, its numbers,
    semantic, epochs, seed); "n/a" for a score the record was made before `evaluate` (or
    `--nearest`) wrote."""
    head = ["`restyle.warp`", "`restyle.geometry`", "numbers", "`restyle.semantic`", "epochs"]
    head += ["seed"]
    head += ["content kept", "FID"]
    head += [f"r {m}: style / content" for m in HAND]
    head += ["style retrieval in class", "content kept, nearest train image / content's own"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]

    # a record without epochs ran the default's length of its day, 1,250 steps: 10 epochs
    def order(record: dict[str, Any]) -> tuple[bool, float, str, float, int, int]:
        warp, weight, numbers, semantic, epochs = _setting(record)
        return warp, weight, numbers, semantic, epochs or 10, record["seed"]

    for record in sorted(records, key=order):
        warp, weight, numbers, semantic, epochs = _setting(record)
        way = record["evaluate"]["restyle"]
        cells = ["on" if warp else "off", f"{weight:g}", numbers, f"{semantic:g}",
                 str(epochs or 10), str(record["seed"]), f"{way['content_kept']:.3f}",
                 f"{way['fid']:.3f}"]  # fmt: skip
        cells += [f"{way[f'style_r_{m}']:.2f} / {way[f'content_r_{m}']:.2f}" for m in HAND]
        in_class = way.get("style_retrieval_in_class")  # not in the records made before it
        cells.append("n/a" if in_class is None else f"{in_class:.3f}")
        near = record.get("nearest")  # in the records made since --nearest
        read = "n/a" if near is None else f"{near['content_kept_nn']:.3f} / "
        cells.append(read if near is None else read + f"{near['content_as_it_is_nn']:.3f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weight", type=float, default=1.0, help="restyle.geometry")
    parser.add_argument("--seed", type=int, default=0, help="restyle.seed")
    parser.add_argument(
        "--epochs", type=int, default=10, help="restyle.epochs (10, the records' length)"
    )
    parser.add_argument("--warp", action="store_true", help="restyle.warp: true")
    parser.add_argument("--semantic", type=float, default=0.0, help="restyle.semantic")
    parser.add_argument("--strokes", action="store_true",
                        help="restyle.geometry_numbers: strokes")  # fmt: skip
    parser.add_argument("--slant", type=float, default=1.0, help="restyle.geometry_slant")
    parser.add_argument("--ema", type=float, default=0.0, help="restyle.ema_kimg")
    parser.add_argument("--out", type=Path, help="write the record here")
    parser.add_argument("--keep", type=Path, help="run in this new folder and keep it")
    parser.add_argument("--table", type=Path, nargs="+", help="print the table of these records")
    parser.add_argument("--nearest", type=Path, help="a kept workspace: content kept read by "
                        "the nearest train image, added to the record --out")  # fmt: skip
    args = parser.parse_args(argv)
    if args.nearest:
        reading = nearest_reader(args.nearest)
        print(json.dumps(reading))
        if args.out:  # the run's record, made without it
            record = json.loads(args.out.read_text()) | {"nearest": reading}
            args.out.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
        return 0
    if args.table:
        print(table([json.loads(path.read_text()) for path in args.table]))
        return 0
    record = measure(args.weight, args.seed, args.epochs, args.warp, args.semantic, args.keep,
                     args.strokes, args.slant, args.ema)  # fmt: skip
    text = json.dumps(record, indent=1, sort_keys=True)
    if args.out:
        args.out.write_text(text + "\n")
    print(table([record]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

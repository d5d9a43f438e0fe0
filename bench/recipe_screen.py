"""Screen GAN recipes side by side on a many-core machine: each (recipe, seed) runs the train,
sample and evaluate stages in a workspace of its own (this checkout's stage scripts, as
`stages_direct.run_stages` runs them), `--jobs` at a time, each at `--threads` threads (the
pipeline's 2 by default), on the CPU.

A screen, not a record: a machine with another torch build does not give `dvc.lock`'s bytes, so
the default runs beside the recipes as the calibration, and a recipe that looks good is then
run through `dvc exp run` on the recording machine. The shared stages (fetch, preprocess,
train_evaluator) run once, first. Each finished run appends one JSON line (recipe, seed, the
evaluate stage's scores, the train stage's seconds) to `--out`/screen.jsonl and prints a table row.

Usage:
    python bench/recipe_screen.py --out DIR [--jobs 8] [--threads 2] [--seeds 0 1]
        [--limit 300] [--set KEY=VALUE ...] default= cl015=train.class_loss=0.15 \
        wide=model.width_d=48,train.lr=0.0004
A recipe is NAME=[KEY=VALUE[,KEY=VALUE...]] (params.yaml keys; empty: the default); --set
edits every stage's params, the shared ones too (e.g. a shorter evaluator for a trial).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stages_direct import run_stages

SCORES = ("fid", "precision", "recall", "cas", "conditional_accuracy", "intra_class_diversity_min")
CPU = ("run.device=cpu", "evaluator.device=cpu")
SKIP = shutil.ignore_patterns("mlflow.db", "screen.log")  # each run's own


def parse_recipe(text: str) -> tuple[str, list[str]]:
    """'name=key=value,key=value' -> (name, ['key=value', ...])."""
    name, _, rest = text.partition("=")
    if not name:
        raise SystemExit(f"recipe {text!r}: give it a name, NAME=KEY=VALUE,...")
    return name, [item for item in rest.split(",") if item]


def stages(work: Path, names: list[str], edits: list[str], args: argparse.Namespace,
           threads: int) -> dict[str, float] | int:  # fmt: skip
    """`stages_direct.run_stages` in the workspace `work` (the CPU, --set, then `edits`), its
    output in work/screen.log: each stage's seconds, or the exit status of the one that
    failed (124: stopped after --limit seconds)."""
    log = work / "screen.log"
    try:
        return run_stages(work, names, [*CPU, *args.set, *edits], threads, log, args.limit)
    except subprocess.CalledProcessError as failed:
        return failed.returncode
    except subprocess.TimeoutExpired:
        with log.open("a") as handle:
            handle.write(f"\nstopped after {args.limit} s\n")
        return 124


def one(base: Path, name: str, edits: list[str], seed: int, args: argparse.Namespace) -> dict:
    work = args.out / "runs" / f"{name}-seed{seed}"
    shutil.copytree(base, work, ignore=SKIP)
    started = time.perf_counter()
    seeded = [*edits, f"train.seed={seed}"]
    done = stages(work, ["train", "sample", "evaluate"], seeded, args, args.threads)
    status = 0 if isinstance(done, dict) else done
    row: dict = {"recipe": name, "edits": edits, "seed": seed, "status": status}
    row["wall_s"] = round(time.perf_counter() - started, 1)
    if isinstance(done, dict):
        scores = json.loads((work / "data/eval/metrics.json").read_text())
        row.update({key: scores.get(key) for key in SCORES})
        row["train_stage_s"] = done["train"]
    with (args.out / "screen.jsonl").open("a") as handle:
        handle.write(json.dumps(row) + "\n")
    shown = " | ".join(f"{row.get(key)}" for key in (*SCORES, "train_stage_s"))
    print(f"| {name} | {seed} | {shown} | {status} |", flush=True)
    return row


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipes", nargs="+", metavar="NAME=EDITS")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--limit", type=int, default=300, help="seconds a run may take")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    recipes = [parse_recipe(text) for text in args.recipes]
    if (args.out / "runs").exists():
        raise SystemExit(f"{args.out / 'runs'} exists: give a new --out, or remove it")
    args.out.mkdir(parents=True, exist_ok=True)
    base = args.out / "runs" / "base"
    base.mkdir(parents=True)
    started = time.perf_counter()
    shared = ["fetch", "preprocess", "train_evaluator"]
    if not isinstance(stages(base, shared, [], args, args.threads * args.jobs), dict):
        raise SystemExit(f"the shared stages failed: {base / 'screen.log'}")
    print(f"shared stages: {time.perf_counter() - started:.1f} s", flush=True)
    print(f"| recipe | seed | {' | '.join(SCORES)} | train_stage_s | status |", flush=True)
    print("| --- " * (len(SCORES) + 4) + "|", flush=True)
    jobs = [(name, edits, seed) for name, edits in recipes for seed in args.seeds]
    with ThreadPoolExecutor(args.jobs) as pool:
        list(pool.map(lambda job: one(base, *job, args), jobs))


if __name__ == "__main__":
    main()

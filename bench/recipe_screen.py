"""Screen GAN recipes side by side on a many-core machine: each (recipe, seed) runs the train,
sample and evaluate stages in a copy of its own of this checkout, `--jobs` at a time, each at
`--threads` threads (the pipeline's 2 by default), on the CPU.

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
import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCORES = ("fid", "precision", "recall", "cas", "conditional_accuracy", "intra_class_diversity_min")
CPU = ("run.device=cpu", "evaluator.device=cpu")
SKIP = shutil.ignore_patterns(".git", ".venv", ".whl", ".gl", "mlruns", "mlflow.db", "screen.log")


def parse_recipe(text: str) -> tuple[str, list[str]]:
    """'name=key=value,key=value' -> (name, ['key=value', ...])."""
    name, _, rest = text.partition("=")
    if not name:
        raise SystemExit(f"recipe {text!r}: give it a name, NAME=KEY=VALUE,...")
    return name, [item for item in rest.split(",") if item]


def stages(
    work: Path, names: list[str], edits: list[str], args: argparse.Namespace, threads: int
) -> int:
    """bench/stages_direct.py of the copy `work` (the CPU, --set, then `edits`), its log in
    work/screen.log; the exit status."""
    command = [sys.executable, "bench/stages_direct.py", "--stages", *names]
    for edit in (*CPU, *args.set, *edits):
        command += ["--set", edit]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), PYTHONUNBUFFERED="1")
    limit = args.limit
    with (work / "screen.log").open("a") as log:
        try:
            return subprocess.run(
                command, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=limit
            ).returncode
        except subprocess.TimeoutExpired:
            log.write(f"\nstopped after {limit} s\n")
            return 124


def checkout_copy(base: Path) -> None:
    """This checkout's files into `base`: git's tracked and untracked-not-ignored ones where
    there is a .git (no workspace outputs, no resume checkpoints), else the tree less SKIP."""
    if not (ROOT / ".git").exists():
        shutil.copytree(ROOT, base, ignore=SKIP)
        return
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (base / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, base / name)


def one(base: Path, name: str, edits: list[str], seed: int, args: argparse.Namespace) -> dict:
    work = args.out / "runs" / f"{name}-seed{seed}"
    shutil.copytree(base, work, ignore=SKIP)
    started = time.perf_counter()
    seeded = [*edits, f"train.seed={seed}"]
    status = stages(work, ["train", "sample", "evaluate"], seeded, args, args.threads)
    row: dict = {"recipe": name, "edits": edits, "seed": seed, "status": status}
    row["wall_s"] = round(time.perf_counter() - started, 1)
    if status == 0:
        scores = json.loads((work / "data/eval/metrics.json").read_text())
        row.update({key: scores.get(key) for key in SCORES})
        timed = re.search(r"stage train: ([0-9.]+) s", (work / "screen.log").read_text())
        row["train_stage_s"] = float(timed.group(1)) if timed else None
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
    checkout_copy(base)
    started = time.perf_counter()
    shared = ["fetch", "preprocess", "train_evaluator"]
    if stages(base, shared, [], args, args.threads * args.jobs):
        raise SystemExit(f"the shared stages failed: {base / 'screen.log'}")
    print(f"shared stages: {time.perf_counter() - started:.1f} s", flush=True)
    print(f"| recipe | seed | {' | '.join(SCORES)} | train_stage_s | status |", flush=True)
    print("| --- " * (len(SCORES) + 4) + "|", flush=True)
    jobs = [(name, edits, seed) for name, edits in recipes for seed in args.seeds]
    with ThreadPoolExecutor(args.jobs) as pool:
        list(pool.map(lambda job: one(base, *job, args), jobs))


if __name__ == "__main__":
    main()

"""Record how much each metric of the default configuration moves from seed to seed.

Clones the repository (its HEAD) into a scratch directory, runs the pipeline as a seed sweep
of DVC experiments (`-S train.seed=range(0,N)`, queued, then run), reads every run's
metrics back from `dvc exp show`, and writes their mean and standard deviation to
`docs/seed_spread.json`. `ganops report` uses that spread to call a one-seed change
`within noise` or not.

    python bench/seed_spread.py --seeds 3 --jobs 1     # ~3.5 min a seed on 2 CPU cores

With `--jobs 1` the seeds run one after another as workspace experiments; more jobs go
through DVC's queue (`dvc queue start -j N`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from ganops.noise import SPREAD_FILE, recipe_hash, revision_params, sweep_values
from ganops.params import load_params

ROOT = Path(__file__).resolve().parents[1]


def sh(cwd: Path, *args: str) -> str:
    # the stages' `python` is this interpreter's, activated or not
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = dict(os.environ, PATH=path)
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)}: {done.stderr.strip()[-2000:]}")
    return done.stdout


def sweep(clone: Path, seeds: int, jobs: int) -> dict[str, list[float]]:
    """Run the seed sweep in `clone`; every metric's values, one per seed. One job runs the
    seeds one after another in the workspace; more go through DVC's queue and its workers."""
    dvc = (sys.executable, "-m", "dvc")
    if jobs == 1:
        for seed in range(seeds):
            sh(clone, *dvc, "exp", "run", "-S", f"train.seed={seed}")
            print(f"seed {seed} done", flush=True)
    else:
        sh(clone, *dvc, "exp", "run", "--queue", "-S", f"train.seed=range(0,{seeds})")
        sh(clone, *dvc, "queue", "start", "-j", str(jobs))
        while any(state in sh(clone, *dvc, "queue", "status") for state in ("Queued", "Running")):
            time.sleep(10)
        sh(clone, *dvc, "queue", "stop")
    entries = json.loads(sh(clone, *dvc, "exp", "show", "--json"))
    head = next(entry["data"] for entry in entries if entry.get("rev") != "workspace")
    values = sweep_values(entries, revision_params(head))
    merged: dict[str, list[float]] = {}
    for metrics in values.values():
        for key, found in metrics.items():
            merged.setdefault(key, found)
    return merged


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 (at least 2)")
    parser.add_argument("--jobs", type=int, default=1, help="experiments at a time")
    parser.add_argument("--out", type=Path, default=ROOT / SPREAD_FILE, help="record to write")
    args = parser.parse_args(argv)
    if args.seeds < 2:
        parser.error("--seeds: a spread needs at least 2")
    commit = sh(ROOT, "git", "rev-parse", "--short", "HEAD").strip()
    with tempfile.TemporaryDirectory(prefix="seed-spread-") as scratch:
        clone = Path(scratch) / "clone"
        sh(ROOT, "git", "clone", "--quiet", str(ROOT), str(clone))
        # the params measured are the clone's (HEAD's), read before the long sweep: the
        # checkout's own params.yaml may change, or stop being valid for this code, meanwhile
        measured = load_params(clone / "params.yaml")
        values = sweep(clone, args.seeds, args.jobs)
        manifest = json.loads((clone / "data/processed/manifest.json").read_text())
        train_images = manifest["files"]["train_images.npy"]["shape"][0]
        params_hash = recipe_hash(measured, train_images)  # in passes, as the runs hashed it
    seeds_found = max(len(found) for found in values.values())
    if seeds_found < args.seeds:
        raise SystemExit(f"only {seeds_found} of {args.seeds} seeds finished")
    record = {
        "what": "seed-to-seed spread of each metric of the default params.yaml",
        "recorded": f"{date.today().isoformat()}, commit {commit}, {platform.machine()} CPU",
        "command": f"python bench/seed_spread.py --seeds {args.seeds} --jobs {args.jobs}",
        "seeds": list(range(args.seeds)),
        # the params it belongs to: `ganops report` uses it only against the same ones
        "params_hash": params_hash,
        "train_images": train_images,  # resolves a GAN counted in steps into its passes
        "metrics": {
            key: {
                "values": [round(value, 6) for value in found],
                "mean": round(statistics.fmean(found), 6),
                "std": round(statistics.stdev(found), 6),
            }
            for key, found in sorted(values.items())
            if len(found) == args.seeds
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    for key in ("fid", "precision", "recall", "class_kl", "nn_distance_ratio"):
        if key in record["metrics"]:
            entry = record["metrics"][key]
            print(f"{key:20s} mean {entry['mean']:10.4f}  std {entry['std']:.4f}")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

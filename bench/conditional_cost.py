"""What the recommended conditional recipe costs: its `train` stage side by side with the
unconditional default's, and the `downstream` stage at its defaults.

It clones this repository (HEAD) into a temporary directory, runs the stages up to the
evaluator once, then alternates the `train` stage of the default (unconditional) and of the
conditional recipe `--repeats` times, each from scratch (`dvc repro -f -s train`), reading the
loop's own `train_time_s` from `data/train/mlflow_run.json` and timing the whole stage; finally it
samples the last conditional generator and times `dvc repro downstream` (the nine
classifiers of the default `downstream.*`). Targets: conditional training at most 1.3x the
unconditional, and `downstream` within 3 minutes on 2 cores.

Usage:
    .venv/bin/python bench/conditional_cost.py [--repeats 2] [--keep]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path
from statistics import mean

from ruamel.yaml import YAML

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pipeline_time import clone_head, timed

from ganops.run_record import RunRecord

ROOT = Path(__file__).resolve().parents[1]
# the recommended conditional recipe (docs/models.md)
RECIPE = {
    "model": {"conditional": True},
    "train": {"mode_seeking": 0.1, "lr": 0.0005, "lr_d": 0.001, "class_loss": 0.2},
}


def set_params(clone: Path, overrides: dict[str, dict[str, object]]) -> None:
    """The clone's params.yaml as committed, with `overrides` applied (comments kept)."""
    subprocess.run(["git", "checkout", "--quiet", "params.yaml"], cwd=clone, check=True)
    yaml = YAML()
    path = clone / "params.yaml"
    params = yaml.load(path.read_text())
    for section, values in overrides.items():
        params[section].update(values)
    with path.open("w") as handle:
        yaml.dump(params, handle)


def train_once(clone: Path, env: dict[str, str], dvc: str) -> tuple[float, float, float]:
    """`dvc repro -f -s train` (that stage alone, from scratch): (wall seconds, the loop's
    train_time_s, peak GB)."""
    seconds, peak = timed([dvc, "repro", "-f", "-s", "train"], clone, env)
    record = RunRecord.read(clone / "data" / "train" / "run.json")
    return seconds, record.train_time_s, peak


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1, help="train runs of each (1)")
    parser.add_argument("--keep", action="store_true", help="keep the clone and print its path")
    args = parser.parse_args(argv)
    work, clone, env = clone_head("ganops-conditional-")
    dvc = str(Path(sys.executable).parent / "dvc")
    timed([dvc, "repro", "train_evaluator"], clone, env)
    runs: dict[str, list[tuple[float, float, float]]] = {"unconditional": [], "conditional": []}
    for _ in range(args.repeats):
        for name, overrides in (("unconditional", {}), ("conditional", RECIPE)):
            set_params(clone, overrides)
            runs[name].append(train_once(clone, env, dvc))
    print("| `train` stage | stage wall time | loop `train_time_s` | peak memory |")
    print("| --- | --- | --- | --- |")
    for name, results in runs.items():
        walls = ", ".join(f"{wall:.1f}" for wall, _, _ in results)
        loops = ", ".join(f"{loop:.1f}" for _, loop, _ in results)
        peak = max(peak for _, _, peak in results)
        print(f"| {name} | {walls} s | {loops} s | {peak:.2f} GB |")
    ratio = mean(loop for _, loop, _ in runs["conditional"]) / mean(
        loop for _, loop, _ in runs["unconditional"]
    )
    print(f"conditional / unconditional training time: {ratio:.2f} (target <= 1.3)")
    timed([dvc, "repro", "sample"], clone, env)
    seconds, peak = timed([dvc, "repro", "downstream"], clone, env)
    print(f"`dvc repro downstream` (conditional samples, default downstream.*): {seconds:.1f} s, "
          f"peak {peak:.2f} GB (target <= 180 s)")  # fmt: skip
    if args.keep:
        print(f"kept: {clone}")
    else:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()

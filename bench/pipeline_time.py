"""Wall time and peak memory of the default pipeline from scratch, stage by stage, and of a
`dvc repro` with nothing to do.

It clones this repository (HEAD) into a temporary directory, so there is no DVC cache and
no run cache, and runs each stage there with `dvc repro <stage>` in pipeline order, using
the interpreter that runs this script (set up `.venv` first: `make setup`). Peak memory is
the largest resident set of any process of a stage (the stage script, not DVC), from the
kernel's accounting of the finished process tree (`wait4`).

Usage:
    .venv/bin/python bench/pipeline_time.py [--keep]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("fetch", "preprocess", "train_evaluator", "train", "sample", "evaluate", "downstream")


def timed(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """Run `command`; return (wall seconds, peak RSS of any process in its tree, GB)."""
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise SystemExit(f"{' '.join(command)} failed with exit status {process.returncode}")
    return seconds, usage.ru_maxrss * 1024 / 1e9  # Linux reports kilobytes


def clone_head(prefix: str) -> tuple[Path, Path, dict[str, str]]:
    """A clone of HEAD in a new temporary folder: (that folder, the clone, the environment
    that runs the clone's code with this interpreter's tools and the clone's own store)."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    clone = work / "clone"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(clone / "src")  # the clone's code, whatever .venv has installed
    for name in ("MLFLOW_TRACKING_URI", "DVC_EXP_NAME", "MLFLOW_RUN_ID"):
        env.pop(name, None)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; clone of HEAD in {clone}")
    return work, clone, env


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the clone and print its path")
    args = parser.parse_args(argv)
    work, clone, env = clone_head("ganops-pipeline-")
    bin_dir = Path(sys.executable).parent
    print("| step | wall time | peak memory |")
    print("| --- | --- | --- |")
    total = 0.0
    for stage in STAGES:
        seconds, peak = timed([str(bin_dir / "dvc"), "repro", stage], clone, env)
        total += seconds
        print(f"| `dvc repro {stage}` | {seconds:.1f} s | {peak:.2f} GB |", flush=True)
    print(f"| all {len(STAGES)} stages from scratch | {total:.1f} s ({total / 60:.1f} min) | |")
    seconds, peak = timed([str(bin_dir / "dvc"), "repro"], clone, env)
    print(f"| `dvc repro`, nothing changed | {seconds:.2f} s | {peak:.2f} GB |")
    if not args.keep:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()

"""Wall time and peak memory of the default pipeline from scratch, stage by stage, and of a
`dvc repro` with nothing to do.

It clones this repository (HEAD) into a temporary directory, so there is no DVC cache and
no run cache, and runs each stage there with `dvc repro <stage>` in pipeline order, using
the interpreter that runs this script (set up `.venv` first: `make setup`). Peak memory is
the largest resident set of any process of a stage (the stage script, not DVC), from the
kernel's accounting of the finished process tree (`wait4`).

Seconds compare poorly across machines, so each stage is also given as a multiple of R, the
fixed reference workload of `bench/reference_work.py` (pytorch/examples' DCGAN step) timed in
the same run, before the stages and after them (their ratio says how much the machine moved
meanwhile). After the stages: the default training step's own FLOP/s against the fp32 matrix
multiply's (the practical ceiling), the share of the train stage spent in those steps, and
the start-up of the imports every stage's process pays. The CPU is named in the output.

With `--set KEY=VALUE` (repeatable) the clone's params.yaml is edited first, as
`dvc exp run -S` would: `--set task=restyle` times the restyle task's seven stages (the
training-step lines, which read the GAN's step, are then left out).

Usage:
    .venv/bin/python bench/pipeline_time.py [--keep] [--set KEY=VALUE ...]
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

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from reference_work import cpu_name, import_seconds, matmul_flops, reference  # noqa: E402
from stages_direct import set_params  # noqa: E402

DRIFT = 0.1  # R after the stages against R before: beyond it the machine's speed moved
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


def train_step_use(clone: Path, train_seconds: float, steps: int = 20) -> list[str]:
    """Lines on the default's training step in `clone` (its params and processed data): its
    seconds and FLOP/s against the matrix multiply's, and the share of the train stage's
    `train_seconds` that its steps take."""
    import json

    from torch.utils.flop_counter import FlopCounterMode

    from ganops.data.dataset import load_split, read_manifest, to_training_tensor
    from ganops.gan.loop import train_step
    from ganops.gan.spec import spec_for_data
    from ganops.gan.state import build_state_for
    from ganops.params import load_params

    params = load_params(clone / "params.yaml")
    processed = clone / "data/processed"
    split = load_split(processed, "train")
    data = to_training_tensor(split.images, torch.device("cpu"))
    spec = spec_for_data(params, read_manifest(processed), data.shape[0])
    state = build_state_for(params, spec, torch.device("cpu"))
    size = params.train.batch_size
    batch = data[:size]
    labels = torch.as_tensor(split.labels[:size]) if spec.num_classes else None
    for _ in range(3):
        train_step(state, batch, params.train, labels)
    started = time.perf_counter()
    for _ in range(steps):
        train_step(state, batch, params.train, labels)
    per_step = (time.perf_counter() - started) / steps
    with FlopCounterMode(display=False) as counter:
        train_step(state, batch, params.train, labels)
    reached, ceiling = counter.get_total_flops() / per_step, matmul_flops()
    run_steps = int(json.loads((clone / "data/train/run.json").read_text())["steps"])
    return [
        f"the training step: {per_step * 1000:.0f} ms, {reached / 1e9:.1f} GFLOP/s, "
        f"{reached / ceiling:.0%} of the fp32 matrix multiply's {ceiling / 1e9:.1f} GFLOP/s",
        f"its {run_steps:,} steps: {run_steps * per_step:.0f} s of the train stage's "
        f"{train_seconds:.0f} s ({run_steps * per_step / train_seconds:.0%})",
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the clone and print its path")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="edit the clone's params.yaml first (repeatable)")  # fmt: skip
    args = parser.parse_args(argv)
    work, clone, env = clone_head("ganops-pipeline-")
    if args.set:
        set_params(args.set, clone / "params.yaml")
        print(f"params.yaml edited: {' '.join(args.set)}")
    bin_dir = Path(sys.executable).parent
    print(f"CPU: {cpu_name()}")
    before = reference()
    print(
        f"R, before the stages: {before.seconds:.2f} s, {before.flops_per_second / 1e9:.1f} GFLOP/s"
    )
    rows, seconds_of = [], {}
    for stage in STAGES:
        seconds, peak = timed([str(bin_dir / "dvc"), "repro", stage], clone, env)
        seconds_of[stage] = seconds
        rows.append((f"`dvc repro {stage}`", seconds, f"{peak:.2f} GB"))
        print(f"{stage}: {seconds:.1f} s", flush=True)
    after = reference()
    unit = (before.seconds + after.seconds) / 2
    drift = after.seconds / before.seconds
    print(f"R, after the stages: {after.seconds:.2f} s; after / before {drift:.2f}")
    if abs(drift - 1) > DRIFT:
        print(
            f"warning: R moved by more than {DRIFT:.0%} during the run (other work on the "
            "machine?): the multiples of R below are not comparable; run it again alone"
        )
    total = sum(seconds_of.values())
    rows.append((f"all {len(STAGES)} stages from scratch", total, ""))
    seconds, peak = timed([str(bin_dir / "dvc"), "repro"], clone, env)
    rows.append(("`dvc repro`, nothing changed", seconds, f"{peak:.2f} GB"))
    print(f"\nR = {unit:.2f} s (the mean of the two)\n")
    print("| step | wall time | in R | peak memory |")
    print("| --- | --- | --- | --- |")
    for name, seconds, memory in rows:
        print(f"| {name} | {seconds:.1f} s | {seconds / unit:.1f} R | {memory} |")
    print()
    from ganops.params import load_params

    if load_params(clone / "params.yaml").task == "generate":  # the step it times is the GAN's
        for line in train_step_use(clone, seconds_of["train"]):
            print(line)
    for module, seconds in import_seconds().items():
        print(f"import {module}: {seconds:.2f} s (in a fresh interpreter)")
    if not args.keep:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()

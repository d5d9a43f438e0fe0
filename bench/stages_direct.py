"""The pipeline's stages run one after another straight from `dvc.yaml`, without DVC, timed.

For a machine that has torch but not DVC (a lent GPU machine): each stage's `cmd` from
`dvc.yaml`, with its `${paths.*}` filled in, runs in this checkout with this interpreter, in
pipeline order, after `--set key=value` edits to `params.yaml` (the checkout's own file: run
it in a copy you can spoil). `--torchrun N` starts the train stage under
`torchrun --standalone --nproc_per_node=N` instead, as a multi-node launch would.
It prints a table of each stage's wall seconds and the run's headline figures.

Usage:
    python bench/stages_direct.py [--set train.epochs=10 ...] [--stages train sample]
        [--torchrun 1]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[1]
ORDER = ("fetch", "preprocess", "train_evaluator", "train", "sample", "evaluate", "downstream")


def stage_commands() -> dict[str, list[str]]:
    """Each stage's command line from dvc.yaml, its `${paths.*}` filled in."""
    pipeline = YAML(typ="safe").load((ROOT / "dvc.yaml").read_text())
    paths = next(item["paths"] for item in pipeline["vars"] if "paths" in item)
    commands = {}
    for name, stage in pipeline["stages"].items():
        line = re.sub(r"\$\{paths\.(\w+)\}", lambda match: paths[match.group(1)], stage["cmd"])
        commands[name] = shlex.split(line)
    return commands


def parsed_edit(assignment: str) -> tuple[list[str], Any]:
    """A `section.key=value` edit as its key path and its value read as YAML."""
    key, _, value = assignment.partition("=")
    return key.split("."), YAML(typ="safe").load(value)


def set_params(assignments: list[str], params_file: Path = ROOT / "params.yaml") -> None:
    """Apply `section.key=value` edits (values read as YAML) to `params_file` (this
    checkout's params.yaml)."""
    yaml = YAML()
    params = yaml.load(params_file.read_text())
    for assignment in assignments:
        (*sections, leaf), value = parsed_edit(assignment)
        node = params
        for section in sections:
            node = node[section]
        node[leaf] = value
    with params_file.open("w") as handle:
        yaml.dump(params, handle)


def run_stage(command: list[str], torchrun: int) -> float:
    """Run one stage's command here; its wall seconds. Stops the run on a failed stage."""
    program, script, *rest = command
    assert program == "python", command
    if torchrun:
        launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
        command = [*launcher, f"--nproc_per_node={torchrun}", script, *rest]
    else:
        command = [sys.executable, script, *rest]
    inherited = os.environ.get("PYTHONPATH", "")
    env = dict(os.environ, PYTHONPATH=f"{ROOT / 'src'}{os.pathsep}{inherited}")
    started = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, env=env, check=False)
    seconds = time.perf_counter() - started
    if result.returncode:
        raise SystemExit(f"{shlex.join(command)} failed with exit status {result.returncode}")
    return seconds


def run_stages(
    work: Path, stages: tuple[str, ...] | list[str], edits: list[str],
    threads: int | None = None, log: Path | None = None, limit: float | None = None,
) -> dict[str, float]:  # fmt: skip
    """Run `stages` in the workspace `work` (a data set of one's own in it), in order, from
    this checkout's scripts: the project's params.yaml copied there with `edits`, the
    workspace's own MLflow store; at `threads` (OMP_NUM_THREADS; None: as inherited), their
    output appended to `log` (None: this process's), each stage stopped after `limit` seconds
    (None: never). Each stage's wall seconds; a failed or stopped stage raises."""
    shutil.copy(ROOT / "params.yaml", work / "params.yaml")
    set_params(edits, work / "params.yaml")
    commands = stage_commands()
    inherited = os.environ.get("PYTHONPATH", "")
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{inherited}"}
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{work}/mlflow.db"
    env.pop("DVC_EXP_NAME", None)
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    seconds = {}
    with contextlib.ExitStack() as stack:
        output = stack.enter_context(log.open("a")) if log is not None else None
        for stage in stages:
            _, script, *rest = commands[stage]
            started = time.perf_counter()
            subprocess.run(
                [sys.executable, str(ROOT / script), *rest], cwd=work, check=True, env=env,
                stdout=output, stderr=subprocess.STDOUT if output else None, timeout=limit,
            )  # fmt: skip
            seconds[stage] = round(time.perf_counter() - started, 1)
    return seconds


def headline() -> list[str]:
    """The figures of the run just made, from the files the stages wrote."""
    lines = []
    files = ("data/train/run.json", "data/train/mlflow_run.json", "data/eval/metrics.json")
    for label, name in zip(("run", "run", "eval"), files, strict=True):
        path = ROOT / name
        if path.exists():
            record = json.loads(path.read_text())
            wanted = ("hardware", "train_time_s", "images_per_s", "fid", "precision", "recall")
            shown = {key: record[key] for key in wanted if key in record}
            lines.append(f"{label}: {json.dumps(shown)}")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--stages", nargs="+", choices=ORDER, default=list(ORDER))
    parser.add_argument(
        "--torchrun",
        type=int,
        default=0,
        metavar="N",
        help="train stage under torchrun with N processes",
    )
    args = parser.parse_args(argv)
    set_params(args.set)
    commands = stage_commands()
    rows = []
    for name in ORDER:
        if name in args.stages:
            seconds = run_stage(commands[name], args.torchrun if name == "train" else 0)
            rows.append(f"| {name} | {seconds:.1f} |")
            print(f"stage {name}: {seconds:.1f} s", flush=True)
    print(
        f"\nparams: {' '.join(args.set) or 'params.yaml as it is'}"
        f"{f'; train under torchrun x{args.torchrun}' if args.torchrun else ''}"
    )
    print("| stage | seconds |\n| --- | --- |")
    print("\n".join(rows))
    print("\n".join(headline()))


if __name__ == "__main__":
    main()

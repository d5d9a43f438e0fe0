"""One stage's wall time at two commits, side by side on the same inputs, and whether the two
write the same bytes.

For a change meant to keep a stage's bytes and save its time: each commit's stage script
(`pipeline/<stage>.py` of a git worktree of it, with its own `src` first on PYTHONPATH) runs
on one workspace's inputs, the commits in turns, `--repeats` times each, and each run's
metrics file is compared byte for byte with the first's. The workspace is a pipeline that has
run up to the stage, e.g. a clone kept by `bench/pipeline_time.py --keep --set task=restyle`;
its outputs are not touched (each run writes its metrics and plots to a scratch folder). The
command is the stage's own from the workspace's `dvc.yaml`.

Usage:
    python bench/stage_speed.py --workspace CLONE --stage evaluate --before REV [--after REV]
        [--repeats 2]

`--after` defaults to this checkout as it is (uncommitted changes included).
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from reference_work import cpu_name  # noqa: E402

OUTPUTS = ("--metrics", "--plots")  # the flags whose paths each run gets a scratch copy of


def stage_arguments(workspace: Path, stage: str) -> list[str]:
    """The stage's command-line arguments (after its script) from the workspace's dvc.yaml,
    its `${paths.*}` filled in."""
    spec = yaml.safe_load((workspace / "dvc.yaml").read_text())
    paths: dict[str, str] = {}
    for entry in spec.get("vars", []):
        paths |= entry.get("paths", {}) if isinstance(entry, dict) else {}
    if stage not in spec["stages"]:
        raise SystemExit(f"no stage {stage!r} in {workspace / 'dvc.yaml'}")
    command = re.sub(
        r"\$\{paths\.(\w+)\}", lambda m: paths[m.group(1)], spec["stages"][stage]["cmd"]
    )
    words = shlex.split(command)
    script = words.index(f"pipeline/{stage}.py")
    return words[script + 1 :]


def scratch_outputs(arguments: list[str], folder: Path) -> list[str]:
    """The arguments with each of `OUTPUTS` pointed into `folder`."""
    out = list(arguments)
    for flag in OUTPUTS:
        if flag in out:
            place = out.index(flag) + 1
            out[place] = str(folder / Path(out[place]).name)
    return out


def tree_of(revision: str, parent: Path) -> Path:
    """A detached worktree of `revision` under `parent` (this checkout for `.`)."""
    if revision == ".":
        return ROOT
    tree = parent / revision.replace("/", "_")
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), revision],
        check=True, capture_output=True,
    )  # fmt: skip
    return tree


def run_once(tree: Path, stage: str, arguments: list[str], workspace: Path) -> tuple[float, bytes]:
    """Seconds of one run of `tree`'s stage script in `workspace`, and its metrics' bytes."""
    with tempfile.TemporaryDirectory(prefix="ganops-stage-") as scratch:
        args = scratch_outputs(arguments, Path(scratch))
        env = os.environ | {"PYTHONPATH": str(tree / "src")}
        command = [sys.executable, str(tree / "pipeline" / f"{stage}.py"), *args]
        started = time.perf_counter()
        done = subprocess.run(command, cwd=workspace, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        if done.returncode:
            raise SystemExit(f"{stage} at {tree} failed:\n{done.stderr[-2000:]}")
        metrics = Path(args[args.index("--metrics") + 1])
        return seconds, metrics.read_bytes()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workspace", type=Path, required=True)
    parser.add_argument("--stage", required=True)
    parser.add_argument("--before", required=True, help="a commit")
    parser.add_argument("--after", default=".", help="a commit, or . (this checkout)")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    arguments = stage_arguments(args.workspace, args.stage)
    with tempfile.TemporaryDirectory(prefix="ganops-trees-") as parent:
        trees = {
            "before": tree_of(args.before, Path(parent)),
            "after": tree_of(args.after, Path(parent)),
        }
        try:
            seconds: dict[str, list[float]] = {name: [] for name in trees}
            written: set[bytes] = set()
            for _ in range(args.repeats):
                for name, tree in trees.items():
                    took, metrics = run_once(tree, args.stage, arguments, args.workspace)
                    seconds[name].append(took)
                    written.add(metrics)
                    print(f"{name}: {took:.1f} s", flush=True)
        finally:
            for tree in trees.values():
                if tree != ROOT:
                    subprocess.run(
                        ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)]
                    )
    runs = f"{args.repeats} runs each, in turns"
    print(f"CPU: {cpu_name()}, {os.cpu_count()} cores; stage {args.stage}; {runs}")
    print(f"before: {args.before}  after: {args.after}")
    print("| commit | runs (s) | median |")
    print("| --- | --- | --- |")
    for name, values in seconds.items():
        runs = ", ".join(f"{v:.1f}" for v in values)
        print(f"| {name} | {runs} | {statistics.median(values):.1f} s |")
    ratio = statistics.median(seconds["before"]) / statistics.median(seconds["after"])
    same = "yes" if len(written) == 1 else "NO"
    print(f"speed-up: {ratio:.2f}x; the same metrics bytes in every run: {same}")
    if len(written) != 1:
        raise SystemExit(1)


if __name__ == "__main__":
    main()

"""This tree's training steps against the same steps at an earlier commit: their time, their
FLOPs and whether they give the same bytes, side by side in one process.

A change that only removes work from a step (a gradient computed and thrown away, a forward
pass made twice) must keep its bytes; this measures what it saves. For each step named:
  gan           the default's GAN step (`ganops.gan.loop.train_step`, params.yaml as it is,
                channels-last, on the real digits; `bench/cpu_kernels.py`'s setting)
  restyle       the restyle task's step at the default's restyle keys
                (`ganops.restyle.loop.restyle_step`, on seeded random images, as
                `bench/restyle_step_cost.py` times it)
  restyle-hand  the same at the recipe `restyle-hand`'s keys (its semantic term's reader an
                untrained classifier: its cost is the same)
the module that holds the step is loaded twice, as it is in this tree and as it was at
--before (`git show`; the rest of the package is this tree's), and two states are built alike.
Their steps take turns in blocks of --block steps, --blocks blocks each, every pair of blocks
in the other order of the last pair, so a drift in the machine's speed reaches both alike;
each pair gives a ratio, reported as its median and quartiles with the pairs the tree's step
was faster in. After the blocks both states must have the same digest of their networks'
weights. Last, the FLOPs of one more step of each (`restyle_step_cost.Flops`).

Usage:
    python bench/step_before.py --before COMMIT [--steps gan restyle restyle-hand]
        [--blocks 30] [--block 5]
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cpu_kernels import default_step, weights_digest
from reference_work import cpu_name
from restyle_step_cost import Flops, Step, recipes

ROOT = Path(__file__).resolve().parents[1]
# the module and function of each kind of step
KINDS = {
    "gan": ("ganops.gan.loop", "train_step"),
    "restyle": ("ganops.restyle.loop", "restyle_step"),
}
STEPS = ("gan", "restyle", "restyle-hand")


def kind_of(name: str) -> str:
    return "gan" if name == "gan" else "restyle"


def module_at(commit: str, module: str) -> ModuleType:
    """The module named `module` as it was at `commit`, imported under a name of its own."""
    path = "src/" + module.replace(".", "/") + ".py"
    shown = subprocess.run(["git", "-C", str(ROOT), "show", f"{commit}:{path}"],
                           capture_output=True, text=True, check=False)  # fmt: skip
    if shown.returncode != 0:
        raise SystemExit(f"--before {commit}: {shown.stderr.strip()}")
    name = f"before_{commit}_{module.replace('.', '_')}"
    with tempfile.TemporaryDirectory(prefix="step-before-") as folder:
        file = Path(folder) / f"{name}.py"
        file.write_text(shown.stdout)
        spec = importlib.util.spec_from_file_location(name, file)
        assert spec and spec.loader
        loaded = importlib.util.module_from_spec(spec)
        sys.modules[name] = loaded  # dataclasses look their module up there
        spec.loader.exec_module(loaded)
    return loaded


class GanStep:
    """The default's GAN step by `function`, on 8 fixed batches of the real digits in turn."""

    def __init__(self, function: Callable[..., Any]) -> None:
        self.state, self.batches, self.cfg = default_step({"channels_last": "on"})
        self.function, self.taken = function, 0

    def __call__(self) -> None:
        images, classes = self.batches[self.taken % len(self.batches)]
        self.function(self.state, images, self.cfg, classes)
        self.taken += 1


def steps_of(name: str, function: Callable[..., Any]) -> tuple[Callable[[], None], tuple[Any, ...]]:
    """A step named `name` taken by `function`, and the networks it trains."""
    if name == "gan":
        gan = GanStep(function)
        return gan, (gan.state.generator, gan.state.discriminator)
    cfg = recipes()["default" if name == "restyle" else "restyle-hand"]
    restyle = Step(cfg, cfg.batch_size, function)
    return restyle, (restyle.state.restyler, restyle.state.discriminator)


def side_by_side(name: str, before: ModuleType, blocks: int, block: int) -> dict[str, Any]:
    """The step at --before and in this tree, in turns: ms a step, ratios, digests, FLOPs."""
    module, function = KINDS[kind_of(name)]
    ways = {"before": steps_of(name, getattr(before, function)),
            "now": steps_of(name, getattr(importlib.import_module(module), function))}  # fmt: skip
    for step, _ in ways.values():
        for _ in range(3):  # untimed
            step()
    times: dict[str, list[float]] = {way: [] for way in ways}
    for pair in range(blocks):
        for way in ("before", "now") if pair % 2 == 0 else ("now", "before"):
            step = ways[way][0]
            started = time.perf_counter()
            for _ in range(block):
                step()
            times[way].append(1000 * (time.perf_counter() - started) / block)
    digests = {way: weights_digest(networks) for way, (_, networks) in ways.items()}
    flops = {}
    for way, (step, _) in ways.items():
        with Flops() as counter:
            step()
        flops[way] = counter.total
    ratios = sorted(b / n for b, n in zip(times["before"], times["now"], strict=True))
    return {"times": times, "ratios": ratios, "digests": digests, "flops": flops}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="the commit to measure against")
    parser.add_argument("--steps", nargs="+", choices=STEPS, default=list(STEPS))
    parser.add_argument("--blocks", type=int, default=30, help="timed blocks of each way")
    parser.add_argument("--block", type=int, default=5, help="steps a block")
    args = parser.parse_args(argv)
    kinds = {kind_of(name) for name in args.steps}
    before = {kind: module_at(args.before, KINDS[kind][0]) for kind in kinds}
    print(f"{cpu_name()}; torch {torch.__version__}, {torch.get_num_threads()} threads, ATen "
          f"{torch.backends.cpu.get_cpu_capability()}; {args.blocks} blocks of {args.block} "
          f"steps a way, in turns; before = {args.before}")  # fmt: skip
    print("| step | GFLOP before | GFLOP now | ms before | ms now | speed (median of the pairs; "
          "quartiles) | faster in | same bytes |\n| --- | --- | --- | --- | --- | --- | --- "
          "| --- |")  # fmt: skip
    for name in args.steps:
        found = side_by_side(name, before[kind_of(name)], args.blocks, args.block)
        times, ratios, flops = found["times"], found["ratios"], found["flops"]
        low, _, high = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else ratios * 3
        same = found["digests"]["before"] == found["digests"]["now"]
        print(f"| {name} | {flops['before'] / 1e9:.3f} | {flops['now'] / 1e9:.3f} "
              f"| {statistics.median(times['before']):.1f} | {statistics.median(times['now']):.1f} "
              f"| {statistics.median(ratios):.3f}x ({low:.3f}x, {high:.3f}x) "
              f"| {sum(r > 1 for r in ratios)} of {len(ratios)} pairs "
              f"| {'yes' if same else 'no'}: {' / '.join(sorted(set(found['digests'].values())))} "
              "|")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What one step of the restyler costs on this CPU, and whether its cores could do more of it.

The restyle task's `train` is its steps (1,250 of them in the recipe `restyle-hand`, 750 at the
default), each at torch's thread count in one process. Side by side, in one run, in turns
(`--rounds`, the median kept), for the default's restyle keys and the recipe's:

  the stage's way         one process, torch's threads, `restyle.batch_size` images;
  one thread              the same step on one thread: how well the threads share it;
  processes, half batch   as many processes as threads, one thread each, each a step of its
                          share of the batch at the same time: what data-parallel training
                          (torchrun, gradients averaged) could at best reach, since the
                          gradients' exchange is left out.

Beside them, the step's FLOPs (`torch.utils.flop_counter`) and the FLOP/s the stage's way
reaches, against a large convolution's on the same threads (the practical ceiling of the
step's kernels, `conv_ceiling`). The networks are seeded and the batches random: a step's time
does not depend on its pixels. The semantic term's reader is an untrained classifier of the
evaluator's architecture (its cost is the same).

Usage:
    python bench/restyle_step_cost.py [--steps 30] [--rounds 3] [--markdown]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

from ganops.classifier_arms import one_thread_here
from ganops.config.restyle import RestyleConfig
from ganops.metrics.evaluator import Evaluator, EvaluatorSpec
from ganops.params import parse_params, read_yaml
from ganops.recipes import load_recipe
from ganops.restyle.loop import build_restyler, restyle_step, restyler_spec

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference_work import cpu_name

ROOT = Path(__file__).resolve().parents[1]
SIDE, CLASSES = 28, 10
WARM_UP = 3


def conv_ceiling(repeats: int = 5) -> float:
    """The FLOP/s of a large channels-last 3x3 convolution (32 images of 256 channels at
    32 px) at torch's thread count: the practical ceiling of the step's kernels, under the
    same pins (`import ganops` sets them before oneDNN starts; an fp32 matrix multiply runs
    through MKL, which the pins hold to a slower path, and is not the step's kernel)."""
    images = torch.randn(32, 256, 32, 32).contiguous(memory_format=torch.channels_last)
    weight = torch.randn(256, 256, 3, 3)
    torch.nn.functional.conv2d(images, weight, padding=1)
    started = time.perf_counter()
    for _ in range(repeats):
        torch.nn.functional.conv2d(images, weight, padding=1)
    flops = 2 * images.numel() * 256 * 9 * repeats
    return flops / (time.perf_counter() - started)


def recipes() -> dict[str, RestyleConfig]:
    """The restyle keys of the default (`params.yaml`) and of the recipe `restyle-hand`."""
    base = read_yaml(ROOT / "params.yaml")
    return {
        "default": parse_params(base).restyle,
        "restyle-hand": load_recipe(ROOT, "restyle-hand").params(base).restyle,
    }


class Step:
    """One restyler's training step, called on seeded random batches of `batch` images
    (`function`: the step, `restyle_step` or another version of it)."""

    def __init__(
        self, cfg: RestyleConfig, batch: int, function: Callable[..., Any] = restyle_step
    ) -> None:
        self.cfg, self.batch, self.function = cfg, batch, function
        spec = restyler_spec(cfg, 1, SIDE, CLASSES)
        self.state = build_restyler(cfg, spec, torch.device("cpu"), channels_last=True)
        names = tuple(str(k) for k in range(CLASSES))
        with torch.random.fork_rng(devices=[]):  # the same reader for every Step
            torch.manual_seed(0)
            reader = Evaluator(EvaluatorSpec((1, SIDE, SIDE), names, 16))
        reader = reader.eval().requires_grad_(False)
        self.reader = reader if cfg.semantic > 0 else None
        self.rng = torch.Generator().manual_seed(0)

    def _images(self) -> torch.Tensor:
        images = torch.rand(self.batch, 1, SIDE, SIDE, generator=self.rng) * 2 - 1
        return images.contiguous(memory_format=torch.channels_last)

    def __call__(self) -> None:
        labels = torch.randint(0, CLASSES, (self.batch,), generator=self.rng)
        codes = torch.randn(2, self.batch, self.cfg.style_dim, generator=self.rng)
        batch = (self._images(), labels, self._images(), codes)
        self.function(self.state, self.cfg, batch, 1.0, reader=self.reader)


def step_seconds(cfg: RestyleConfig, batch: int, steps: int) -> float:
    """Seconds a step, at torch's thread count now, after `WARM_UP` untimed steps."""
    step = Step(cfg, batch)
    for _ in range(WARM_UP):
        step()
    started = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - started) / steps


class Flops(TorchDispatchMode):
    """Counts the FLOPs of the operators `torch.utils.flop_counter` knows (convolutions and
    matrix products, forward and backward), as its `FlopCounterMode` does, but without the
    module hooks that mode adds: those refuse the R1 penalty's `autograd.grad`."""

    def __init__(self) -> None:
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        count = flop_registry.get(func._overloadpacket)
        if count is not None:
            self.total += count(*args, **kwargs, out_val=out)
        return out


def step_flops(cfg: RestyleConfig, batch: int) -> int:
    """FLOPs of one step (the convolutions' and matrix products', forward and backward)."""
    step = Step(cfg, batch)
    step()
    with Flops() as counter:
        step()
    return counter.total


def _worker(cfg_json: str, batch: int, steps: int) -> None:
    """A process of the half-batch way (`--worker`): one thread, warmed up, says `ready`,
    waits for a line on stdin, then prints the seconds of its timed steps."""
    torch.set_num_threads(1)
    step = Step(RestyleConfig.model_validate_json(cfg_json), batch)
    for _ in range(WARM_UP):
        step()
    print("ready", flush=True)
    sys.stdin.readline()
    started = time.perf_counter()
    for _ in range(steps):
        step()
    print(time.perf_counter() - started, flush=True)


def processes_seconds(cfg: RestyleConfig, batch: int, steps: int, processes: int) -> float:
    """Seconds a step when `processes` processes of one thread each take a step of
    `batch / processes` images at the same time: the slowest one's, timed from a common
    start (each is told to go once all are warmed up)."""
    command = [sys.executable, __file__, "--worker", cfg.model_dump_json(),
               str(batch // processes), str(steps)]  # fmt: skip
    workers = [
        subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for _ in range(processes)
    ]
    try:
        for worker in workers:
            assert worker.stdout is not None
            if worker.stdout.readline().strip() != "ready":
                raise RuntimeError(f"a half-batch process exited with {worker.wait()}")
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write("go\n")
            worker.stdin.flush()
        seconds = [float(worker.communicate()[0]) for worker in workers]
    finally:
        for worker in workers:
            worker.kill()
    return max(seconds) / steps


def on_one_thread(run: Callable[[], float]) -> float:
    """`run` with torch on one thread in this process (as `downstream` trains a classifier)."""
    with one_thread_here():
        return run()


def ways_of(cfg: RestyleConfig, steps: int, threads: int) -> dict[str, Callable[[], float]]:
    """The three ways of taking `cfg`'s step, each giving its seconds a step."""
    batch = cfg.batch_size
    return {
        f"one process, {threads} threads (the stage's way)": lambda: step_seconds(
            cfg, batch, steps
        ),
        "one thread": lambda: on_one_thread(lambda: step_seconds(cfg, batch, steps)),
        f"{threads} processes of one thread, {batch // threads} images each": lambda: (
            processes_seconds(cfg, batch, steps, threads)
        ),
    }


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        _worker(argv[1], int(argv[2]), int(argv[3]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=30, help="timed steps of each way a round")
    parser.add_argument("--rounds", type=int, default=3, help="turns of every way (median kept)")
    parser.add_argument("--markdown", action="store_true", help="also the docs table's rows")
    args = parser.parse_args(argv)

    threads = torch.get_num_threads()
    if threads < 2:
        parser.error("the threads' and processes' ways need torch on 2 threads or more")
    print(f"machine: {cpu_name()}; torch {torch.__version__}")
    ceilings = [conv_ceiling()]  # again after every round: the best is the ceiling
    measured = []  # (restyle keys, their GFLOP a step, {way: seconds a step, each round})
    for name, cfg in recipes().items():
        ways = ways_of(cfg, args.steps, threads)
        times: dict[str, list[float]] = {way: [] for way in ways}
        for _ in range(args.rounds):
            for way, run in ways.items():
                times[way].append(run())
            ceilings.append(conv_ceiling())
        measured.append((name, step_flops(cfg, cfg.batch_size), times))
    ceiling = max(ceilings)
    print(f"the ceiling, a large convolution on {threads} threads: {ceiling / 1e9:.1f} GFLOP/s "
          f"at best of {len(ceilings)} (the least {min(ceilings) / 1e9:.1f})")  # fmt: skip
    rows = []
    for name, flops, times in measured:
        first = statistics.median(next(iter(times.values())))
        print(f"{name}: {flops / 1e9:.2f} GFLOP a step")
        for way, values in times.items():
            seconds = statistics.median(values)
            share = flops / seconds / ceiling
            spread = f"{min(values) * 1e3:.0f}-{max(values) * 1e3:.0f}"
            print(f"  {way}: {seconds * 1e3:.1f} ms a step (rounds {spread} ms), "
                  f"{first / seconds:.2f}x, {flops / seconds / 1e9:.1f} GFLOP/s, "
                  f"{share:.0%} of the ceiling")  # fmt: skip
            rows.append((name, way, seconds, first / seconds, flops / seconds, share))
    if args.markdown:
        print("\n| restyle keys | way | ms a step | speed against the stage's way | GFLOP/s "
              "| share of the ceiling |\n| --- | --- | --- | --- | --- | --- |")  # fmt: skip
        for name, way, seconds, speed, rate, share in rows:
            print(f"| {name} | {way} | {seconds * 1e3:.1f} | {speed:.2f}x | {rate / 1e9:.1f} "
                  f"| {share:.0%} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())

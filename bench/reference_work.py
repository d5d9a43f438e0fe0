"""A fixed reference workload, timed on this machine: the unit other timings are divided by.

Seconds move by 1.5x between machines and, on one machine, from day to day (other work,
clocks, the cloud's neighbours). A stage's seconds divided by a fixed workload's seconds,
measured in the same run, move far less: that ratio is what compares across machines.

The workload is the training step of the DCGAN of pytorch/examples (`dcgan/main.py`: nz 100,
ngf 64, ndf 64, three channels at 64 px, BCE, Adam at 2e-4 with beta1 0.5), in fp32 at
torch's thread count, on fixed seeded data: `REFERENCE_STEPS` steps after two untimed ones.
One *reference unit* (R) is the seconds of those steps. Beside it: the FLOP/s the step
reaches (counted with `torch.utils.flop_counter`), the FLOP/s of an fp32 2048² matrix
multiply (the practical ceiling), the CPU's name and the start-up of the imports every
stage's process pays (torch, mlflow, dvc), each in a fresh interpreter.

Usage:
    python bench/reference_work.py       # the reference, the ceiling, the imports
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

REFERENCE_STEPS = 5
BATCH = 16
NZ, NGF, NDF, NC = 100, 64, 64, 3
IMPORTS = ("torch", "mlflow", "dvc.repo", "ganops.cli")


def _generator() -> nn.Module:
    widths = (NGF * 8, NGF * 4, NGF * 2, NGF)
    layers: list[nn.Module] = []
    for index, (c_in, c_out) in enumerate(zip((NZ, *widths), widths, strict=False)):
        stride, padding = (1, 0) if index == 0 else (2, 1)
        layers += [nn.ConvTranspose2d(c_in, c_out, 4, stride, padding, bias=False)]
        layers += [nn.BatchNorm2d(c_out), nn.ReLU(True)]
    return nn.Sequential(*layers, nn.ConvTranspose2d(NGF, NC, 4, 2, 1, bias=False), nn.Tanh())


def _discriminator() -> nn.Module:
    widths = (NDF, NDF * 2, NDF * 4, NDF * 8)
    layers: list[nn.Module] = []
    for index, (c_in, c_out) in enumerate(zip((NC, *widths), widths, strict=False)):
        layers += [nn.Conv2d(c_in, c_out, 4, 2, 1, bias=False)]
        layers += [nn.BatchNorm2d(c_out)] if index else []
        layers += [nn.LeakyReLU(0.2, inplace=True)]
    return nn.Sequential(*layers, nn.Conv2d(NDF * 8, 1, 4, 1, 0, bias=False), nn.Flatten(0))


class DcganStep:
    """pytorch/examples' DCGAN update of D then G, on a fixed seeded batch."""

    def __init__(self, batch: int = BATCH, seed: int = 0) -> None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.g, self.d = _generator(), _discriminator()
            self.real = torch.rand(batch, NC, 64, 64) * 2 - 1
            self.noise = torch.randn(batch, NZ, 1, 1)
        self.opt_g = torch.optim.Adam(self.g.parameters(), 2e-4, betas=(0.5, 0.999))
        self.opt_d = torch.optim.Adam(self.d.parameters(), 2e-4, betas=(0.5, 0.999))
        self.ones, self.zeros = torch.ones(batch), torch.zeros(batch)

    def __call__(self) -> None:
        loss = nn.functional.binary_cross_entropy_with_logits
        fake = self.g(self.noise)
        self.opt_d.zero_grad()
        real_and_fake = loss(self.d(self.real), self.ones) + loss(self.d(fake.detach()), self.zeros)
        real_and_fake.backward()  # type: ignore[no-untyped-call]
        self.opt_d.step()
        self.opt_g.zero_grad()
        loss(self.d(fake), self.ones).backward()  # type: ignore[no-untyped-call]
        self.opt_g.step()


@dataclass(frozen=True)
class Reference:
    """One measurement: R (seconds of `REFERENCE_STEPS` steps) and the step's FLOP/s."""

    seconds: float
    flops_per_second: float


def reference(steps: int = REFERENCE_STEPS, batch: int = BATCH) -> Reference:
    """R, timed now at torch's thread count (`batch` other than `BATCH`: not R, a smaller
    workload of the same kind)."""
    from torch.utils.flop_counter import FlopCounterMode

    step = DcganStep(batch)
    for _ in range(2):
        step()
    started = time.perf_counter()
    for _ in range(steps):
        step()
    seconds = time.perf_counter() - started
    with FlopCounterMode(display=False) as counter:
        step()
    return Reference(seconds, counter.get_total_flops() * steps / seconds)


def matmul_flops(size: int = 2048, repeats: int = 10) -> float:
    """The FLOP/s torch's fp32 matrix multiply reaches here: the practical ceiling."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    started = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * size**3 * repeats / (time.perf_counter() - started)


def cpu_name() -> str:
    """The CPU's model name (`/proc/cpuinfo`), with the cores torch uses."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        info = ""
    names = [line.split(":", 1)[1].strip() for line in info.splitlines() if "model name" in line]
    model = names[0] if names else platform.processor() or platform.machine()
    return f"{model}, {torch.get_num_threads()} threads"


def import_seconds(modules: tuple[str, ...] = IMPORTS, repeats: int = 3) -> dict[str, float]:
    """Median seconds of `import M` in a fresh interpreter, less a bare interpreter's start."""

    def run(code: str) -> float:
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True)
            times.append(time.perf_counter() - started)
        return statistics.median(times)

    bare = run("pass")
    return {module: run(f"import {module}") - bare for module in modules}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=REFERENCE_STEPS)
    args = parser.parse_args(argv)
    print(f"CPU: {cpu_name()}")
    measured = reference(args.steps)
    print(f"R ({args.steps} steps of pytorch/examples' DCGAN, batch {BATCH}, 64 px): "
          f"{measured.seconds:.2f} s, {measured.flops_per_second / 1e9:.1f} GFLOP/s")  # fmt: skip
    print(f"fp32 matrix multiply (2048²): {matmul_flops() / 1e9:.1f} GFLOP/s")
    for module, seconds in import_seconds().items():
        print(f"import {module}: {seconds:.2f} s")


if __name__ == "__main__":
    main()

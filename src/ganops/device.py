"""Device placement and the speed-ups a device supports.

`auto` picks the GPU when there is one. On a GPU the training step runs its forward passes
in bf16 autocast, keeps activations channels-last and uses the fused Adam kernel; on a CPU
it stays fp32 (channels-last too), so CPU runs are bitwise reproducible, compiled ones too
(`compiled`). `torch.compile` is off unless asked for: on a 2-core CPU the compiled step was
no faster than the channels-last one; on an H200 (torch 2.11) it was slower, and beside
channels-last it failed on its first backward, on an H200 and an H100
(bench/records/h200-2026-11-26, h100-2026-11-26-b), so that pair on a GPU is refused with a
line that says what to set. Each switch is a `run.*` param, so any of them can be tried on
either device.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from ganops.errors import ConfigError

if TYPE_CHECKING:
    from ganops.config import RunConfig


def resolve_device(name: str, key: str = "run.device") -> torch.device:
    """`auto` -> cuda if available else cpu; `cuda` without a GPU is a `ConfigError` on `key`."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            f"{key}: cuda was asked for but PyTorch sees no CUDA GPU "
            f"(torch {torch.__version__}); use auto or cpu"
        )
    return torch.device(name)


def cpu_kind() -> str:
    """The widest vector instructions this CPU has, whatever the kernel pins select: `AVX-512`,
    `AVX2` or `other`."""
    if torch.cpu._is_avx512_supported():
        return "AVX-512"
    return "AVX2" if torch.cpu._is_avx2_supported() else "other"


def cpu_model() -> str:
    """The CPU's model name as `/proc/cpuinfo` gives it (`AMD EPYC 9B14`, `Intel(R) Xeon(R)
    ...`), for benchmarks' records; where that file is missing, what `platform` knows."""
    import platform
    from pathlib import Path

    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        info = ""
    for line in info.splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown CPU"


def kernels_pinned() -> bool:
    """Whether every CPU kernel pin of ganops is in force (a user's environment can override
    one, e.g. `ATEN_CPU_CAPABILITY=avx512` for speed)."""
    from ganops import CPU_KERNEL_PINS

    return all(os.environ.get(name) == value for name, value in CPU_KERNEL_PINS.items())


def hardware(device: torch.device) -> str:
    """What a run's bytes depend on beyond its params and code: on the CPU, the number of
    threads torch splits its work over (a reduction split otherwise rounds otherwise), as
    `cpu, 2 threads`, with `, kernels unpinned` when a kernel pin was overridden; on a GPU,
    the device type (`cuda`). The kind of CPU is not among them: under the pins an Intel and
    an AMD CPU, AVX2 or AVX-512, compute the same bytes. `run.json` keeps it, so `ganops
    report` can explain a difference (docs/gpu.md, "Reproducibility across machines")."""
    if device.type != "cpu":
        return device.type
    unpinned = "" if kernels_pinned() else ", kernels unpinned"
    return f"cpu, {torch.get_num_threads()} threads{unpinned}"


def _switch(value: str, device: torch.device, auto_on_cuda: bool = True) -> bool:
    """`on`/`off`, or `auto`: on for CUDA only (off everywhere unless `auto_on_cuda`)."""
    return value == "on" or (value == "auto" and auto_on_cuda and device.type == "cuda")


@dataclass(frozen=True)
class Acceleration:
    """How the training step runs on its device."""

    autocast: bool = False  # bf16 autocast around the forward passes and losses
    channels_last: bool = False  # networks and batches in NHWC memory format
    compile: bool = False  # torch.compile both networks

    @classmethod
    def resolve(cls, cfg: RunConfig, device: torch.device) -> Acceleration:
        """The switches `cfg` asks for on `device` (`auto` = on for CUDA, off on CPU; for
        compile, off on both). Compiled and channels-last together on a GPU is a `ConfigError`:
        the compiled backward of a channels-last convolution failed a stride check there."""
        chosen = cls(
            autocast=_switch(cfg.autocast, device),
            channels_last=_switch(cfg.channels_last, device),
            compile=_switch(cfg.compile, device, auto_on_cuda=False),
        )
        if chosen.compile and chosen.channels_last and device.type == "cuda":
            raise ConfigError(
                "run.compile: on with run.channels_last on a GPU fails in torch.compile's "
                "channels-last convolution backward (docs/gpu.md); set run.channels_last=off "
                "to compile"
            )
        return chosen

    def describe(self) -> str:
        """`bf16 autocast, channels-last, compiled` or `plain fp32`."""
        names = [
            name
            for name, on in (
                ("bf16 autocast", self.autocast),
                ("channels-last", self.channels_last),
                ("compiled", self.compile),
            )
            if on
        ]
        return ", ".join(names) or "plain fp32"


def compiled(network: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """`torch.compile(network)`; on the CPU, with PyTorch's deterministic algorithms on.

    Inductor's C++ code sums the backward of nearest upsampling and of an embedding with
    atomic adds across threads: their order, and so the rounding, changes from run to run,
    and two compiled CPU runs of the same params would not give the same bytes.
    Deterministic, inductor writes ordered sums instead (bench/cpu_kernels.py --compiled)."""
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True)
    return torch.compile(network)  # type: ignore[return-value]


def adam(
    parameters: Iterable[torch.nn.Parameter], lr: float, betas: tuple[float, float] = (0.9, 0.999)
) -> torch.optim.Adam:
    """Adam with its fused kernel, on the CPU as on a GPU: every optimiser of the project.

    On the CPU the default Adam takes its square root through MKL's vector maths, which
    leans on an approximate instruction whose last bits are each chip's own, whatever
    `MKL_CBWR` says; the fused kernel takes the exact square root, so training gives the
    same bytes on Intel and AMD CPUs. It is the faster of the two as well."""
    return torch.optim.Adam(parameters, lr=lr, betas=betas, fused=True)


def configure_backends(device: torch.device, deterministic: bool) -> None:
    """Deterministic algorithms when asked for; otherwise let cuDNN and TF32 pick fast kernels.

    CPU kernels are deterministic already, so this only changes anything on a GPU.
    """
    if device.type != "cuda":
        return
    if deterministic:
        # cuBLAS needs a fixed workspace to be deterministic; read when it initialises
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
    else:
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True

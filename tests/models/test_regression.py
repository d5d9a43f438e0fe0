"""Unconditional models stay what they were when the default run was recorded: the same
parameter names and shapes, the same initial weights for a seed, the same outputs, bit for
bit. The digests below were computed by the models before conditioning existed (1036e2d).

The outputs depend on the CPU kernels, which `ganops` pins on every x86-64 machine
(`ganops.CPU_KERNEL_PINS`): under the pins they are the same on an AVX2 and an AVX-512 CPU,
an Intel and an AMD one. The dcgan digests were first recorded on an AVX2-only AMD EPYC and
are reproduced on an AVX-512 one; the mlp's linear layers run MKL's matrix product, which
gave another digest on an Intel CPU (e959d3e4... under `MKL_CBWR=AVX2`) than on AMD ones
(5e5b9abf...) until its COMPATIBLE branch was pinned. tests/test_cpu_kinds.py checks these
outputs, and training, on emulated CPUs of other kinds."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
import torch

from ganops import CPU_KERNEL_PINS
from ganops.models import GeneratorSpec, build_discriminator, build_generator

SPECS = {
    "dcgan-default": GeneratorSpec("dcgan", 64, 32, (1, 28, 28)),  # params.yaml's model
    "dcgan-rgb64": GeneratorSpec("dcgan", 8, 4, (3, 64, 64)),
    "mlp": GeneratorSpec("mlp", 8, 4, (1, 28, 28)),
}
# sha256 prefixes of (parameter names and shapes, initial weights)
RECORDED = {
    "dcgan-default": ("8aa72dfcc5aae1a3", "622af0adb6f64682"),
    "dcgan-rgb64": ("e9bfffb61f29635d", "a7e29da44f534466"),
    "mlp": ("ccafee72ad88472f", "474228a03b3c0be5"),
}
# sha256 prefixes of the outputs under the pins, on one thread
RECORDED_OUTPUTS = {
    "dcgan-default": "56a119905bd514e4",
    "dcgan-rgb64": "db706bf7660bf43b",
    "mlp": "939218bdc590ed06",
}
PINNED = all(os.environ.get(name) == value for name, value in CPU_KERNEL_PINS.items())


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Reductions split over several threads round differently; one thread fixes the order."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _digest(tensors: Iterable[torch.Tensor]) -> str:
    hasher = hashlib.sha256()
    for tensor in tensors:
        hasher.update(tensor.detach().contiguous().numpy().tobytes())
    return hasher.hexdigest()[:16]


def _build(spec: GeneratorSpec) -> tuple[torch.nn.Module, torch.nn.Module]:
    torch.manual_seed(0)  # G first, then D, as training builds them
    return build_generator(spec), build_discriminator(spec)


def _run(network: torch.nn.Module, inputs: torch.Tensor, explicit: bool) -> torch.Tensor:
    """Called as before conditioning existed, or with `labels=None` spelled out."""
    return network(inputs, None) if explicit else network(inputs)


@pytest.mark.parametrize("name", SPECS)
def test_parameter_layout_is_unchanged(name: str) -> None:
    generator, discriminator = _build(SPECS[name])
    layout = [
        (key, tuple(value.shape))
        for network in (generator, discriminator)
        for key, value in network.state_dict().items()
    ]
    assert hashlib.sha256(repr(layout).encode()).hexdigest()[:16] == RECORDED[name][0]


@pytest.mark.parametrize("name", SPECS)
def test_initial_weights_are_unchanged(name: str, one_thread: None) -> None:
    generator, discriminator = _build(SPECS[name])
    weights = [*generator.state_dict().values(), *discriminator.state_dict().values()]
    assert _digest(weights) == RECORDED[name][1]


@pytest.mark.skipif(not PINNED, reason="outputs recorded under ganops' CPU kernel pins only")
@pytest.mark.parametrize("explicit", [False, True], ids=["implicit", "labels-none"])
@pytest.mark.parametrize("name", SPECS)
def test_outputs_are_unchanged(name: str, explicit: bool, one_thread: None) -> None:
    spec = SPECS[name]
    generator, discriminator = _build(spec)
    z = torch.randn(4, spec.latent_dim, generator=torch.Generator().manual_seed(1))
    outputs = []
    for training in (True, False):  # batch statistics, then the running ones
        generator.train(training)
        discriminator.train(training)
        with torch.no_grad():
            images = _run(generator, z, explicit)
            outputs += [images, _run(discriminator, images, explicit)]
    assert _digest(outputs) == RECORDED_OUTPUTS[name]


def _kernels_in_a_fresh_process(**env: str) -> list[str]:
    clean = {k: v for k, v in os.environ.items() if k not in CPU_KERNEL_PINS} | env
    code = (
        "import ganops, os, torch; print(torch.backends.cpu.get_cpu_capability(), "
        "*(os.environ[name] for name in ganops.CPU_KERNEL_PINS if name != 'ATEN_CPU_CAPABILITY'))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=clean, capture_output=True, text=True, check=True
    )
    return done.stdout.split()


def test_importing_ganops_pins_the_cpu_kernels_and_a_users_choice_wins() -> None:
    assert _kernels_in_a_fresh_process() == [
        "AVX2", "AVX2", "COMPATIBLE", "Haswell", "X86_V4", "AVX512_ICL", "AVX512_SPR"
    ]  # fmt: skip
    assert _kernels_in_a_fresh_process(ATEN_CPU_CAPABILITY="default")[0] == "DEFAULT"


def test_a_cpu_without_avx2_keeps_the_pins_it_can_run(tmp_path: Path) -> None:
    """ATen and OpenBLAS forced to AVX2 kernels die of an illegal instruction there (seen
    under QEMU's emulated Westmere); oneDNN's and MKL's pins are ceilings and stay."""
    from ganops import pins_for

    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse sse2 ssse3 sse4_1 sse4_2 avx\n")
    assert pins_for(str(cpuinfo)) == {
        "DNNL_MAX_CPU_ISA": "AVX2",
        "MKL_CBWR": "COMPATIBLE",
        "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",
    }
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma avx512f\n")
    assert pins_for(str(cpuinfo)) == CPU_KERNEL_PINS
    assert pins_for(str(tmp_path / "none")) == CPU_KERNEL_PINS  # no cpuinfo (not Linux)

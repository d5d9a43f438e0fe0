"""Unconditional models stay what they were when the default run was recorded: the same
parameter names and shapes, the same initial weights for a seed, the same outputs, bit for
bit. The digests below were computed by the models before conditioning existed (1036e2d).

The outputs depend on the CPU kernels, which `ganops` pins to AVX2 on every x86-64 machine
(`ganops.CPU_KERNEL_PINS`), and on the kind of CPU (`ganops.device.cpu_kind`). Under the pins
the dcgan digests are the same on an AVX2-only machine (AMD EPYC, where they were first
recorded) and an AVX-512 one: ATen's and oneDNN's kernels are pinned. The mlp's are not: its
linear layers run MKL's matrix product, which rounds otherwise on the two kinds even under
`MKL_CBWR=AVX2` (5e5b9abf... on the AVX2 machine, e959d3e4... on the AVX-512 one, torch
2.14.1 both). The "unpinned" digests are 1036e2d's outputs with the pins overridden
(`ATEN_CPU_CAPABILITY=avx512`, `DNNL_MAX_CPU_ISA=ALL`, `MKL_CBWR=AUTO`) on an AVX-512 machine."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Iterable, Iterator

import pytest
import torch

from ganops import CPU_KERNEL_PINS
from ganops.device import cpu_kind
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
# sha256 prefixes of the outputs, by the ATen kernels in use
# (`torch.backends.cpu.get_cpu_capability()`: AVX2 under the pins, AVX512 with them
# overridden) and the kind of CPU they ran on
PINNED_CONVOLUTIONS = {"dcgan-default": "56a119905bd514e4", "dcgan-rgb64": "db706bf7660bf43b"}
RECORDED_OUTPUTS = {
    ("AVX2", "AVX2"): {**PINNED_CONVOLUTIONS, "mlp": "5e5b9abf73834d6c"},
    ("AVX2", "AVX-512"): {**PINNED_CONVOLUTIONS, "mlp": "e959d3e4d35b58c6"},
    ("AVX512", "AVX-512"): {
        "dcgan-default": "21e7eb1feccbc426",
        "dcgan-rgb64": "8e59e4a74f99bd3c",
        "mlp": "c88289a0f9235d88",
    },
}
KERNELS = (torch.backends.cpu.get_cpu_capability(), cpu_kind())


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


@pytest.mark.skipif(
    KERNELS not in RECORDED_OUTPUTS,
    reason=f"outputs recorded for (kernels, CPU) {list(RECORDED_OUTPUTS)}, not {KERNELS}",
)
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
    assert _digest(outputs) == RECORDED_OUTPUTS[KERNELS][name]


def _kernels_in_a_fresh_process(**env: str) -> list[str]:
    clean = {k: v for k, v in os.environ.items() if k not in CPU_KERNEL_PINS} | env
    code = (
        "import ganops, os, torch; print(torch.backends.cpu.get_cpu_capability(), "
        "os.environ['DNNL_MAX_CPU_ISA'], os.environ['MKL_CBWR'])"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=clean, capture_output=True, text=True, check=True
    )
    return done.stdout.split()


def test_importing_ganops_pins_the_cpu_kernels_and_a_users_choice_wins() -> None:
    assert _kernels_in_a_fresh_process() == ["AVX2", "AVX2", "AVX2"]
    assert _kernels_in_a_fresh_process(ATEN_CPU_CAPABILITY="default")[0] == "DEFAULT"

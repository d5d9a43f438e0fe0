"""Unconditional models stay what they were when the default run was recorded: the same
parameter names and shapes, the same initial weights for a seed, the same outputs, bit for
bit. The digests below were computed by the models before conditioning existed (the
AVX-512 outputs by that commit's code, 1036e2d, on an AVX-512 machine)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator

import pytest
import torch

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
# sha256 prefixes of the outputs, which depend on the CPU kernels: recorded with x86-64 AVX2
# and AVX-512 ones (`torch.backends.cpu.get_cpu_capability()`)
RECORDED_OUTPUTS = {
    "AVX2": {
        "dcgan-default": "56a119905bd514e4",
        "dcgan-rgb64": "db706bf7660bf43b",
        "mlp": "5e5b9abf73834d6c",
    },
    "AVX512": {
        "dcgan-default": "cafb91a0c9cec5d4",
        "dcgan-rgb64": "9a8fa85dfadf7cf9",
        "mlp": "5e5b9abf73834d6c",
    },
}
KERNELS = torch.backends.cpu.get_cpu_capability()


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
    reason=f"outputs recorded with {', '.join(RECORDED_OUTPUTS)} CPU kernels, not {KERNELS}",
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

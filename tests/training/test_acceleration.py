"""The GPU speed-ups (bf16 autocast, channels-last, torch.compile), exercised on CPU: each
switch trains, stays finite and stays close to the plain fp32 path."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch

from ganops.config import Params
from ganops.device import Acceleration, configure_backends, cpu_model
from ganops.errors import ConfigError
from ganops.gan import GanState, build_state
from ganops.gan.loop import train_step
from ganops.models import GeneratorSpec

CPU = torch.device("cpu")
SPEC = GeneratorSpec("dcgan", latent_dim=8, width=4, image_shape=(1, 28, 28))
STEPS = 3


def _real(seed: int = 0, count: int = 32) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(count, 1, 28, 28, generator=generator) * 2 - 1  # (B, 1, 28, 28)


def _run(params: Params) -> tuple[GanState, torch.Tensor]:
    """A few steps on fixed batches; returns the state and the `(STEPS, 4)` step values."""
    state = build_state(SPEC, params.train, CPU, run=params.run)
    values = torch.stack([train_step(state, _real(step), params.train) for step in range(STEPS)])
    return state, values


def _flat_weights(state: GanState) -> torch.Tensor:
    return torch.cat([p.detach().flatten().float() for p in state.generator.parameters()])


@pytest.fixture(autouse=True)
def _nondeterministic_after() -> Iterator[None]:
    """A compiled CPU step turns deterministic algorithms on for its process; not for the
    tests after it."""
    yield
    torch.use_deterministic_algorithms(False)


@pytest.fixture
def tiny(tiny_params: Callable[..., Params]) -> Callable[..., Params]:
    def build(**run: object) -> Params:
        plain = {"batch_size": 32, "lr": 2e-4}
        return tiny_params({"train": plain, "run": {"channels_last": "off", **run}})

    return build


def test_auto_is_plain_fp32_on_cpu_and_all_but_compile_on_cuda(
    tiny: Callable[..., Params], tiny_params: Callable[..., Params]
) -> None:
    cfg = tiny(channels_last="auto").run
    assert Acceleration.resolve(cfg, CPU) == Acceleration()
    assert Acceleration.resolve(cfg, CPU).describe() == "plain fp32"
    default = Acceleration.resolve(tiny_params().run, CPU)  # channels-last on the CPU too
    assert default == Acceleration(channels_last=True) and default.describe() == "channels-last"
    on_gpu = Acceleration.resolve(cfg, torch.device("cuda"))
    assert on_gpu == Acceleration(autocast=True, channels_last=True, compile=False)
    forced = Acceleration.resolve(tiny(compile="on", autocast="off").run, torch.device("cuda"))
    assert forced.compile and not forced.autocast and not forced.channels_last
    assert Acceleration.resolve(tiny(channels_last="on").run, CPU).channels_last


def test_compiled_channels_last_on_a_gpu_is_refused_with_the_key_to_set(
    tiny: Callable[..., Params],
) -> None:
    both = tiny(compile="on", channels_last="auto").run
    with pytest.raises(ConfigError, match=r"set run\.channels_last=off to compile$"):
        Acceleration.resolve(both, torch.device("cuda"))
    on_cpu = Acceleration.resolve(both, CPU)  # the CPU compiles channels-first under auto
    assert on_cpu == Acceleration(compile=True)
    assert Acceleration.resolve(tiny(compile="on", channels_last="on").run, CPU).channels_last


def test_the_cpu_model_is_the_one_proc_cpuinfo_names(monkeypatch: pytest.MonkeyPatch) -> None:
    """Benchmarks' records name the CPU by its model (two machines' `platform.processor()`
    are both an empty string or `x86_64`), or by what `platform` knows without the file."""
    info = Path("/proc/cpuinfo")
    if info.exists():
        names = [line for line in info.read_text().splitlines() if line.startswith("model name")]
        if names:
            assert cpu_model() == names[0].split(":", 1)[1].strip()
    real_read = Path.read_text

    def no_cpuinfo(path: Path, *args: object, **kwargs: object) -> str:
        if str(path) == "/proc/cpuinfo":
            raise OSError("no such file")
        return real_read(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "read_text", no_cpuinfo)
    monkeypatch.setattr("platform.processor", lambda: "")
    monkeypatch.setattr("platform.machine", lambda: "x86_64")
    assert cpu_model() == "x86_64"


def test_configure_backends_leaves_cpu_alone() -> None:
    before = torch.are_deterministic_algorithms_enabled()
    configure_backends(CPU, deterministic=True)
    assert torch.are_deterministic_algorithms_enabled() == before


def test_plain_path_is_what_the_switches_are_compared_with(tiny: Callable[..., Params]) -> None:
    # the plain path twice gives bitwise the same weights: the comparisons below are fair
    first, values = _run(tiny())
    second, again = _run(tiny())
    assert torch.equal(_flat_weights(first), _flat_weights(second))
    assert torch.equal(values, again)


@pytest.mark.parametrize(
    ("switch", "tolerance"),
    [
        ("channels_last", 1e-5),  # same maths, another memory order
        ("autocast", 5e-2),  # bf16 keeps ~3 significant digits
    ],
)
def test_switch_trains_finite_and_close_to_plain(
    tiny: Callable[..., Params], switch: str, tolerance: float
) -> None:
    plain_state, plain = _run(tiny())
    state, values = _run(tiny(**{switch: "on"}))
    assert getattr(state.acceleration, switch)
    assert torch.isfinite(values).all()
    torch.testing.assert_close(values, plain, rtol=tolerance, atol=tolerance)
    weights, plain_weights = _flat_weights(state), _flat_weights(plain_state)
    assert torch.isfinite(weights).all()
    # both paths move the weights the same way: they differ by far less than they moved
    plain_params = tiny()
    start = _flat_weights(build_state(SPEC, plain_params.train, CPU, run=plain_params.run))
    assert (weights - plain_weights).norm() < 0.25 * (plain_weights - start).norm()
    if switch == "channels_last":
        conv = next(m for m in state.discriminator.modules() if isinstance(m, torch.nn.Conv2d))
        assert conv.weight.is_contiguous(memory_format=torch.channels_last)


def test_autocast_runs_the_networks_in_bf16(tiny: Callable[..., Params]) -> None:
    bf16 = tiny(autocast="on")
    state = build_state(SPEC, bf16.train, CPU, run=bf16.run)
    seen: list[torch.dtype] = []
    state.discriminator.register_forward_hook(lambda _m, _i, out: seen.append(out.dtype))
    values = train_step(state, _real(), tiny().train)
    assert seen and set(seen) == {torch.bfloat16}
    assert values.dtype == torch.float32  # losses are computed in fp32
    assert all(p.dtype == torch.float32 for p in state.generator.parameters())  # fp32 masters


def test_compiled_networks_train_close_to_plain(tiny: Callable[..., Params]) -> None:
    plain_state, plain = _run(tiny())
    state, values = _run(tiny(compile="on"))
    assert state.step_generator is not state.generator  # the step calls the compiled module
    assert torch.isfinite(values).all()
    torch.testing.assert_close(values, plain, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(_flat_weights(state), _flat_weights(plain_state), rtol=0, atol=1e-5)


@pytest.mark.slow
def test_a_compiled_cpu_step_gives_the_same_bytes_run_to_run(
    tiny_params: Callable[..., Params],
) -> None:
    # The default's own networks at its own sizes (conditional, nearest upsampling, channels-
    # last, batch 64) on two threads: inductor's C++ code sums the backward of the upsampling
    # and of the class embeddings with atomic adds across threads, whose order changes from
    # run to run unless deterministic algorithms are on (bench/cpu_kernels.py --compiled).
    params = tiny_params({"train": {"batch_size": 64}, "run": {"compile": "on"}})
    spec = GeneratorSpec("dcgan", 64, 32, (1, 28, 28), num_classes=10, upsample="nearest")
    images = torch.rand(64, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1
    labels = torch.arange(64) % 10
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        weights = []
        for _ in range(2):
            state = build_state(spec, params.train, CPU, run=params.run)
            for _ in range(STEPS):
                train_step(state, images, params.train, labels)
            weights.append(_flat_weights(state))
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(weights[0], weights[1])

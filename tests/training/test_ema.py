from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from ganops.gan.ema import GeneratorEMA, unwrap


def tiny_generator(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))


def test_average_is_a_frozen_copy_in_eval_mode() -> None:
    generator = tiny_generator()
    ema = GeneratorEMA(generator, decay=0.9)
    assert ema.module is not generator
    assert not ema.module.training
    assert not any(p.requires_grad for p in ema.module.parameters())
    assert all(p.requires_grad for p in generator.parameters())
    for average, live in zip(ema.module.parameters(), generator.parameters(), strict=True):
        assert torch.equal(average, live) and average.data_ptr() != live.data_ptr()


def test_one_update_is_the_expected_lerp() -> None:
    generator = tiny_generator()
    ema = GeneratorEMA(generator, decay=0.9)
    start = [p.detach().clone() for p in ema.module.parameters()]
    with torch.no_grad():
        for p in generator.parameters():
            p.add_(1.0)
    step = 100  # past the warm-up: beta = decay
    assert ema.beta(step) == 0.9
    ema.update(generator, step)
    for average, before, live in zip(
        ema.module.parameters(), start, generator.parameters(), strict=True
    ):
        torch.testing.assert_close(average, 0.9 * before + 0.1 * live.detach())


def test_warm_up_follows_the_live_generator_closely_at_first() -> None:
    ema = GeneratorEMA(tiny_generator(), decay=0.999)
    assert ema.beta(0) == pytest.approx(0.1)
    assert ema.beta(90) == pytest.approx(0.91)
    assert ema.beta(10**6) == 0.999


def test_buffers_are_copied_not_averaged() -> None:
    generator = tiny_generator()
    ema = GeneratorEMA(generator, decay=0.9)
    generator.train()
    generator(torch.randn(8, 3))  # moves the batch-norm running statistics
    ema.update(generator, step=100)
    for average, live in zip(ema.module.buffers(), generator.buffers(), strict=True):
        assert torch.equal(average, live)


def test_average_of_a_constant_generator_is_that_generator() -> None:
    generator = tiny_generator()
    ema = GeneratorEMA(generator, decay=0.5)
    for step in range(5):
        ema.update(generator, step)
    for average, live in zip(
        ema.module.state_dict().values(), generator.state_dict().values(), strict=True
    ):
        assert torch.equal(average, live)


def test_state_dict_survives_a_safe_save_and_load(tmp_path: Path) -> None:
    generator = tiny_generator()
    ema = GeneratorEMA(generator, decay=0.9)
    with torch.no_grad():
        for p in generator.parameters():
            p.mul_(2.0)
    ema.update(generator, step=3)
    torch.save(ema.state_dict(), tmp_path / "ema.pt")
    resumed = GeneratorEMA(tiny_generator(seed=1), decay=0.9)
    resumed.load_state_dict(torch.load(tmp_path / "ema.pt", weights_only=True))
    for key, value in ema.state_dict().items():
        assert torch.equal(resumed.state_dict()[key], value)
    # and the saved weights load into a plain generator for sampling
    plain = tiny_generator(seed=2)
    plain.load_state_dict(torch.load(tmp_path / "ema.pt", weights_only=True))


def test_updates_are_bitwise_repeatable() -> None:
    def run() -> dict[str, torch.Tensor]:
        generator = tiny_generator()
        ema = GeneratorEMA(generator, decay=0.99)
        for step in range(3):
            with torch.no_grad():
                for p in generator.parameters():
                    p.add_(0.1 * (step + 1))
            ema.update(generator, step)
        return ema.state_dict()

    first, second = run(), run()
    assert all(torch.equal(first[key], second[key]) for key in first)


def test_wrapped_generators_are_unwrapped() -> None:
    generator = tiny_generator()
    compiled = torch.compile(generator)  # compiles lazily: nothing runs until called
    assert unwrap(compiled) is generator
    assert unwrap(nn.DataParallel(compiled)) is generator
    ema = GeneratorEMA(compiled, decay=0.9)
    assert type(ema.module) is nn.Sequential
    ema.update(nn.DataParallel(compiled), step=100)
    assert unwrap(generator) is generator


def test_decay_outside_the_unit_interval_is_refused() -> None:
    with pytest.raises(ValueError, match="decay"):
        GeneratorEMA(tiny_generator(), decay=1.5)


def test_a_half_life_in_images_halves_the_weight_of_the_past_after_that_many_images() -> None:
    for batch in (16, 64, 256):  # the same horizon in images whatever the batch
        ema = GeneratorEMA(tiny_generator(), half_life_images=10_000, batch_size=batch)
        late = 10**6  # past the ramp-up (5% of the images seen)
        assert ema.beta(late) ** (10_000 / batch) == pytest.approx(0.5)


def test_the_half_life_ramps_up_with_the_images_seen() -> None:
    ema = GeneratorEMA(tiny_generator(), half_life_images=10_000, batch_size=64)
    assert ema.beta(0) < 1e-5  # the first update all but copies the live generator
    # after 1,000 updates of 64: 5% of 64,000 images, a 3,200-image horizon, not yet 10,000
    assert ema.beta(999) == pytest.approx(0.5 ** (64 / 3200))
    assert ema.beta(999) < ema.beta(10**6)
    with pytest.raises(ValueError, match="half-life"):
        GeneratorEMA(tiny_generator(), half_life_images=-1)

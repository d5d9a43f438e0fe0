"""The restyler's moving average (`restyle.ema_kimg`, StarGAN v2's `nets_ema`): off, nothing
of it exists and a run is what it was; on, it is what the run shows and saves, it trails the
trained weights, and it is kept in the checkpoint, so a run killed with SIGKILL and resumed
ends in the uninterrupted run's bytes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ganops.config import RestyleConfig
from ganops.restyle.artifact import load_restyler
from ganops.restyle.loop import build_restyler, restyle_step, restyler_spec
from tests.helpers import private_copy, run_stages_in
from tests.restyle.test_restyle_stages import TINY_RESTYLE, digest
from tests.resume import CHECKPOINT, MODEL, killed_then_resumed

EMA_RESTYLE = TINY_RESTYLE | {"restyle": TINY_RESTYLE["restyle"] | {"ema_kimg": 0.1}}
CPU = torch.device("cpu")


def _flat(module: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in module.parameters()])


def _batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    rng = torch.Generator().manual_seed(3)
    images = torch.rand(6, 1, 28, 28, generator=rng) * 2 - 1
    return images, torch.arange(6) % 3, images.roll(1, 0), torch.randn(2, 6, 4, generator=rng)


def test_off_there_is_no_average() -> None:
    cfg = RestyleConfig(width=8, style_dim=4, blocks=1)
    state = build_restyler(cfg, restyler_spec(cfg, 1, 28, 3), CPU)
    assert state.ema is None and state.published is state.restyler
    assert "ema" not in state.state_dict()


def test_the_average_trails_the_trained_weights_and_is_restored_with_the_state() -> None:
    cfg = RestyleConfig(width=8, style_dim=4, blocks=1, batch_size=6, ema_kimg=0.05)
    spec = restyler_spec(cfg, 1, 28, 3)
    state = build_restyler(cfg, spec, CPU)
    start = _flat(state.restyler)
    for _ in range(4):
        restyle_step(state, cfg, _batch(), diversity=0.0)
        assert state.ema is not None
        state.ema.update(state.restyler, state.step)
        state.step += 1
    live, average = _flat(state.restyler), _flat(state.published)
    assert state.published is not state.restyler
    assert not torch.equal(average, live) and not torch.equal(average, start)
    assert state.ema.half_life_images == 50 and state.ema.batch_size == 6
    fresh = build_restyler(cfg, spec, CPU)
    fresh.load_state_dict(state.state_dict())
    assert torch.equal(_flat(fresh.published), average) and fresh.step == 4


@pytest.fixture(scope="module")
def ema_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny restyle run through train with the moving average on."""
    base = tmp_path_factory.mktemp("ema")
    run_stages_in(base, ("fetch", "preprocess", "train_evaluator", "train"), EMA_RESTYLE)
    return base


@pytest.mark.slow
def test_the_saved_restyler_is_the_average_and_a_sigkilled_run_resumes_to_its_bytes(
    ema_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    payload = torch.load(ema_run / CHECKPOINT, map_location="cpu", weights_only=True)
    saved = load_restyler(ema_run / MODEL).state_dict()
    averaged, trained = payload["state"]["ema"], payload["state"]["restyler"]
    assert all(torch.equal(saved[name], averaged[name]) for name in saved)
    assert any(not torch.equal(saved[name], trained[name]) for name in saved)

    private_copy(ema_run, tmp_path, monkeypatch)
    killed_at, _ = killed_then_resumed()
    assert 0 < killed_at < 40
    assert digest(MODEL) == digest(ema_run / MODEL)

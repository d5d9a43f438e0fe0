"""GcGAN's geometry-consistency term (`translate.geometry`): a translator commutes with a
quarter turn."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ganops.config import Params, TranslateConfig, params_hash
from ganops.translation.contrastive import cut_step
from ganops.translation.loop import build_translator, translator_spec, unpaired_step
from ganops.translation.terms import geometry_loss, quarter_turn


class Shift(nn.Module):
    """Moves an image one pixel to the right: commutes with no turn."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.roll(images, 1, dims=3)


class Negate(nn.Module):
    """Acts on each pixel alone: commutes with every turn."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return -images


def test_a_quarter_turn_is_anticlockwise_and_four_are_none() -> None:
    image = torch.arange(4.0).view(1, 1, 2, 2)  # [[0, 1], [2, 3]]
    assert quarter_turn(image).flatten().tolist() == [1.0, 3.0, 0.0, 2.0]
    x = torch.rand(2, 3, 5, 5)
    assert torch.equal(quarter_turn(quarter_turn(quarter_turn(quarter_turn(x)))), x)


def test_the_term_is_zero_for_a_map_that_commutes_and_counts_one_that_does_not() -> None:
    x = torch.rand(3, 1, 6, 6, generator=torch.Generator().manual_seed(0))
    assert float(geometry_loss(Negate(), x, Negate()(x))) == 0.0
    shifted = Shift()(x)
    expected = F.l1_loss(Shift()(quarter_turn(x)), quarter_turn(shifted))
    assert float(geometry_loss(Shift(), x, shifted)) == pytest.approx(float(expected))
    assert float(expected) > 0.1


def _cfg(method: str, geometry: float) -> TranslateConfig:
    return TranslateConfig(
        source="mnist-5k", width=4, blocks=1, pool_size=2, nce_patches=8, method=method,
        geometry=geometry,
    )  # fmt: skip


@pytest.mark.parametrize(("method", "step"), [("cyclegan", unpaired_step), ("cut", cut_step)])
def test_one_step_with_the_term_moves_the_generator(method: str, step: object) -> None:
    def weights(geometry: float) -> tuple[dict[str, torch.Tensor], float]:
        torch.manual_seed(0)
        cfg = _cfg(method, geometry)
        spec = translator_spec(cfg, paired=False, channels=1, size=16)
        state = build_translator(cfg, spec, paired=False, device=torch.device("cpu"))
        rng = torch.Generator().manual_seed(1)
        a = torch.rand(4, 1, 16, 16, generator=rng) * 2 - 1
        b = torch.rand(4, 1, 16, 16, generator=rng) * 2 - 1
        losses = step(state, cfg, a, b)  # type: ignore[operator]
        generator = state.generators["ab"].state_dict()
        return {k: v.clone() for k, v in generator.items()}, losses["loss_geometry"]

    without, off = weights(0.0)
    again, _ = weights(0.0)
    with_term, value = weights(10.0)
    assert off == 0.0 and value > 0
    assert all(torch.equal(without[k], again[k]) for k in without)  # the step is repeatable
    assert any(not torch.equal(without[k], with_term[k]) for k in without)


def test_the_term_on_is_another_hash() -> None:
    """Off, it is left out of the hash (tests/translation/test_cut.py checks the hashes of runs
    recorded before it came); on, a run is another run."""
    off = {"source": "mnist-5k"}
    on = off | {"geometry": 2.0}
    hashes = [
        params_hash(Params.model_validate({"task": "translate", "translate": t})) for t in (off, on)
    ]
    assert hashes[0] != hashes[1]

"""The geometry term: moments of drawn shapes whose shear, size and ink are known, the loss's
zero and its gradient, and a restyler step that trains on it only when its weight is set."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ganops.config import RestyleConfig
from ganops.metrics import morpho
from ganops.restyle.geometry import SHAPE_NUMBERS, geometry_loss, shape_moments
from ganops.restyle.loop import build_restyler, restyle_step, restyler_spec

SIZE = 56


def _bar(shear: float, half_width: float = 3.0, half_height: float = 20.0) -> np.ndarray:
    """A white bar on black, `SIZE` px: centred, its columns at x = c + shear * (y - c)."""
    rows, cols = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64)
    centre = (SIZE - 1) / 2
    inside = np.abs(cols - centre - shear * (rows - centre)) <= half_width
    inside &= np.abs(rows - centre) <= half_height
    return np.where(inside, 255, 0).astype(np.uint8)


def _tensor(images: list[np.ndarray]) -> torch.Tensor:
    return torch.tensor(np.stack(images), dtype=torch.float32)[:, None] / 127.5 - 1


@pytest.mark.parametrize("shear", [-0.4, 0.0, 0.25])
def test_the_shear_of_a_sheared_bar_is_its_shear_and_morpho_reads_its_slant(shear: float) -> None:
    numbers = dict(zip(SHAPE_NUMBERS, shape_moments(_tensor([_bar(shear)]))[0].tolist(),
                       strict=True))  # fmt: skip
    assert numbers["shear"] == pytest.approx(shear, abs=0.02)
    # the same sign convention as Morpho-MNIST: slant = atan(-shear), top leaning right > 0
    slant = morpho.measure_batch(_bar(shear)[None])["slant_deg"][0]
    assert slant == pytest.approx(np.degrees(np.arctan(-shear)), abs=1.5)


def test_height_width_and_ink_follow_the_drawn_bar() -> None:
    tall, wide, short = shape_moments(
        _tensor([_bar(0.0), _bar(0.0, half_width=8.0), _bar(0.0, half_height=10.0)])
    ).unbind(0)
    # a uniform bar of half-height h has a spread of h / sqrt(3) (px; the image spans 2 units)
    assert tall[1].item() == pytest.approx(20.5 / np.sqrt(3) * 2 / (SIZE - 1), rel=0.03)
    assert short[1] < 0.6 * tall[1] and wide[2] > 2 * tall[2]
    # a sheared bar is no wider across its slant than an upright one
    sheared = shape_moments(_tensor([_bar(0.4)]))[0]
    assert sheared[2].item() == pytest.approx(tall[2].item(), rel=0.1)
    assert tall[3].item() == pytest.approx((_bar(0.0) > 0).mean(), rel=1e-5)
    assert wide[3] > 2 * tall[3]


def test_a_blank_image_gives_finite_numbers() -> None:
    blank = torch.full((2, 3, 16, 16), -1.0)
    assert torch.isfinite(shape_moments(blank)).all()


def test_the_loss_is_zero_on_the_styles_themselves_and_pulls_outputs_toward_them() -> None:
    styles = _tensor([_bar(s, half_width=w) for s, w in ((-0.3, 2), (0.0, 5), (0.3, 3), (0.1, 7))])
    assert geometry_loss(styles, styles).item() == pytest.approx(0.0, abs=1e-6)
    outputs = _tensor([_bar(0.0)] * 4).requires_grad_(True)
    loss = geometry_loss(outputs, styles)
    assert loss.item() > 0.5  # an upright bar for every style: each number off by its spread
    (grad,) = torch.autograd.grad(loss, outputs)
    assert grad.abs().sum() > 0
    stepped = (outputs - 0.5 * grad / grad.abs().max()).detach()
    assert geometry_loss(stepped, styles) < loss


def test_the_restyler_trains_on_the_term_only_when_its_weight_is_set() -> None:
    """Weight 0: the term is measured and logged, the step's weights are those of a step
    without it (the default's bytes); weight 1: the weights differ."""
    rng = torch.Generator().manual_seed(3)
    images = torch.rand(6, 1, 28, 28, generator=rng) * 2 - 1
    batch = (images, torch.arange(6) % 3, images.roll(1, 0), torch.randn(2, 6, 4, generator=rng))
    weights = {}
    for weight in (0.0, 1.0):
        cfg = RestyleConfig(width=8, style_dim=4, blocks=1, geometry=weight)
        state = build_restyler(cfg, restyler_spec(cfg, 1, 28, 3), torch.device("cpu"))
        losses = restyle_step(state, cfg, batch, diversity=0.0)
        assert losses["loss_geometry"] > 0
        weights[weight] = torch.cat([p.detach().flatten() for p in state.restyler.parameters()])
    unchanged = RestyleConfig(width=8, style_dim=4, blocks=1)
    state = build_restyler(unchanged, restyler_spec(unchanged, 1, 28, 3), torch.device("cpu"))
    restyle_step(state, unchanged, batch, diversity=0.0)
    plain = torch.cat([p.detach().flatten() for p in state.restyler.parameters()])
    assert torch.equal(weights[0.0], plain)
    assert not torch.equal(weights[1.0], plain)

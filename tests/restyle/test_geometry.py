"""The geometry term: moments of drawn shapes whose shear, size and ink are known, the loss's
zero and its gradient, and a restyler step that trains on it only when its weight is set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ganops.config import RestyleConfig
from ganops.metrics import morpho
from ganops.restyle.artifact import load_restyler, save_restyler
from ganops.restyle.geometry import SHAPE_NUMBERS, geometry_loss, shape_moments
from ganops.restyle.loop import build_restyler, restyle_step, restyler_spec
from ganops.restyle.networks import RestylerSpec, build_networks, restyle_images

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
    """Every number of the output differs from every style's: the loss is an L1 distance, and
    where a difference is 0 up to rounding (bars of one height) the sign of that rounding,
    which differs between CPUs, would steer the gradient by 1 / spread."""
    shapes = ((-0.3, 2, 20), (0.0, 5, 16), (0.3, 3, 12), (0.1, 7, 18))  # shear, half w, half h
    styles = _tensor([_bar(s, half_width=w, half_height=h) for s, w, h in shapes])
    assert geometry_loss(styles, styles).item() == pytest.approx(0.0, abs=1e-6)
    outputs = _tensor([_bar(0.15, half_width=4.0, half_height=14.0)] * 4).requires_grad_(True)
    loss = geometry_loss(outputs, styles)
    assert loss.item() > 0.5  # one bar for every style: each number off by about its spread
    (grad,) = torch.autograd.grad(loss, outputs)
    assert grad.abs().sum() > 0
    for step in (0.5, 0.05):  # a long step and a short one down the gradient
        stepped = (outputs - step * grad / grad.abs().max()).detach()
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


WARPED = RestyleConfig(width=8, style_dim=8, blocks=1, warp=True, geometry=1.0)


def test_a_fresh_warp_is_the_identity_and_the_style_vector_ends_in_the_measured_moments() -> None:
    restyler, _ = build_networks(restyler_spec(WARPED, 1, SIZE, 3), seed=0)
    drawings = _tensor([_bar(0.3), _bar(-0.2, half_width=6)])
    style = torch.randn(2, WARPED.style_dim)
    assert restyler.decoder.warp is not None
    assert torch.allclose(restyler.decoder.warp(drawings, style), drawings, atol=1e-5)
    encoder = restyler.style_encoder
    encoder.set_moment_scale(drawings)
    code = encoder(drawings)
    moments = shape_moments(drawings)
    expected = (moments - moments.mean(0)) / moments.std(0).clamp(min=1e-4)
    assert torch.allclose(code[:, -4:], expected, atol=1e-5)
    plain, _ = build_networks(restyler_spec(RestyleConfig(width=8, style_dim=8, blocks=1), 1,
                                            SIZE, 3), seed=0)  # fmt: skip
    assert plain.decoder.warp is None and "moment_mean" not in plain.state_dict()


def test_the_warp_shears_a_drawing_and_its_artifact_keeps_it(tmp_path: Path) -> None:
    restyler, _ = build_networks(restyler_spec(WARPED, 1, SIZE, 3), seed=0)
    warp = restyler.decoder.warp
    assert warp is not None
    with torch.no_grad():  # a warp that always shears by its largest amount
        warp.net[-1].bias.copy_(torch.tensor([10.0, 0.0, 0.0, 0.0, 0.0]))
    upright = _tensor([_bar(0.0)])
    sheared = warp(upright, torch.zeros(1, WARPED.style_dim))
    assert abs(shape_moments(sheared)[0, 0].item()) > 0.5  # an upright bar, now leaning
    restyler.style_encoder.set_moment_scale(_tensor([_bar(0.3), _bar(-0.3)]))
    save_restyler(tmp_path / "model.pt", restyler)
    loaded = load_restyler(tmp_path / "model.pt")
    assert loaded.spec.warp == 1
    contents, styles = _tensor([_bar(0.1), _bar(0.2)]), _tensor([_bar(-0.3), _bar(0.3)])
    assert torch.equal(restyle_images(restyler, contents, styles),
                       restyle_images(loaded, contents, styles))  # fmt: skip


def test_a_spec_written_before_the_warp_reads_as_none() -> None:
    spec = restyler_spec(RestyleConfig(), 1, 28, 10).to_dict()
    del spec["warp"]
    assert RestylerSpec.from_dict(spec).warp == 0


def test_the_warp_needs_room_in_the_style_vector_for_the_moments() -> None:
    with pytest.raises(ValueError, match=r"restyle\.style_dim must be above 4"):
        RestyleConfig(warp=True, style_dim=4)


def test_steps_with_the_warp_bring_the_outputs_shape_toward_the_styles() -> None:
    rng = torch.Generator().manual_seed(5)
    contents = _tensor([_bar(0.0, half_width=3 + i % 3) for i in range(6)])
    styles = _tensor([_bar(s) for s in (-0.4, -0.2, 0.0, 0.2, 0.4, 0.3)])
    batch = (contents, torch.arange(6) % 3, styles, torch.randn(2, 6, 8, generator=rng))
    cfg = WARPED.model_copy(update={"lr": 3e-3})
    state = build_restyler(cfg, restyler_spec(cfg, 1, SIZE, 3), torch.device("cpu"))
    state.restyler.style_encoder.set_moment_scale(torch.cat([contents, styles]))
    first = restyle_step(state, cfg, batch, diversity=0.0)["loss_geometry"]
    for _ in range(40):
        last = restyle_step(state, cfg, batch, diversity=0.0)["loss_geometry"]
    assert last < 0.7 * first

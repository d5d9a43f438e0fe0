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
from ganops.restyle.geometry import (
    SHAPE_NUMBERS,
    STROKE_NUMBERS,
    geometry_loss,
    shape_moments,
)
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
    assert torch.isfinite(shape_moments(blank, strokes=True)).all()


def test_strokes_read_a_bars_thickness_and_height_whatever_its_length() -> None:
    """A bar `stroke` columns wide and `length` rows long: its thickness is 2 x ink / outline,
    2 x area / perimeter of the rectangle (`stroke` px less a little for its two short ends),
    and its inked height `length` rows, as shares of the side; a bar of half the length has
    all but the same thickness, a thicker bar a larger one; shear and width are the moments' own."""
    bars = [(3, 20), (3, 10), (6, 20), (1.5, 20)]  # half width, half height
    drawn = [_bar(0.0, half_width=w, half_height=h) for w, h in bars]
    numbers = shape_moments(_tensor(drawn), strokes=True)
    read = [dict(zip(STROKE_NUMBERS, row.tolist(), strict=True)) for row in numbers]
    for image, one in zip(drawn, read, strict=True):
        stroke, length = (image > 0).any(axis=0).sum(), (image > 0).any(axis=1).sum()
        ends = stroke * length / (length + stroke)
        assert one["thickness"] * SIZE == pytest.approx(ends, rel=0.05)
        assert one["height"] * SIZE == pytest.approx(length, abs=1.0)
    moments = shape_moments(_tensor(drawn))
    # half the length: half the ink, the thickness all but the same (its ends weigh more)
    assert (
        moments[1, 3] < 0.55 * moments[0, 3] and read[1]["thickness"] > 0.85 * read[0]["thickness"]
    )
    assert read[2]["thickness"] > 1.7 * read[0]["thickness"] > 2.4 * read[3]["thickness"]
    assert read[1]["height"] < 0.6 * read[0]["height"]
    assert torch.equal(numbers[:, [0, 2]], moments[:, [0, 2]])


def test_strokes_follow_morpho_mnists_thickness_and_height_on_real_digits(prepared: Path) -> None:
    """On the test split's digits the stroke numbers read Morpho-MNIST's thickness and height
    far more closely than the mean ink and √μ02 do (r 0.98 and 0.93 against 0.64 and 0.66 on
    500 of mnist-5k's), and the thickness not the digit's length."""
    images = np.load(prepared / "processed" / "test_images.npy")[:200]
    truth = morpho.measure_batch(images, progress=False)
    tensor = torch.from_numpy(images).float() / 127.5 - 1
    moments, strokes = shape_moments(tensor), shape_moments(tensor, strokes=True)
    ok = np.isfinite(truth["thickness"])

    def r(numbers: torch.Tensor, column: int, name: str) -> float:
        return float(np.corrcoef(numbers[ok, column].numpy(), truth[name][ok])[0, 1])

    assert r(strokes, 3, "thickness") > 0.95 and r(strokes, 1, "height") > 0.85
    assert r(strokes, 3, "thickness") > r(moments, 3, "thickness") + 0.1
    assert r(strokes, 1, "height") > r(moments, 1, "height") + 0.05
    assert abs(r(strokes, 3, "length")) < 0.3 < r(moments, 3, "length")


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


def test_the_slant_weight_weighs_the_shear_alone() -> None:
    """At 1 the term is the plain mean, to the bit; at s it is the mean of the four numbers'
    distances with the shear's counted s times, so its gradient asks more of the shear."""
    shapes = ((-0.3, 2, 20), (0.0, 5, 16), (0.3, 3, 12), (0.1, 7, 18))
    styles = _tensor([_bar(s, half_width=w, half_height=h) for s, w, h in shapes])
    outputs = _tensor([_bar(0.15, half_width=4.0, half_height=14.0)] * 4)
    for strokes in (False, True):
        plain = geometry_loss(outputs, styles, strokes)
        assert torch.equal(geometry_loss(outputs, styles, strokes, 1.0), plain)
        target = shape_moments(styles, strokes)
        spread = target.std(dim=0) + 1e-3
        each = ((shape_moments(outputs, strokes) - target).abs() / spread).mean(dim=0)
        assert plain.item() == pytest.approx(each.mean().item(), rel=1e-5)
        weighed = geometry_loss(outputs, styles, strokes, 3.0)
        assert weighed.item() == pytest.approx((3 * each[0] + each[1:].sum()).item() / 6, rel=1e-5)
        assert geometry_loss(outputs, styles, strokes, 0.0).item() == pytest.approx(
            each[1:].mean().item(), rel=1e-5
        )


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
    del spec["warp"], spec["strokes"]
    assert RestylerSpec.from_dict(spec).warp == 0
    assert RestylerSpec.from_dict(spec).strokes == 0


def test_with_strokes_the_warp_and_the_style_vector_read_the_stroke_numbers(
    tmp_path: Path,
) -> None:
    cfg = WARPED.model_copy(update={"geometry_numbers": "strokes"})
    spec = restyler_spec(cfg, 1, SIZE, 3)
    assert spec.strokes == 1 and restyler_spec(WARPED, 1, SIZE, 3).strokes == 0
    restyler, _ = build_networks(spec, seed=0)
    drawings = _tensor([_bar(0.3), _bar(-0.2, half_width=6), _bar(0.0, half_height=9)])
    encoder = restyler.style_encoder
    encoder.set_moment_scale(drawings)
    numbers = shape_moments(drawings, strokes=True)
    expected = (numbers - numbers.mean(0)) / numbers.std(0).clamp(min=1e-4)
    assert torch.allclose(encoder(drawings)[:, -4:], expected, atol=1e-5)
    warp = restyler.decoder.warp
    assert warp is not None and warp.strokes
    save_restyler(tmp_path / "model.pt", restyler)
    loaded = load_restyler(tmp_path / "model.pt")
    assert loaded.spec.strokes == 1
    styles = drawings.flip(0)
    assert torch.equal(restyle_images(restyler, drawings, styles),
                       restyle_images(loaded, drawings, styles))  # fmt: skip


def test_an_unknown_reading_is_refused() -> None:
    with pytest.raises(ValueError, match="geometry_numbers"):
        RestyleConfig(geometry_numbers="skeleton")  # type: ignore[arg-type]


def test_the_warp_needs_room_in_the_style_vector_for_the_moments() -> None:
    with pytest.raises(ValueError, match=r"restyle\.style_dim must be above 4"):
        RestyleConfig(warp=True, style_dim=4)


def _geometry_after_steps(
    cfg: RestyleConfig, contents: torch.Tensor, styles: torch.Tensor
) -> tuple[float, float]:
    """The geometry term at a warped restyler's first step and after 40 more."""
    rng = torch.Generator().manual_seed(5)
    batch = (contents, torch.arange(6) % 3, styles, torch.randn(2, 6, 8, generator=rng))
    state = build_restyler(cfg, restyler_spec(cfg, 1, SIZE, 3), torch.device("cpu"))
    state.restyler.style_encoder.set_moment_scale(torch.cat([contents, styles]))
    first = restyle_step(state, cfg, batch, diversity=0.0)["loss_geometry"]
    for _ in range(40):
        last = restyle_step(state, cfg, batch, diversity=0.0)["loss_geometry"]
    return first, last


def test_steps_with_the_warp_bring_the_outputs_shape_toward_the_styles() -> None:
    contents = _tensor([_bar(0.0, half_width=3 + i % 3) for i in range(6)])
    styles = _tensor([_bar(s) for s in (-0.4, -0.2, 0.0, 0.2, 0.4, 0.3)])
    first, last = _geometry_after_steps(WARPED.model_copy(update={"lr": 3e-3}), contents, styles)
    assert last < 0.7 * first


def test_steps_with_strokes_bring_the_outputs_thickness_toward_the_styles() -> None:
    """The term read with strokes, on bars whose styles differ in thickness and height only:
    steps with the warp lower it (the warp can scale a drawing, and so its strokes)."""
    contents = _tensor([_bar(0.0, half_width=3) for _ in range(6)])
    shapes = ((1, 12), (2, 20), (4, 16), (6, 10), (3, 18), (5, 14))
    styles = _tensor([_bar(0.0, half_width=w, half_height=h) for w, h in shapes])
    cfg = WARPED.model_copy(update={"lr": 3e-3, "geometry_numbers": "strokes"})
    first, last = _geometry_after_steps(cfg, contents, styles)
    assert last < 0.7 * first

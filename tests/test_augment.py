from __future__ import annotations

import pytest
import torch

from ganops.augment import diff_augment, parse_policy

ALL = "color,translation,cutout"


def images(channels: int, size: int = 8, batch: int = 4, seed: int = 0) -> torch.Tensor:
    """Positive pixels `(B, C, H, W)`, so a zero in the output can only come from padding."""
    return (
        torch.rand(batch, channels, size, size, generator=torch.Generator().manual_seed(seed)) + 1
    )


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def shifted(image: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """`image` `(C, H, W)` read at (y + dy, x + dx), zero where that falls outside."""
    _, height, width = image.shape
    out = torch.zeros_like(image)
    ys, xs = (
        slice(max(0, -dy), min(height, height - dy)),
        slice(max(0, -dx), min(width, width - dx)),
    )
    ys_in = slice(ys.start + dy, ys.stop + dy)
    xs_in = slice(xs.start + dx, xs.stop + dx)
    out[:, ys, xs] = image[:, ys_in, xs_in]
    return out


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("policy", ["color", "translation", "cutout", "affine", ALL])
def test_shape_and_dtype_are_kept(channels: int, policy: str) -> None:
    batch = images(channels).double()
    out = diff_augment(batch, policy, seeded(0))
    assert out.shape == batch.shape and out.dtype == torch.float64


@pytest.mark.parametrize("channels", [1, 3])
def test_gradients_flow_back_to_the_images(channels: int) -> None:
    batch = images(channels).requires_grad_(True)
    diff_augment(batch, ALL, seeded(0)).square().sum().backward()
    assert batch.grad is not None and batch.grad.abs().sum().item() > 0


def test_same_seed_same_augmentation_other_seed_another() -> None:
    batch = images(3)
    first = diff_augment(batch, ALL, seeded(7))
    assert torch.equal(first, diff_augment(batch, ALL, seeded(7)))
    assert not torch.equal(first, diff_augment(batch, ALL, seeded(8)))


def test_draws_advance_the_given_generator_only() -> None:
    noise = seeded(3)
    before = noise.get_state()
    global_before = torch.get_rng_state()
    diff_augment(images(3), ALL, noise)
    assert not torch.equal(noise.get_state(), before)
    assert torch.equal(torch.get_rng_state(), global_before)


@pytest.mark.parametrize("policy", ["", "  "])
def test_empty_policy_is_the_identity(policy: str) -> None:
    batch, noise = images(3), seeded(0)
    before = noise.get_state()
    assert diff_augment(batch, policy, noise) is batch
    assert torch.equal(noise.get_state(), before)


@pytest.mark.parametrize("channels", [1, 3])
def test_translation_shifts_content_by_whole_pixels(channels: int) -> None:
    batch = images(channels, size=16, batch=16)
    out = diff_augment(batch, "translation", seeded(0))
    limit = 2  # 16 / 8
    seen = set()
    for image, moved in zip(batch, out, strict=True):
        matches = [
            (dy, dx)
            for dy in range(-limit, limit + 1)
            for dx in range(-limit, limit + 1)
            if torch.equal(moved, shifted(image, dy, dx))
        ]
        assert len(matches) == 1
        seen.add(matches[0])
    assert len(seen) > 1  # each image draws its own shift


@pytest.mark.parametrize("channels", [1, 3])
def test_cutout_zeroes_a_half_size_square_clipped_at_the_border(channels: int) -> None:
    size, side = 16, 8
    batch = images(channels, size=size, batch=32)
    out = diff_augment(batch, "cutout", seeded(0))
    full_squares = 0
    for image, cut in zip(batch, out, strict=True):
        zero = cut == 0  # (C, H, W)
        assert torch.equal(zero, zero[:1].expand_as(zero))  # every channel cut alike
        assert torch.equal(cut[~zero], image[~zero])  # the rest untouched
        rows = zero[0].any(dim=1).nonzero().flatten().tolist()
        cols = zero[0].any(dim=0).nonzero().flatten().tolist()
        # one axis-aligned block of contiguous rows and columns
        assert rows == list(range(rows[0], rows[-1] + 1))
        assert cols == list(range(cols[0], cols[-1] + 1))
        assert int(zero[0].sum()) == len(rows) * len(cols)
        for kept in (rows, cols):
            touches_border = kept[0] == 0 or kept[-1] == size - 1
            assert len(kept) == side or (len(kept) < side and touches_border)
        full_squares += len(rows) == len(cols) == side
    assert full_squares > 0


def test_color_shifts_a_flat_grey_image_by_at_most_half() -> None:
    # saturation and contrast act about means, which a flat grey image already equals
    grey = torch.full((64, 3, 4, 4), 0.25)
    out = diff_augment(grey, "color", seeded(0))
    offset = out - grey
    assert torch.allclose(offset, offset[:, :1, :1, :1].expand_as(offset))
    assert offset.min().item() >= -0.5 and offset.max().item() <= 0.5
    assert offset.std().item() > 0.1


def test_color_on_one_channel_scales_contrast_within_range() -> None:
    batch = torch.zeros(64, 1, 2, 2)
    batch[:, :, 0] = 1.0  # top row 1, bottom row 0
    out = diff_augment(batch, "color", seeded(0))
    spread = out[:, 0, 0, 0] - out[:, 0, 1, 0]  # contrast factor times the original 1
    assert spread.min().item() >= 0.5 and spread.max().item() <= 1.5


def test_affine_keeps_the_background_and_moves_a_dot_at_most_as_far_as_its_bounds() -> None:
    background = torch.full((64, 1, 28, 28), -1.0)
    moved = diff_augment(background, "affine", seeded(0))
    assert torch.allclose(moved, background)  # the border repeats: no grey frame, unlike zeros
    dot = background.clone()
    dot[:, :, 14, 14] = 1.0  # one bright pixel at the centre
    out = diff_augment(dot, "affine", seeded(1))
    centre = torch.tensor([13.5, 13.5])
    for image in out[:, 0]:
        ys, xs = torch.nonzero(image > -0.9, as_tuple=True)
        where = torch.stack([ys.float().mean(), xs.float().mean()])
        # the centre pixel (14, 14): rotation and zoom move it by well under a pixel, the
        # shift by at most an eighth of the side (3.5 px) each way
        assert ((where - centre).abs() <= 3.5 + 1.5).all()
    assert len({tuple(torch.nonzero(i > -0.9)[0].tolist()) for i in out[:, 0]}) > 8


def test_parse_policy_accepts_known_names_in_order() -> None:
    assert parse_policy("") == ()
    assert parse_policy("cutout, color") == ("cutout", "color")
    assert parse_policy(ALL) == ("color", "translation", "cutout")


@pytest.mark.parametrize(
    ("text", "bad"),
    [("color,flip", "'flip'"), ("color,,cutout", "''"), ("cutout,cutout", "'cutout'")],
)
def test_parse_policy_names_the_bad_part(text: str, bad: str) -> None:
    with pytest.raises(ValueError, match=bad):
        parse_policy(text)

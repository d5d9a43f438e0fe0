"""Differentiable augmentation for data-efficient GAN training (DiffAugment, Zhao et al. 2020).

The same random transformation family is applied to every batch D sees, real and fake,
in both the D and the G update; since each transformation is differentiable in the
pixels, G's gradient passes through it. Policies, applied in the order listed:

- `color`: per image, brightness + U(-0.5, 0.5), saturation x U(0, 2) about the
  per-pixel channel mean, contrast x U(0.5, 1.5) about the image mean. Saturation is
  the identity on one-channel images (the channel mean is the pixel itself), so it is
  skipped there and draws no random numbers.
- `translation`: per image, an integer shift of up to 1/8 of the height and width in
  each direction; pixels moved in from outside are zero.
- `cutout`: per image, a rectangle of half the height by half the width (a square for
  square images), centred at a uniformly drawn pixel and clipped at the border, is set
  to zero.
- `affine`: per image, a rotation of up to 10 degrees either way, a zoom of up to 10% in or
  out and a shift of up to 1/8 of the side, resampled bilinearly; pixels moved in from
  outside repeat the border's (the background, for digits), not zero, so the images keep
  looking like the test images a classifier will see (the semi-supervised GAN's D).

All randomness comes from the `torch.Generator` passed in, so a run whose generator
state is checkpointed repeats the same augmentations on resume.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

TRANSLATION_RATIO = 0.125  # largest shift as a fraction of the image side
CUTOUT_RATIO = 0.5  # cutout side as a fraction of the image side
AFFINE_DEGREES, AFFINE_ZOOM = 10.0, 0.1  # largest rotation either way; largest zoom, a share


def _per_image(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One U(0, 1) draw per image `(B, 1, 1, 1)`, in the images' dtype and device."""
    shape = (images.shape[0], 1, 1, 1)
    return torch.rand(shape, generator=generator, device=images.device, dtype=images.dtype)


def _color(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random brightness, saturation (three-channel only) and contrast per image."""
    images = images + (_per_image(images, generator) - 0.5)
    if images.shape[1] > 1:
        mean = images.mean(dim=1, keepdim=True)  # (B, 1, H, W)
        images = (images - mean) * (_per_image(images, generator) * 2.0) + mean
    mean = images.mean(dim=(1, 2, 3), keepdim=True)  # (B, 1, 1, 1)
    return (images - mean) * (_per_image(images, generator) + 0.5) + mean


def _shifted_indices(
    size: int, max_shift: int, batch: int, generator: torch.Generator, device: torch.device
) -> torch.Tensor:
    """Source index `(B, size)` into a zero-padded axis of length `size + 2` for a random
    shift in [-max_shift, max_shift] per image; out-of-range reads land on the padding."""
    shift = torch.randint(-max_shift, max_shift + 1, (batch, 1), generator=generator, device=device)
    positions = torch.arange(size, device=device) + shift + 1  # +1: past the leading pad
    return positions.clamp(0, size + 1)


def _translation(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Shift each image by a random whole number of pixels, filling with zeros."""
    batch, channels, height, width = images.shape
    device = images.device
    max_dy = int(height * TRANSLATION_RATIO + 0.5)
    max_dx = int(width * TRANSLATION_RATIO + 0.5)
    rows = _shifted_indices(height, max_dy, batch, generator, device)  # (B, H)
    cols = _shifted_indices(width, max_dx, batch, generator, device)  # (B, W)
    padded = F.pad(images, (1, 1, 1, 1))  # (B, C, H + 2, W + 2)
    row_index = rows[:, None, :, None].expand(batch, channels, height, width + 2)
    images = padded.gather(2, row_index)  # (B, C, H, W + 2)
    col_index = cols[:, None, None, :].expand(batch, channels, height, width)
    return images.gather(3, col_index)  # (B, C, H, W)


def _cutout(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Zero a random half-height by half-width rectangle per image, clipped at the border."""
    batch, _, height, width = images.shape
    device = images.device
    cut_h, cut_w = int(height * CUTOUT_RATIO + 0.5), int(width * CUTOUT_RATIO + 0.5)
    # An even side has no centre pixel; allowing one more centre keeps the square's
    # position symmetric between the two borders.
    centre_y = torch.randint(
        0, height + (1 - cut_h % 2), (batch, 1), generator=generator, device=device
    )
    centre_x = torch.randint(
        0, width + (1 - cut_w % 2), (batch, 1), generator=generator, device=device
    )
    top, left = centre_y - cut_h // 2, centre_x - cut_w // 2  # (B, 1) each
    ys = torch.arange(height, device=device)
    xs = torch.arange(width, device=device)
    in_rows = (ys >= top) & (ys < top + cut_h)  # (B, H)
    in_cols = (xs >= left) & (xs < left + cut_w)  # (B, W)
    keep = ~(in_rows[:, :, None] & in_cols[:, None, :])  # (B, H, W)
    return images * keep[:, None].to(images.dtype)


def _affine(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Rotate, zoom and shift each image at random, bilinearly, repeating the border."""
    draws = (
        torch.rand(
            (images.shape[0], 4), generator=generator, device=images.device, dtype=images.dtype
        )
        * 2
        - 1
    )  # (B, 4) in [-1, 1]: angle, zoom, shift x, shift y
    angle = draws[:, 0] * math.radians(AFFINE_DEGREES)
    zoom = 1 + draws[:, 1] * AFFINE_ZOOM
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    shift = draws[:, 2:] * 2 * TRANSLATION_RATIO  # the grid spans [-1, 1]: a side is 2
    theta = torch.stack(
        [torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1
    )  # (B, 2, 3): output position -> input position
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, padding_mode="border", align_corners=False)


POLICIES: dict[str, Callable[[torch.Tensor, torch.Generator], torch.Tensor]] = {
    "color": _color,
    "translation": _translation,
    "cutout": _cutout,
    "affine": _affine,
}


def parse_policy(text: str) -> tuple[str, ...]:
    """Split a policy such as "color,translation,cutout" into its names, checking each.

    The empty string (or only whitespace) means no augmentation. Raises `ValueError`
    naming an unknown, empty or repeated part.
    """
    if not text.strip():
        return ()
    names = tuple(part.strip() for part in text.split(","))
    for position, name in enumerate(names):
        if name not in POLICIES:
            known = ", ".join(POLICIES)
            raise ValueError(f"unknown augmentation {name!r} in {text!r} (known: {known})")
        if name in names[:position]:
            raise ValueError(f"augmentation {name!r} is listed twice in {text!r}")
    return names


def diff_augment(images: torch.Tensor, policy: str, generator: torch.Generator) -> torch.Tensor:
    """Apply `policy` (see `parse_policy`) to `images` `(B, C, H, W)`, differentiably.

    Every image gets its own random parameters, drawn from `generator`, which must live on
    the images' device. Returns a new tensor of the same shape and dtype; an empty policy
    returns `images` itself.
    """
    for name in parse_policy(policy):
        images = POLICIES[name](images, generator)
    return images

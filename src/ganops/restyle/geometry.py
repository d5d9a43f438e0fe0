"""The geometry term of a restyler's objective: the output's shape, as image moments, tied to
the style image's.

The restyler's other terms never ask its style code to carry a hand's geometry: trained on
them it moves a digit's stroke thickness and keeps the content's slant, width and height
(docs/style.md). This term compares four differentiable numbers of the output drawn in a
style image's style with the same numbers of that style image, read from the brightness of
the image (the mean of its channels, from [-1, 1] to [0, 1]: on digits, the ink), in
coordinates from -1 to 1 across the image so that the numbers do not depend on its size:

- `shear`: μ11 / μ02 of the central second moments, the tangent of the slant Morpho-MNIST
  measures (Castro et al. 2019: slant = atan(-μ11 / μ02)), 0 for an upright digit;
- `height`: √μ02, the spread of the brightness top to bottom;
- `width`: √(μ20 - μ11² / μ02), its spread across the slant (the spread along x once the
  shear is undone: the variance of x - shear · y);
- `ink`: the mean brightness, which grows with the stroke's thickness and length.

These are moments, not Morpho-MNIST's measurements (which binarise, skeletonise and take
quantiles, none of it differentiable), so the term is a stand-in for what `evaluate`
scores, and a shape of another kind of image (a photograph's brightness) is what it reads
there too.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

SHAPE_NUMBERS = ("shear", "height", "width", "ink")
_EPS = 1e-6


def shape_moments(images: torch.Tensor) -> torch.Tensor:
    """`(B, 4)`: each image's shear, height, width and ink (`SHAPE_NUMBERS`), differentiable;
    `images` `(B, C, H, W)` in [-1, 1]. An image with no brightness gives finite numbers."""
    ink = ((images.float().mean(dim=1) + 1.0) / 2.0).clamp(min=0.0)  # (B, H, W)
    height, width = ink.shape[-2:]
    rows = torch.linspace(-1.0, 1.0, height, device=ink.device)
    cols = torch.linspace(-1.0, 1.0, width, device=ink.device)
    mass = ink.sum(dim=(1, 2)) + _EPS  # (B,)
    row_mass, col_mass = ink.sum(dim=2), ink.sum(dim=1)  # (B, H), (B, W)
    y_mean = (row_mass * rows).sum(dim=1) / mass
    x_mean = (col_mass * cols).sum(dim=1) / mass
    dy = rows[None, :] - y_mean[:, None]  # (B, H)
    dx = cols[None, :] - x_mean[:, None]  # (B, W)
    mu02 = (row_mass * dy**2).sum(dim=1) / mass
    mu20 = (col_mass * dx**2).sum(dim=1) / mass
    mu11 = torch.einsum("bh,bhw,bw->b", dy, ink, dx) / mass
    shear = mu11 / (mu02 + _EPS)
    across = (mu20 - mu11**2 / (mu02 + _EPS)).clamp(min=0.0)
    numbers = (shear, (mu02 + _EPS).sqrt(), (across + _EPS).sqrt(), mass / (height * width))
    return torch.stack(numbers, dim=1)


def geometry_loss(outputs: torch.Tensor, styles: torch.Tensor) -> torch.Tensor:
    """Mean |moments of each output - moments of its style image| (`shape_moments`), each
    number in units of its spread over the style batch (so that a digit's shear, some 0.2,
    counts no more than its height, some 0.03), the style images' moments held fixed.
    Outputs drawn at random, unrelated to their styles, score about 2/√π ≈ 1.13."""
    target = shape_moments(styles).detach()
    spread = target.std(dim=0, keepdim=True) + 1e-3
    return F.l1_loss(shape_moments(outputs) / spread, target / spread)

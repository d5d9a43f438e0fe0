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

Two of the four are poor stand-ins on digits, because they read the digit as much as the
hand: on three sets of 500 mnist-5k digits (the train split's first, the test split's first
and second) √μ02 follows Morpho-MNIST's height with r 0.64-0.83, and the ink its thickness
with 0.64-0.76 (and its length with 0.43-0.70: an 8 has more ink than a 1 of the same
stroke). `strokes=True` reads those two another way, differentiable still
(`STROKE_NUMBERS`; r 0.93-0.95 and 0.97-0.98 on the same digits, the thickness -0.08-0.13
with the length):

- `height`: the rows that hold ink, counted softly (a row of ink mass m counts 1 - exp(-m/τ),
  τ a hundredth of the image's width), as a share of the image's height;
- `thickness`: twice the ink over its outline's length, the total variation Σ|∇ink| (a
  stroke of width w and length L has ink wL and an outline 2L), as a share of the height.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

SHAPE_NUMBERS = ("shear", "height", "width", "ink")
STROKE_NUMBERS = ("shear", "height", "width", "thickness")  # `strokes=True`
_EPS = 1e-6


def shape_moments(images: torch.Tensor, strokes: bool = False) -> torch.Tensor:
    """`(B, 4)`: each image's shear, height, width and ink (`SHAPE_NUMBERS`), or with
    `strokes` its shear, inked height, width and stroke thickness (`STROKE_NUMBERS`),
    differentiable; `images` `(B, C, H, W)` in [-1, 1]. An image with no brightness gives
    finite numbers."""
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
    if strokes:
        numbers = (shear, inked_height(row_mass, width), numbers[2], thickness(ink, mass))
    return torch.stack(numbers, dim=1)


def inked_height(row_mass: torch.Tensor, width: int) -> torch.Tensor:
    """`(B,)`: the share of rows that hold ink, each row of mass m counted 1 - exp(-m/τ)
    (τ = width / 100: a stroke crossing a row puts some τ of ink on it at 28 px)."""
    return (1.0 - torch.exp(-row_mass / (width / 100.0))).mean(dim=1)


def thickness(ink: torch.Tensor, mass: torch.Tensor) -> torch.Tensor:
    """`(B,)`: 2 x ink / the length of its outline (Σ|∇ink|, central differences, the image
    padded with no ink), as a share of the image's height."""
    padded = F.pad(ink, (1, 1, 1, 1))
    dx = (padded[:, 1:-1, 2:] - padded[:, 1:-1, :-2]) / 2.0
    dy = (padded[:, 2:, 1:-1] - padded[:, :-2, 1:-1]) / 2.0
    outline = (dx**2 + dy**2 + _EPS).sqrt().sum(dim=(1, 2))
    return 2.0 * mass / outline / ink.shape[-2]


def geometry_loss(
    outputs: torch.Tensor, styles: torch.Tensor, strokes: bool = False, slant: float = 1.0
) -> torch.Tensor:
    """Mean |moments of each output - moments of its style image| (`shape_moments`, read with
    `strokes`), each number in units of its spread over the style batch (so that a digit's
    shear, some 0.2, counts no more than its height, some 0.03), the style images' moments
    held fixed; the shear weighed `slant` beside the other numbers' 1 (a weighted mean; at 1
    the plain mean, computed as before). Outputs drawn at random, unrelated to their styles,
    score about 2/√π ≈ 1.13."""
    target = shape_moments(styles, strokes).detach()
    spread = target.std(dim=0, keepdim=True) + 1e-3
    if slant == 1.0:
        return F.l1_loss(shape_moments(outputs, strokes) / spread, target / spread)
    per_number = (shape_moments(outputs, strokes) / spread - target / spread).abs().mean(dim=0)
    weights = torch.ones_like(per_number)
    weights[0] = slant
    return (weights * per_number).sum() / weights.sum()

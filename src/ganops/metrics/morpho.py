"""A digit's shape in six numbers, and the hand-made perturbations that change them.

The measurements are those of Morpho-MNIST: D. C. Castro, J. Tan, B. Kainz, E. Konukoglu and
B. Glocker, "Morpho-MNIST: Quantitative Assessment and Diagnostics for Representation
Learning", JMLR 20(178), 2019 (code: github.com/dccastro/Morpho-MNIST, MIT licence). This is
an implementation from the paper's definitions, written for this package; on MNIST's first
training digit it gives the values that project published for it to within a few per cent
(tests/metrics/test_morpho.py).

How an image is measured:

1. its values are brought to [0, 1] (uint8 by 255, a float image from its `value_range`);
2. it is upscaled `SCALE` = 4 times (scikit-image's `pyramid_expand`: cubic, then a Gaussian
   of sigma 4/3 upscaled pixels) so that the measurements have sub-pixel resolution;
3. it is binarised half-way between its darkest and brightest upscaled value;
4. the binary digit's medial axis (scikit-image's `medial_axis`) is its skeleton, with the
   distance of every skeleton pixel to the background; outside the frame is background, so
   a stroke along the edge is measured to the edge (Morpho-MNIST's code counts the outside as
   stroke there; no MNIST digit touches the edge, so their values are unchanged).

Then, all in pixels of the ORIGINAL image (an upscaled pixel is 1/4 of one):

- `area`: the binarised digit's area (px²);
- `length`: the skeleton's length, neighbouring skeleton pixels joined by steps of 1 (side
  by side) or √2 (diagonal) (px);
- `thickness`: twice the mean distance to the background along the skeleton: a stroke's
  width (px);
- `slant_deg`: the shear angle of the upscaled grey image, atan(-μ11 / μ02) from its central
  second moments, in DEGREES. Positive: the digit's top leans to the right, like italic
  text; negative: to the left; 0: upright;
- `width`, `height`: of the digit's bounding parallelogram: its sides are sheared by the
  slant, and each side lies where 1% of the grey mass is left outside it (the 1% and 99%
  quantiles of the mass across the slant, and top to bottom) (px).

An image with nothing drawn on it (every pixel the same value) has no shape: every
measurement is NaN, so one blank image in a generated batch does not stop the batch.
Malformed input (wrong shape, values outside the stated range, NaN pixels) is a `DataError`.

The perturbations (`thicken`, `thin`, `thickness_to`, `shear_to`, `scale_to`) are
Morpho-MNIST's, done the same way: at the upscaled resolution (a grey-level dilation or
erosion by a disk; a shear or a scaling about the centroid), then back to the original size
by the mean of each 4x4 block. They return an image of the input's shape, dtype and range.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy import ndimage
from skimage import morphology, transform
from tqdm import tqdm

from ganops.errors import DataError
from ganops.metrics import shared_work
from ganops.metrics.skeleton import medial_axis, skeleton_length

SCALE = 4  # upscaling factor before binarising: measurements to 1/4 of a pixel
THRESHOLD = 0.5  # binarise half-way between the darkest and the brightest upscaled value
BOUND_MASS = 0.01  # mass left outside each side of the bounding parallelogram
FIELDS = ("area", "length", "thickness", "slant_deg", "width", "height")
PROGRESS_FROM = 1000  # a batch this large shows a progress bar (on a terminal)
_BLANK_CONTRAST = 1e-6  # an image whose values all lie this close ([0, 1] units) is blank


@dataclasses.dataclass(frozen=True)
class Morphometrics:
    """The six shape measurements of one image, in pixels of the original image (area in
    px², slant in degrees, positive leaning right); all NaN for a blank image."""

    area: float
    length: float
    thickness: float
    slant_deg: float
    width: float
    height: float

    @property
    def blank(self) -> bool:
        """Whether the image had nothing drawn on it (every value NaN)."""
        return math.isnan(self.area)


_BLANK = Morphometrics(*(math.nan for _ in FIELDS))


# --- input -----------------------------------------------------------------------------------


def _unit_image(image: np.ndarray, value_range: tuple[float, float] | None) -> np.ndarray:
    """`(H, W)` float64 in [0, 1] from a uint8 image, or a float one in `value_range`
    (default (0, 1)); a one-line DataError for anything else."""
    image = np.asarray(image)
    if image.ndim != 2 or min(image.shape) < 2:
        raise DataError(f"morphometrics: expected one (H, W) image, got shape {image.shape}")
    if image.dtype == np.uint8:
        low, high = value_range if value_range is not None else (0.0, 255.0)
    elif np.issubdtype(image.dtype, np.floating):
        low, high = value_range if value_range is not None else (0.0, 1.0)
    else:
        raise DataError(f"morphometrics: expected uint8 or float pixels, got {image.dtype}")
    if not high > low:
        raise DataError(f"morphometrics: value_range {value_range} is empty")
    values = image.astype(np.float64)
    if not np.isfinite(values).all():
        raise DataError("morphometrics: the image has NaN or infinite pixels")
    slack = 1e-3 * (high - low)
    if values.min() < low - slack or values.max() > high + slack:
        raise DataError(
            f"morphometrics: pixel values {values.min():.4g}..{values.max():.4g} lie outside "
            f"the stated range {low:g}..{high:g} (pass value_range=(low, high))"
        )
    return np.clip((values - low) / (high - low), 0.0, 1.0)


def _from_unit(
    unit: np.ndarray, like: np.ndarray, value_range: tuple[float, float] | None
) -> np.ndarray:
    """`unit` `(H, W)` in [0, 1] back to the dtype and range of the input `like`."""
    if like.dtype == np.uint8:
        low, high = value_range if value_range is not None else (0.0, 255.0)
        scaled: np.ndarray = np.rint(low + np.clip(unit, 0.0, 1.0) * (high - low))
        return scaled.astype(np.uint8)
    low, high = value_range if value_range is not None else (0.0, 1.0)
    shifted: np.ndarray = low + np.clip(unit, 0.0, 1.0) * (high - low)
    return shifted.astype(like.dtype)


def upscale(unit: np.ndarray) -> np.ndarray:
    """`(H, W)` in [0, 1] → `(SCALE*H, SCALE*W)` in [0, 1]: cubic, smoothed (pyramid_expand)."""
    big = transform.pyramid_expand(  # type: ignore[no-untyped-call]
        unit, upscale=SCALE, order=3, preserve_range=True
    )
    return np.clip(big, 0.0, 1.0)  # type: ignore[no-any-return]


def downscale(big: np.ndarray) -> np.ndarray:
    """`(SCALE*H, SCALE*W)` → `(H, W)`: the mean of each SCALExSCALE block."""
    height, width = big.shape[0] // SCALE, big.shape[1] // SCALE
    return big.reshape(height, SCALE, width, SCALE).mean(axis=(1, 3))  # type: ignore[no-any-return]


def _binarise(big: np.ndarray) -> np.ndarray | None:
    """The foreground of an upscaled image, half-way between its extremes; None if blank."""
    low, high = float(big.min()), float(big.max())
    if high - low < _BLANK_CONTRAST:
        return None
    return big >= low + THRESHOLD * (high - low)  # type: ignore[no-any-return]


# --- moments and the bounding parallelogram ---------------------------------------------------


def _moments(big: np.ndarray) -> tuple[float, float, float]:
    """Centroid (x, y) and the shear μ11/μ02 of a grey image (x: column, y: row, down)."""
    rows = np.arange(big.shape[0], dtype=np.float64)
    cols = np.arange(big.shape[1], dtype=np.float64)
    mass = big.sum()
    row_mass, col_mass = big.sum(axis=1), big.sum(axis=0)  # (H,), (W,)
    y_mean = float(rows @ row_mass / mass)
    x_mean = float(cols @ col_mass / mass)
    mu02 = float(((rows - y_mean) ** 2) @ row_mass / mass)
    mu11 = float((rows - y_mean) @ big @ (cols - x_mean) / mass)
    return x_mean, y_mean, mu11 / mu02 if mu02 > 0 else 0.0


def _mass_quantiles(starts: np.ndarray, weights: np.ndarray, fractions: np.ndarray) -> np.ndarray:
    """Quantiles of a mass made of unit-wide uniform pieces: piece i spreads `weights[i]`
    evenly over [starts[i], starts[i] + 1] (a pixel's extent). Exact: the cumulative mass is
    piecewise linear between the pieces' edges."""
    edges = np.concatenate([starts, starts + 1.0])
    slopes = np.concatenate([weights, -weights])  # density steps up at a start, down at an end
    order = np.argsort(edges, kind="stable")
    edges, slopes = edges[order], slopes[order]
    density = np.cumsum(slopes)[:-1]  # density on each gap between consecutive edges
    cumulative = np.concatenate([[0.0], np.cumsum(density * np.diff(edges))])
    cumulative /= cumulative[-1]
    keep = np.concatenate([[True], np.diff(cumulative) > 0])  # np.interp needs a rising curve
    return np.interp(fractions, cumulative[keep], edges[keep])  # type: ignore[no-any-return]


def _parallelogram(
    big: np.ndarray, x_mean: float, y_mean: float, shear: float
) -> tuple[float, float, float, float]:
    """Left, right (across the slant, at the centroid's row), top and bottom of the bounding
    parallelogram of an upscaled grey image, in upscaled pixels."""
    rows, cols = np.nonzero(big)
    weights = big[rows, cols]
    across = cols - shear * (rows - y_mean)  # column each pixel has once the slant is undone
    fractions = np.array([BOUND_MASS, 1.0 - BOUND_MASS])
    left, right = _mass_quantiles(across.astype(np.float64), weights, fractions)
    top, bottom = _mass_quantiles(rows.astype(np.float64), weights, fractions)
    return float(left), float(right), float(top), float(bottom)


# --- measuring --------------------------------------------------------------------------------


def _measure_unit(unit: np.ndarray) -> Morphometrics:
    big = upscale(unit)  # (4H, 4W)
    foreground = _binarise(big)
    if foreground is None:
        return _BLANK
    # a background frame: a stroke that touches the edge is measured to its edge, not beyond
    skeleton, distance = medial_axis(np.pad(foreground, 1))
    skeleton, distance = skeleton[1:-1, 1:-1], distance[1:-1, 1:-1]
    x_mean, y_mean, shear = _moments(big)
    left, right, top, bottom = _parallelogram(big, x_mean, y_mean, shear)
    return Morphometrics(
        area=float(foreground.sum()) / SCALE**2,
        length=skeleton_length(skeleton) / SCALE,
        thickness=2.0 * float(distance[skeleton].mean()) / SCALE,
        slant_deg=math.degrees(math.atan(-shear)),
        width=(right - left) / SCALE,
        height=(bottom - top) / SCALE,
    )


def measure(image: np.ndarray, value_range: tuple[float, float] | None = None) -> Morphometrics:
    """The Morpho-MNIST measurements of one `(H, W)` image: uint8 (0..255, or `value_range`)
    or float (0..1, or `value_range`, e.g. (-1, 1) for a tanh output), bright digit on a dark
    background. All NaN for a blank image; a DataError for a malformed one."""
    return _measure_unit(_unit_image(image, value_range))


def _as_stack(images: np.ndarray) -> np.ndarray:
    """`(N, H, W)` from `(N, H, W)` or `(N, 1, H, W)`."""
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[1] == 1:
        images = images[:, 0]
    if images.ndim != 3:
        raise DataError(
            f"morphometrics: expected (N, H, W) or (N, 1, H, W) images, got shape {images.shape}"
        )
    return images


def measure_batch(
    images: np.ndarray,
    value_range: tuple[float, float] | None = None,
    progress: bool | None = None,
) -> dict[str, np.ndarray]:
    """`measure` for each of `(N, H, W)` or `(N, 1, H, W)` images: name (`FIELDS`) → float64
    `(N,)`, NaN for blank images; in parts among processes inside `shared_work.shared()`. A
    progress bar on a terminal when `progress`, or by default for `PROGRESS_FROM` images or
    more."""
    stack = _as_stack(images)
    show = len(stack) >= PROGRESS_FROM if progress is None else progress
    hidden = None if show else True
    bar = tqdm(total=len(stack), desc="morphometrics", unit="img", disable=hidden, leave=False)
    with bar:
        places = np.arange(len(stack))
        parts = shared_work.in_parts(_measured_rows, len(stack), [stack, places], [value_range])
        if parts is None:
            return _measured_rows(stack, places, value_range, bar)
        done = []
        for part in parts:
            done.append(part)
            bar.update(len(part["area"]))
    return {name: np.concatenate([part[name] for part in done]) for name in FIELDS}


def _measured_rows(
    stack: np.ndarray,
    places: np.ndarray,
    value_range: tuple[float, float] | None,
    bar: Any = None,
) -> dict[str, np.ndarray]:
    """`measure_batch` of `stack`, whose images are `places` of the caller's batch."""
    results = []
    for place, image in zip(places, stack, strict=True):
        try:
            results.append(measure(image, value_range))
        except DataError as error:
            raise DataError(f"image {place} of the batch: {error}") from None
        if bar is not None:
            bar.update()
    return {
        name: np.array([getattr(r, name) for r in results], dtype=np.float64) for name in FIELDS
    }


# --- perturbations ----------------------------------------------------------------------------


def _stroke_disk(thickness_change: float) -> np.ndarray:
    """A disk that changes a stroke's width by about `thickness_change` original pixels (its
    radius rounded to whole upscaled pixels: steps of 2/SCALE = 0.5 px)."""
    radius = round(SCALE * abs(thickness_change) / 2.0)
    return morphology.disk(radius)  # type: ignore[no-untyped-call,no-any-return]


def _perturbed(
    image: np.ndarray,
    value_range: tuple[float, float] | None,
    change: Callable[[np.ndarray], np.ndarray],
) -> np.ndarray:
    """Upscale, apply `change` to the upscaled grey image, downscale, and give back the
    input's dtype and range. A blank image comes back as it is; a digit the change leaves
    nothing of (no pixel up to the level the original was binarised at) comes back blank, not
    as a faint remnant that a relative threshold would measure as a digit."""
    image = np.asarray(image)
    unit = _unit_image(image, value_range)
    big = upscale(unit)
    if _binarise(big) is None:
        return image.copy()
    level = big.min() + THRESHOLD * (big.max() - big.min())
    changed = change(big)
    if changed.max() < level:
        return _from_unit(np.full_like(unit, unit.min()), image, value_range)
    return _from_unit(downscale(changed), image, value_range)


def _restroke(name: str, op: Any, image: np.ndarray, by: float, span: Any) -> np.ndarray:
    """`op` (grey dilation or erosion) by a disk of `by` original pixels, upscaled."""
    if by < 0:
        raise DataError(f"{name}: by must be >= 0 pixels, got {by}")
    return _perturbed(image, span, lambda big: op(big, _stroke_disk(by)))


def thicken(
    image: np.ndarray, by: float, value_range: tuple[float, float] | None = None
) -> np.ndarray:
    """The digit with its strokes about `by` original pixels wider (a grey dilation by a disk
    at the upscaled resolution)."""
    return _restroke("thicken", morphology.dilation, image, by, value_range)


def thin(
    image: np.ndarray, by: float, value_range: tuple[float, float] | None = None
) -> np.ndarray:
    """The digit with its strokes about `by` original pixels narrower (a grey erosion by a
    disk at the upscaled resolution). Thinned to nothing, it comes back blank."""
    return _restroke("thin", morphology.erosion, image, by, value_range)


def thickness_to(
    image: np.ndarray, thickness: float, value_range: tuple[float, float] | None = None
) -> np.ndarray:
    """The digit thickened or thinned so that its thickness is about `thickness` pixels."""
    if not thickness > 0:
        raise DataError(f"thickness_to: thickness must be > 0 pixels, got {thickness}")
    now = measure(image, value_range).thickness
    if math.isnan(now):
        return np.asarray(image).copy()
    if thickness >= now:
        return thicken(image, thickness - now, value_range)
    return thin(image, now - thickness, value_range)


def _affine_about_centroid(
    big: np.ndarray, forward: np.ndarray, x_mean: float, y_mean: float
) -> np.ndarray:
    """`big` moved by the linear map `forward` (acting on (x, y) offsets from the centroid),
    bilinear; what comes from outside the frame is background (0)."""
    inverse = np.linalg.inv(forward)  # output offset (x, y) → input offset (x, y)
    in_rows_cols = inverse[::-1, ::-1]  # the same map on (row, col) offsets
    centre = np.array([y_mean, x_mean])
    offset = centre - in_rows_cols @ centre
    moved: np.ndarray = ndimage.affine_transform(
        big, in_rows_cols, offset=offset, order=1, mode="constant", cval=0.0
    )
    return moved


def shear_upscaled(big: np.ndarray, slant_deg: float) -> np.ndarray:
    """`shear_to`'s step on an upscaled grey image: sheared about its centroid to `slant_deg`."""
    x_mean, y_mean, shear = _moments(big)
    target = -math.tan(math.radians(slant_deg))  # the shear μ11/μ02 of that slant
    # x' = x + (target - shear) y moves μ11/μ02 from shear to target, leaving μ02 alone
    forward = np.array([[1.0, target - shear], [0.0, 1.0]])
    return _affine_about_centroid(big, forward, x_mean, y_mean)


def shear_to(
    image: np.ndarray, slant_deg: float, value_range: tuple[float, float] | None = None
) -> np.ndarray:
    """The digit sheared horizontally about its centroid so that its slant is `slant_deg`
    degrees (positive: leaning right); rows keep their height."""
    if not -80.0 <= slant_deg <= 80.0:
        raise DataError(f"shear_to: slant_deg must lie in -80..80 degrees, got {slant_deg}")
    return _perturbed(image, value_range, lambda big: shear_upscaled(big, slant_deg))


def scale_upscaled(big: np.ndarray, width: float, height: float) -> np.ndarray:
    """`scale_to`'s step on an upscaled grey image (`width`, `height` in original pixels)."""
    x_mean, y_mean, shear = _moments(big)
    left, right, top, bottom = _parallelogram(big, x_mean, y_mean, shear)
    fx, fy = SCALE * width / (right - left), SCALE * height / (bottom - top)
    # across-slant offset u = x - shear y becomes fx u, y becomes fy y, the slant is kept:
    # x' = fx (x - shear y) + shear fy y
    forward = np.array([[fx, shear * (fy - fx)], [0.0, fy]])
    return _affine_about_centroid(big, forward, x_mean, y_mean)


def scale_to(
    image: np.ndarray, width: float, height: float, value_range: tuple[float, float] | None = None
) -> np.ndarray:
    """The digit stretched about its centroid, across its slant and vertically, so that its
    width and height are about `width` and `height` pixels; its slant is kept. Parts pushed
    out of the frame are lost, so a target near the frame's size comes out smaller."""
    if not (width > 0 and height > 0):
        raise DataError(f"scale_to: width and height must be > 0 pixels, got {width}, {height}")
    return _perturbed(image, value_range, lambda big: scale_upscaled(big, width, height))

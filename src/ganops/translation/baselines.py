"""The transforms a translator must beat, which need no training: pure functions on uint8
`(N, C, H, W)` arrays.

- `uci_acquisition`: what the UCI digits' acquisition does to an image (32x32 bitmaps counted
  in 4x4 blocks: an 8x8 image of 17 grey levels), resized back up as preprocessing resizes
  every source. It is both the paired super-resolution task's degradation (domain A made from
  B) and the MNIST -> UCI hand-made transform.
- `low_resolution`: the same, before the resize back up: the 8x8 input itself.
- `bicubic`: bicubic upsampling of that input (the super-resolution baseline).
- `mnist_geometry`: what MNIST's preparation does to a digit (size-normalised into a 20x20
  box, centred by its centre of mass in a 28x28 field): the UCI -> MNIST hand-made transform.
- `uci_geometry` + `uci_acquisition` (`uci_like`): what UCI's preparation does to a digit (its
  ink scaled to the frame's full height, aspect kept, centred across), then its acquisition:
  the MNIST -> UCI hand-made transform.
- `identity`: the input as it is.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ganops.data.processing import center_crop_resize

MNIST_LIKE = ("mnist-5k", "mnist")  # sources with MNIST's geometry
UCI = "uci-digits"
MNIST_FIELD_PX = 28  # the side MNIST's 20 px box is measured against
Transform = Callable[[np.ndarray], np.ndarray]


def _as_uint8(pixels: torch.Tensor) -> np.ndarray:
    return pixels.round().clamp(0, 255).to(torch.uint8).numpy()


def _pixels(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(images)).float()


def low_resolution(images: np.ndarray, levels: int = 17, low_px: int = 8) -> np.ndarray:
    """Block-averaged (area) down to `low_px` x `low_px`, then quantised to `levels` evenly
    spaced grey levels (v -> round(v / 255 * (levels - 1)) * 255 / (levels - 1)): uint8
    `(N, C, low_px, low_px)`. Sides that `low_px` does not divide average overlapping blocks."""
    small = F.adaptive_avg_pool2d(_pixels(images), low_px)  # (N, C, low_px, low_px)
    step = 255 / (levels - 1)
    return _as_uint8((small / step).round() * step)


def uci_acquisition(images: np.ndarray, levels: int = 17, low_px: int = 8) -> np.ndarray:
    """`low_resolution`, resized back up to the input's size with preprocessing's own resize
    (antialiased bilinear, `center_crop_resize`): uint8, the input's (square) shape."""
    _, _, height, width = images.shape
    if height != width:
        raise ValueError(f"uci_acquisition needs square images; got {height}x{width} px")
    return center_crop_resize(low_resolution(images, levels, low_px), height)


def bicubic(low: np.ndarray, size: int) -> np.ndarray:
    """Bicubic upsampling (align_corners=False) of uint8 `(N, C, h, w)` to `size` x `size`,
    clamped to uint8."""
    upsampled = F.interpolate(_pixels(low), size=(size, size), mode="bicubic", align_corners=False)
    return _as_uint8(upsampled)


def identity(images: np.ndarray) -> np.ndarray:
    """The images as they are (a copy)."""
    return images.copy()


def _spans(offset: int, side: int) -> tuple[slice, slice]:
    """Where a line of `side` px lands moved by `offset`, and where it comes from."""
    to = slice(max(offset, 0), side - max(-offset, 0))
    return to, slice(max(-offset, 0), side - max(offset, 0))


def _shift(image: torch.Tensor, down: int, right: int) -> torch.Tensor:
    """`(C, H, W)` moved by whole pixels; what leaves the field is lost, what enters is black."""
    _, height, width = image.shape
    out = torch.zeros_like(image)
    if abs(down) < height and abs(right) < width:
        (rows_to, rows_from), (cols_to, cols_from) = _spans(down, height), _spans(right, width)
        out[:, rows_to, cols_to] = image[:, rows_from, cols_from]
    return out


def mnist_geometry(images: np.ndarray, box_px: int = 20) -> np.ndarray:
    """MNIST's geometry for digits that fill their frame (UCI's): uint8, the input's shape.

    The whole frame (not the ink's bounding box: UCI digits fill it) is shrunk with
    preprocessing's resize into a box of `box_px` for a 28 px field (scaled with the input's
    side: round(box_px * H / 28)), pasted into a black field of the input's size, then shifted
    by whole pixels so its intensity centre of mass sits at the field's centre, as MNIST's
    preparation did. A blank image stays blank.
    """
    count, channels, height, width = images.shape
    box_h = min(height, max(1, round(box_px * height / MNIST_FIELD_PX)))
    box_w = min(width, max(1, round(box_px * width / MNIST_FIELD_PX)))
    small = F.interpolate(_pixels(images), size=(box_h, box_w), mode="bilinear", antialias=True)
    field = torch.zeros(count, channels, height, width)
    top, left = (height - box_h) // 2, (width - box_w) // 2
    field[:, :, top : top + box_h, left : left + box_w] = small.round().clamp(0, 255)
    mass = field.sum(1)  # (N, H, W): every channel's ink
    total = mass.sum((1, 2))  # (N,)
    rows = (mass.sum(2) * torch.arange(height)).sum(1) / total.clamp_min(1e-12)
    cols = (mass.sum(1) * torch.arange(width)).sum(1) / total.clamp_min(1e-12)
    out = torch.zeros_like(field)
    for index in range(count):
        if total[index] == 0:
            continue  # blank: nothing to centre
        down = round((height - 1) / 2 - float(rows[index]))
        right = round((width - 1) / 2 - float(cols[index]))
        out[index] = _shift(field[index], down, right)
    return _as_uint8(out)


def uci_geometry(images: np.ndarray) -> np.ndarray:
    """UCI's geometry for a digit anywhere in its field: uint8, the input's (square) shape.

    UCI's bitmaps were size-normalised: in all 1,797 digits the ink spans the frame's full
    height, and about three quarters of its width. Each image's ink bounding box (pixels
    above 0) is cut out, resized with preprocessing's resize (antialiased bilinear) to the
    frame's height with its aspect ratio (at most the frame's width) and centred across the
    field. A blank image stays blank.
    """
    out = np.zeros_like(images)
    _, _, side, _ = images.shape
    for index, image in enumerate(images):
        ink = image.max(0) > 0  # (H, W)
        if not ink.any():
            continue
        rows, cols = np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))
        crop = image[:, rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]  # (C, h, w)
        height, width = crop.shape[1:]
        new_width = min(side, max(1, round(width * side / height)))
        resized = F.interpolate(
            _pixels(crop[None]), size=(side, new_width), mode="bilinear", antialias=True
        )
        left = (side - new_width) // 2
        out[index, :, :, left : left + new_width] = _as_uint8(resized[0])
    return out


def uci_like(images: np.ndarray) -> np.ndarray:
    """UCI's preparation and acquisition (`uci_geometry`, then `uci_acquisition`)."""
    return uci_acquisition(uci_geometry(images))


def handmade_for(source_a: str, source_b: str) -> Transform | None:
    """The transform a domain expert would write for translating source A's images into source
    B's, or None where there is none: an MNIST-like A (`MNIST_LIKE`) to UCI digits imitates
    UCI's preparation and acquisition (`uci_like`); UCI digits to an MNIST-like B imitates
    MNIST's geometry (`mnist_geometry`). Every other pair, the same source twice included, has
    none."""
    if source_a in MNIST_LIKE and source_b == UCI:
        return uci_like
    if source_a == UCI and source_b in MNIST_LIKE:
        return mnist_geometry
    return None

"""A binary digit's skeleton, Morpho-MNIST's way (`morpho`): scikit-image's medial axis, with
the lookup table it builds on every call built once, and the skeleton's length."""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy import ndimage
from skimage import morphology

_SKELETON_SEED = 0  # medial_axis breaks ties at random: a fixed seed makes it repeatable


@functools.cache
def _removable_table() -> np.ndarray:
    """`(512,)` uint8: for each 3x3 neighbourhood (bit k = pixel k, row by row), whether its
    centre may be removed without changing the connectivity: the table scikit-image's
    `medial_axis` builds on every call (about 3/4 of its time on a 112x112 digit), built once."""
    eight = ndimage.generate_binary_structure(2, 2)
    bits = 2 ** np.arange(9).reshape(3, 3)
    patterns = [(index & bits).astype(bool) for index in range(512)]
    removable = [
        bool(pattern[1, 1])
        and (
            ndimage.label(pattern, eight)[1] != ndimage.label(pattern & ~_CENTRE, eight)[1]
            or pattern.sum() < 3
        )
        for pattern in patterns
    ]
    return np.array(removable, dtype=np.uint8)


_CENTRE = np.zeros((3, 3), dtype=bool)
_CENTRE[1, 1] = True


def medial_axis(foreground: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The skeleton `(H, W)` bool of a binary image and its distance map `(H, W)` float64:
    scikit-image's `medial_axis(..., return_distance=True, rng=0)`, the same pixels (a test
    checks it on real digits), with its lookup table built once. Where scikit-image's
    thinning loop cannot be imported, its public `medial_axis` does the work."""
    try:
        from skimage.morphology._skeletonize_various_cy import _skeletonize_loop
    except ImportError:  # a release that moved it: the public function, slower
        skeleton, distance = morphology.medial_axis(  # type: ignore[no-untyped-call]
            foreground, return_distance=True, rng=_SKELETON_SEED
        )
        return skeleton, distance
    foreground = foreground.astype(bool)
    distance = ndimage.distance_transform_edt(foreground)
    neighbours = ndimage.correlate(
        foreground.astype(np.uint8), np.ones((3, 3), np.uint8), mode="constant"
    )
    rows, cols = np.nonzero(foreground)  # row-major, as scikit-image's boolean indexing
    # thin from the background inwards: nearest pixels first, corners before edges, ties at random
    tiebreaker = np.random.default_rng(_SKELETON_SEED).permutation(np.arange(rows.size))
    order = np.lexsort((tiebreaker, 9 - neighbours[rows, cols], distance[rows, cols]))
    skeleton = np.ascontiguousarray(foreground, dtype=np.uint8)
    _skeletonize_loop(
        skeleton,
        np.ascontiguousarray(rows, dtype=np.intp),
        np.ascontiguousarray(cols, dtype=np.intp),
        np.ascontiguousarray(order, dtype=np.int32),
        _removable_table(),
    )
    return skeleton.astype(bool), distance


def skeleton_length(skeleton: np.ndarray) -> float:
    """Length of a one-pixel-wide skeleton: 1 per side-by-side pair, √2 per diagonal pair."""
    side = np.count_nonzero(skeleton[:, 1:] & skeleton[:, :-1])
    side += np.count_nonzero(skeleton[1:, :] & skeleton[:-1, :])
    diagonal = np.count_nonzero(skeleton[1:, 1:] & skeleton[:-1, :-1])
    diagonal += np.count_nonzero(skeleton[1:, :-1] & skeleton[:-1, 1:])
    return float(side + math.sqrt(2.0) * diagonal)

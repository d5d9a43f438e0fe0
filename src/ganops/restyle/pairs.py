"""Which style image each content image is drawn in: seeded pairs of images of different
classes (a 3 in the hand that wrote a 7), the same for the per-epoch score and the sample
stage."""

from __future__ import annotations

import numpy as np

from ganops.errors import DataError


def style_pairs(labels: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """For each image `i` of a split with classes `labels` `(N,)`, the index of its style
    image: a seeded draw among the images of the other classes. Returns int64
    `(content_index, style_index)`, `content_index` being `0..N-1`."""
    classes = np.unique(labels)
    if len(classes) < 2:
        raise DataError(
            f"restyle pairs a content image with a style image of another class; the split "
            f"has {len(classes)} class"
        )
    return pairs_across(labels, labels, seed, by_class=True)


def pairs_across(
    content_labels: np.ndarray, style_labels: np.ndarray, seed: int, by_class: bool
) -> tuple[np.ndarray, np.ndarray]:
    """For each content image `i` (classes `content_labels` `(N,)`), the index of its style
    image among the style images (classes `style_labels` `(M,)`): a seeded draw among those of
    another class when `by_class` (the two share their classes), else among all of them.
    With the same labels on both sides, `style_pairs`' very draw."""
    rng = np.random.default_rng(seed)
    contents = np.arange(len(content_labels), dtype=np.int64)
    if not by_class:
        return contents, rng.integers(0, len(style_labels), len(content_labels)).astype(np.int64)
    style = np.empty(len(content_labels), np.int64)
    for value in np.unique(content_labels):
        members = np.flatnonzero(content_labels == value)
        others = np.flatnonzero(style_labels != value)
        if not len(others):
            raise DataError(
                f"restyle pairs a content image with a style image of another class; the style "
                f"images are all of class {value}"
            )
        style[members] = others[rng.integers(0, len(others), len(members))]
    return contents, style


def spread_indices(labels: np.ndarray, count: int, offset: int = 0) -> np.ndarray:
    """`count` indices of a split, one class after another (the first image of class
    `(offset + k) % K` not taken yet), for a grid that shows every class."""
    classes = np.unique(labels)
    taken: list[int] = []
    for k in range(count):
        value = classes[(offset + k) % len(classes)]
        members = [int(i) for i in np.flatnonzero(labels == value) if int(i) not in taken]
        taken.append(members[0] if members else int(np.flatnonzero(labels == value)[0]))
    return np.array(taken, dtype=np.int64)

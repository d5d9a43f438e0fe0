"""Per-image work shared among spawned processes (`ganops.metrics.shared_work`): the same
bytes as one process's, in order, one pool for a block, and an error that names its image."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ganops.config import DataConfig
from ganops.data.sources import get_source
from ganops.errors import DataError
from ganops.metrics import morpho, shared_work
from ganops.metrics.restyle_scores import hand_made_restyle, retrieve_restyle


@pytest.fixture(scope="module")
def labelled(prepared: Path) -> tuple[np.ndarray, np.ndarray]:
    """Every 10th mnist-5k digit `(500, 28, 28)` uint8 and its class."""
    decoded = get_source(DataConfig().source).load(prepared / "raw")
    return decoded.images[::10, 0], decoded.labels[::10]


def test_part_bounds_cover_every_item_once() -> None:
    assert shared_work.part_bounds(10, 3) == [(0, 3), (3, 6), (6, 10)]
    assert shared_work.part_bounds(250, 2) == [(0, 125), (125, 250)]


def test_outside_a_block_or_for_too_few_items_nothing_is_shared() -> None:
    assert shared_work.in_parts(len, 1000, [np.zeros(1000)]) is None
    with shared_work.shared(1) as workers:
        assert workers == 1
        assert shared_work.in_parts(len, 1000, [np.zeros(1000)]) is None


def test_measurements_in_processes_are_the_same_bytes_in_order(
    labelled: tuple[np.ndarray, np.ndarray], pool_starts: list[int]
) -> None:
    """500 real digits measured in two processes give float for float what one process
    gives; a second batch in the block uses the same pool (one start)."""
    some_digits = labelled[0]
    alone = morpho.measure_batch(some_digits)
    with shared_work.shared(2) as workers:
        assert workers == 2
        shared = morpho.measure_batch(some_digits)
        again = morpho.measure_batch(some_digits[::-1])
        with shared_work.shared(5) as inner:  # a block inside a block: the outer pool
            assert inner == 2
    assert pool_starts == [2]
    for field in morpho.FIELDS:
        np.testing.assert_array_equal(shared[field], alone[field])
        np.testing.assert_array_equal(again[field], alone[field][::-1])


def test_a_malformed_image_in_a_later_part_is_named_by_its_place_in_the_batch(
    labelled: tuple[np.ndarray, np.ndarray],
) -> None:
    images = labelled[0][:300].astype(np.float32) / 255
    images[250, 3, 3] = np.nan
    with shared_work.shared(2), pytest.raises(DataError, match="image 250 of the batch"):
        morpho.measure_batch(images)


def test_the_scoring_ways_given_measurements_are_as_if_measured(
    labelled: tuple[np.ndarray, np.ndarray],
) -> None:
    """Retrieval and the hand-made transform given the styles' measurements pick and draw
    what they do measuring the styles themselves."""
    images, classes = labelled
    held = np.arange(len(images)) % 5 == 0  # 10 of each class held out of the pool
    train, labels = images[~held], classes[~held]
    contents, styles, content_labels = images[held][::2], images[held][1::2], classes[held][::2]
    hands = morpho.measure_batch(styles)
    np.testing.assert_array_equal(
        retrieve_restyle(content_labels, styles, train, labels, style_measures=hands),
        retrieve_restyle(content_labels, styles, train, labels),
    )
    with pytest.raises(DataError, match="style_measures do not match"):
        retrieve_restyle(content_labels[:3], styles[:3], train, labels, style_measures=hands)
    np.testing.assert_array_equal(
        hand_made_restyle(contents, styles, workers=1, hands=hands),
        hand_made_restyle(contents, styles, workers=1),
    )

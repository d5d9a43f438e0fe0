"""The mode-collapse warning: once, below the threshold, in the log and as a tag."""

from __future__ import annotations

import logging

import pytest

from ganops.gan.collapse import WARNING_TAG, CollapseWatch

HEALTHY = {"quick_fid": 30.0, "quick_intra_class_diversity_min": 0.8}
COLLAPSED = {"quick_fid": 90.0, "quick_intra_class_diversity_min": 0.05}


def test_warns_once_at_the_first_collapse(caplog: pytest.LogCaptureFixture) -> None:
    tags: list[dict[str, str]] = []
    watch = CollapseWatch(0.2, tags.append)
    with caplog.at_level(logging.WARNING):
        watch(100, HEALTHY)
        watch(200, COLLAPSED)
        watch(300, COLLAPSED)
    assert len(tags) == 1 and list(tags[0]) == [WARNING_TAG]
    assert tags[0][WARNING_TAG].startswith("mode collapse suspected at step 200")
    assert "0.050, below train.collapse_threshold 0.2" in tags[0][WARNING_TAG]
    assert caplog.text.count("mode collapse suspected") == 1


@pytest.mark.parametrize(
    ("threshold", "warned", "scores"),
    [(0.0, False, COLLAPSED), (0.2, True, COLLAPSED), (0.2, False, HEALTHY), (0.2, False, {})],
    ids=["off", "already-tagged", "healthy", "not-measured"],
)
def test_stays_silent(threshold: float, warned: bool, scores: dict[str, float]) -> None:
    tags: list[dict[str, str]] = []
    CollapseWatch(threshold, tags.append, warned)(1, scores)
    assert tags == []

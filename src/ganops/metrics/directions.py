"""Which way is better for each metric the pipeline writes: one registry for every report.

Keys are the dotted names `dvc metrics diff` shows (`fid`, `real_floor.fid`, `accuracy`).
"""

from __future__ import annotations

from typing import Literal

Direction = Literal["lower", "higher", "one"]

DIRECTIONS: dict[str, Direction] = {
    # scores of data/eval/metrics.json
    "fid": "lower",
    "kid_mean": "lower",
    "precision": "higher",
    "recall": "higher",
    "isc_mean": "higher",
    "classes_covered": "higher",
    "class_kl": "lower",
    "nn_distance_ratio": "one",  # near 1 is healthy; far below 1 means copying
    "intra_class_diversity": "one",  # near 1 is real spread; near 0, one image per class
    "intra_class_diversity_min": "one",
    # ... and of a conditional generator's samples
    "conditional_accuracy": "higher",
    "cas": "higher",
    "cas_real": "higher",
    # training (data/train/metrics.json) and the evaluator (data/evaluator/metrics.json)
    "quick_fid": "lower",
    "quick_intra_class_diversity": "one",
    "quick_intra_class_diversity_min": "one",
    "accuracy": "higher",
}
REFERENCE_PREFIX = "real_floor."  # the real data's own scores: a yardstick, not a result


def direction(key: str) -> Direction | None:
    """The better direction of metric `key`, or None when neither way is better."""
    if key.startswith(REFERENCE_PREFIX):
        return None
    return DIRECTIONS.get(key)


def judge(key: str, old: float, new: float, tolerance: float = 1e-9) -> str:
    """`better`, `worse` or `same` for a change of `key` from `old` to `new`; '' if no order."""
    way = direction(key)
    if way is None:
        return ""
    if way == "one":
        old, new = -abs(old - 1.0), -abs(new - 1.0)
    elif way == "lower":
        old, new = -old, -new
    if abs(new - old) <= tolerance * max(1.0, abs(old)):
        return "same"
    return "better" if new > old else "worse"

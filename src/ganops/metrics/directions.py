"""Which way is better for each metric the pipeline writes: one registry for every report.

Keys are the dotted names `dvc metrics diff` shows (`fid`, `real_floor.fid`, `accuracy`).
A verdict can take the seed-to-seed noise into account (`judge_with_noise`): a change
inside the noise band of Welch's t-test at 95% (`ganops.significance`) is `within noise`,
not better or worse.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from ganops.significance import welch_band

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
    "conditional_accuracy_min": "higher",  # the weakest class's (its index: ..._min_class)
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


@dataclass(frozen=True)
class Estimate:
    """One side's value of a metric: the mean over its seeds and how many there were."""

    mean: float
    count: int
    variance: float | None  # the seeds' sample variance; None with a single seed

    @classmethod
    def of(cls, values: Sequence[float]) -> Estimate:
        if not values:
            raise ValueError("an estimate needs at least one value")
        variance = statistics.variance(values) if len(values) > 1 else None
        return cls(statistics.fmean(values), len(values), variance)

    def mean_variance(self, spread: SeedSpread | None) -> tuple[float, float] | None:
        """The variance of the mean and its degrees of freedom: the seeds' own, or with one
        seed the recorded seed-to-seed `spread` squared; None when neither exists."""
        if self.variance is not None:
            return self.variance / self.count, self.count - 1
        if spread is None or spread.seeds < 2:
            return None
        return spread.std**2, spread.seeds - 1


@dataclass(frozen=True)
class SeedSpread:
    """A metric's seed-to-seed standard deviation and the number of seeds it was measured on."""

    std: float
    seeds: int


def noise_band(old: Estimate, new: Estimate, spread: SeedSpread | None) -> float | None:
    """Half-width of the band within which `new - old` is noise (Welch's t-test at 95%), or
    None when unknown: a side with one seed and no recorded spread, or no spread at all."""
    parts = [side.mean_variance(spread) for side in (old, new)]
    if parts[0] is None or parts[1] is None:
        return None
    return welch_band([parts[0][0], parts[1][0]], [parts[0][1], parts[1][1]])


def judge_with_noise(key: str, old: Estimate, new: Estimate, spread: SeedSpread | None) -> str:
    """`better`/`worse` only beyond the noise band, `within noise` inside it; `same` for no
    change, '' for a metric with no better direction. Without any estimate of the noise
    (one seed a side and no recorded spread for `key`, or seeds that never moved) the plain
    verdict says so."""
    plain = judge(key, old.mean, new.mean)
    if plain in ("", "same"):
        return plain
    band = noise_band(old, new, spread)
    if band is None:
        return f"{plain} (noise unknown)"
    return plain if abs(new.mean - old.mean) > band else "within noise"

"""The one rule every verdict of the project uses to tell a change from seed-to-seed noise.

A Student's t-test at 95% (two-sided): a difference counts only when it lies beyond
`t(0.975, df)` standard errors of 0, with `df` the degrees of freedom of the spread it is
judged by. Paired seeds (the downstream arms) give a paired t-test on the per-seed
differences, `df = n - 1`; two independent sets of seeds (the report's baseline against the
workspace) give Welch's test, `df` by Welch-Satterthwaite.

Three guards keep a verdict from resting on no spread at all:

- one value (a single seed) is never significant: it carries no spread;
- a spread can be floored (`floor`): a test accuracy moves in steps of one test image
  (`1/N`), so paired accuracies that all differ by the same count of images have a
  standard deviation of 0 and would otherwise make any mean "significant";
- a spread that is still 0 after the floor is judged not significant (no spread, no test).

With two seeds `df = 1` and the critical value is 12.7 (not 2): two seeds seldom settle
anything, which is the honest answer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

CONFIDENCE = 0.95  # two-sided
RULE = (
    "a paired Student's t-test at 95% (two-sided) on the per-seed differences, their standard "
    "deviation floored at one test image (1/N); a single seed is never significant"
)


def t_critical(df: float) -> float:
    """Student's two-sided critical value at `CONFIDENCE` for `df` degrees of freedom."""
    if not df >= 1:
        raise ValueError(f"a t-test needs at least one degree of freedom, got {df}")
    from scipy.stats import t

    return float(t.ppf(1 - (1 - CONFIDENCE) / 2, df))


@dataclass(frozen=True)
class Gain:
    """A paired comparison: the mean of the per-seed differences, its standard error (None
    with one seed), the half-width of the band the mean must leave (None with one seed),
    and whether it does."""

    mean: float
    stderr: float | None
    band: float | None
    significant: bool

    def as_dict(self) -> dict[str, float | bool | None]:
        rounded = {
            "mean": self.mean,
            "stderr": self.stderr,
            "band": self.band,
        }
        return {k: None if v is None else round(v, 6) for k, v in rounded.items()} | {
            "significant": self.significant
        }


def mean_band(spread: float, count: int, floor: float = 0.0) -> tuple[float, float] | None:
    """The standard error of a mean of `count` values whose standard deviation is `spread`
    (floored at `floor`), and the band's half-width `t(count - 1)` times it that the mean must
    leave to differ from 0; None for a single value."""
    if count < 2:
        return None
    stderr = max(spread, floor) / math.sqrt(count)
    return stderr, t_critical(count - 1) * stderr


def paired_test(ours: Sequence[float], theirs: Sequence[float], floor: float = 0.0) -> Gain:
    """The paired t-test of `ours - theirs` (one value per seed, paired by seed), the standard
    deviation of the differences floored at `floor` (one test image: `1/N`)."""
    if len(ours) != len(theirs) or not ours:
        raise ValueError(f"a paired test needs equal, non-empty sides: {len(ours)}, {len(theirs)}")
    differences = [a - b for a, b in zip(ours, theirs, strict=True)]
    count = len(differences)
    mean = math.fsum(differences) / count
    spread = math.sqrt(math.fsum((d - mean) ** 2 for d in differences) / max(1, count - 1))
    judged = mean_band(spread, count, floor)
    if judged is None:
        return Gain(mean, None, None, False)
    stderr, band = judged
    return Gain(mean, stderr, band, stderr > 0 and abs(mean) > band)


def welch_band(variances: Sequence[float], dfs: Sequence[float]) -> float | None:
    """Half-width of the band `new - old` must leave for two independent means, given each
    mean's variance and the degrees of freedom behind it (Welch's test); None when the two
    variances sum to 0 (no spread: nothing can be judged)."""
    total = math.fsum(variances)
    if total <= 0:
        return None
    # Welch-Satterthwaite: the degrees of freedom of the summed variance
    df = total**2 / math.fsum(v**2 / d for v, d in zip(variances, dfs, strict=True) if v > 0)
    return t_critical(df) * math.sqrt(total)

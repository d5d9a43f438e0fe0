"""The one significance rule: a paired Student's t-test, its spread floored at one test image."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
from scipy import stats

from ganops.significance import mean_band, paired_test, t_critical, welch_band
from tests.helpers import ROOT, load_script

N = 1000  # test images: accuracies move in steps of 1/N


def test_critical_values_are_students() -> None:
    # the table every statistics book prints, two-sided 95%
    for df, value in ((1, 12.706), (2, 4.303), (4, 2.776), (9, 2.262), (29, 2.045)):
        assert t_critical(df) == pytest.approx(value, abs=1e-3)
    assert t_critical(10_000) == pytest.approx(1.960, abs=1e-3)
    with pytest.raises(ValueError, match="at least one degree of freedom"):
        t_critical(0)


def test_equal_differences_are_not_significant() -> None:
    # the default's record: three seeds, each exactly one test image worse; the old rule
    # (|mean| > 2 standard errors) called this significant with a standard error of 0
    gain = paired_test([0.982, 0.982, 0.982], [0.983, 0.983, 0.983], floor=1 / N)
    assert gain.mean == pytest.approx(-0.001)
    assert gain.stderr == pytest.approx(1 / N / math.sqrt(3))  # the floor, not 0
    assert gain.band == pytest.approx(4.303 / N / math.sqrt(3), rel=1e-3)
    assert gain.significant is False
    # without a floor, no spread means no test either
    assert paired_test([0.5, 0.5], [0.4, 0.4]).significant is False


def test_a_single_seed_is_never_significant() -> None:
    gain = paired_test([0.99], [0.10], floor=1 / N)
    assert (gain.mean, gain.stderr, gain.band, gain.significant) == (
        pytest.approx(0.89),
        None,
        None,
        False,
    )
    assert mean_band(0.01, 1, 1 / N) is None


def test_two_seeds_need_twelve_standard_errors() -> None:
    # differences +3 and +5 points: mean 4, sd 1.41, standard error 1.0; the old rule's
    # two standard errors called it significant, Student's 12.7 at one degree of freedom not
    gain = paired_test([0.93, 0.95], [0.90, 0.90], floor=1 / N)
    assert gain.stderr == pytest.approx(0.01)
    assert gain.band == pytest.approx(0.127, abs=1e-3)
    assert gain.significant is False
    # ... a gain of 30 points with the same spread stands
    assert paired_test([0.93, 0.95], [0.62, 0.66], floor=1 / N).significant is True


def test_a_clear_gain_stays_significant_and_agrees_with_scipy() -> None:
    ours = [0.912, 0.925, 0.918, 0.931, 0.920]
    theirs = [0.880, 0.902, 0.885, 0.899, 0.894]
    gain = paired_test(ours, theirs, floor=1 / N)
    assert gain.significant is True
    reference = stats.ttest_rel(ours, theirs)
    assert abs(gain.mean) / gain.stderr == pytest.approx(abs(reference.statistic))
    assert reference.pvalue < 0.05
    # a noisy one does not: scipy's p-value agrees with the band
    noisy = paired_test([0.91, 0.95, 0.90], [0.93, 0.90, 0.92], floor=1 / N)
    assert (
        noisy.significant is False
        and stats.ttest_rel([0.91, 0.95, 0.90], [0.93, 0.90, 0.92]).pvalue > 0.05
    )


def test_bad_sides_are_refused() -> None:
    with pytest.raises(ValueError, match="equal, non-empty sides: 2, 1"):
        paired_test([0.1, 0.2], [0.1])


def test_welch_band_matches_scipy_and_needs_a_spread() -> None:
    old, new = [27.0, 28.0, 29.0], [25.0, 25.2, 24.8]
    variances = [float(stats.tvar(old)) / 3, float(stats.tvar(new)) / 3]
    band = welch_band(variances, [2, 2])
    assert band is not None
    reference = stats.ttest_ind(old, new, equal_var=False)
    # beyond the band exactly when Welch's p-value is under 5%
    assert (abs(28.0 - 25.0) > band) == (reference.pvalue < 0.05)
    statistic = 3.0 / math.sqrt(sum(variances))
    assert statistic == pytest.approx(reference.statistic)
    assert welch_band([0.0, 0.0], [2, 2]) is None


def test_the_recorded_benchmarks_verdicts_follow_the_rule(tmp_path: Path) -> None:
    """tools/reverdict.py --check passes on docs/translation.json and docs/semi_supervised.json,
    and fails on a copy whose gain of three equal paired differences is called significant
    with a band under one test image."""
    tool = load_script("tools", "reverdict")
    assert tool.main(["--check"]) == 0
    for path in tool.RECORDS:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / path, tmp_path / path)
    record = json.loads((tmp_path / "docs/translation.json").read_text())
    gain = record["results"]["paired"][0]["downstream"]["gain_translated_vs_source"]
    gain.update(mean=0.001, stderr=0.0, significant=True)  # one test image, no spread
    (tmp_path / "docs/translation.json").write_text(json.dumps(record, indent=1))
    assert tool.main(["--check", "--root", str(tmp_path)]) == 1
    assert tool.main(["--write", "--root", str(tmp_path)]) == 0
    assert tool.main(["--check", "--root", str(tmp_path)]) == 0

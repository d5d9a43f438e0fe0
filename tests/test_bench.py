"""The benchmark scripts run (tiny sizes; their figures are recorded in docs/benchmarks.md)."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from tests.helpers import ROOT, load_script


def _bench(name: str) -> ModuleType:
    return load_script("bench", name)


def test_train_throughput_prints_both_paths_and_their_ratio(
    capsys: pytest.CaptureFixture[str],
) -> None:
    bench = _bench("train_throughput")
    bench.main(["--sizes", "28", "--batch-size", "16", "--steps", "2", "--epochs", "1"])
    row = next(line for line in capsys.readouterr().out.splitlines() if "DCGAN 28x28" in line)
    ours, reference, ratio = re.findall(r"\| ([\d,.]+)x? ", row)[:3]
    ours_value, reference_value = float(ours.replace(",", "")), float(reference.replace(",", ""))
    assert ours_value > 0 and reference_value > 0
    assert float(ratio) == pytest.approx(ours_value / reference_value, rel=0.01)


def test_tutorial_reference_reads_the_digits_through_torchvision(tmp_path: Path) -> None:
    from torchvision import datasets

    bench = _bench("train_throughput")
    digits = bench.mnist_digits()[:10]
    bench.write_idx(tmp_path, digits)
    dataset = datasets.MNIST(str(tmp_path), train=True, download=False)
    image, _ = dataset[3]
    assert (np.asarray(image) == digits[3, 0]).all()


def test_pipeline_time_reports_the_peak_memory_of_a_child() -> None:
    bench = _bench("pipeline_time")
    grow = "import numpy; a = numpy.ones(300_000_000 // 8); a += 1"  # ~300 MB resident
    seconds, peak_gb = bench.timed([sys.executable, "-c", grow], ROOT, {})
    assert seconds > 0 and 0.3 < peak_gb < 2
    with pytest.raises(SystemExit, match="failed with exit status 3"):
        bench.timed([sys.executable, "-c", "raise SystemExit(3)"], ROOT, {})

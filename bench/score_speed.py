"""How long scoring 5,000 generated images against the test split takes.

Side by side, in one run and on the same inputs:
  ganops      features extracted once by the evaluator, the test split's features read from
              evaluator.pt, then torch-fidelity's metric functions (what `evaluate` and
              `ganops score` do);
  reference   torch-fidelity's own full pass, `calculate_metrics` with the registered
              `ganops-evaluator` extractor, which extracts both sets every time;
  cli         `ganops score` as a user runs it, Python start-up and imports included.

Needs the pipeline's outputs (make repro). Usage:
    python bench/score_speed.py [--repeats 3] [--evaluator ...] [--samples ...] [--test ...]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch_fidelity

from ganops.config import EvalConfig
from ganops.device import cpu_model
from ganops.metrics.evaluator import load_evaluator
from ganops.metrics.features import evaluator_reference, feature_set
from ganops.metrics.fidelity import NAME, register
from ganops.metrics.scores import score


class Images(torch.utils.data.Dataset[torch.Tensor]):
    def __init__(self, images: np.ndarray) -> None:
        self.images = torch.from_numpy(images)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.images[index]


def timed(work: Callable[[], object], repeats: int) -> tuple[float, object]:
    """Median wall time of `repeats` calls after one untimed warm-up call."""
    result = work()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--evaluator", type=Path, default=Path("data/models/evaluator.pt"))
    parser.add_argument("--samples", type=Path, default=Path("data/samples/samples.npy"))
    parser.add_argument("--test", type=Path, default=Path("data/processed/test_images.npy"))
    args = parser.parse_args()
    for path in (args.evaluator, args.samples, args.test):
        if not path.exists():
            sys.exit(f"{path} is missing: run `make repro` first")

    cfg, cpu = EvalConfig(), torch.device("cpu")
    samples, test = np.load(args.samples), np.load(args.test)
    evaluator = load_evaluator(args.evaluator)
    register()

    def ours() -> dict[str, float]:
        return score(
            feature_set(evaluator, samples, cfg.batch_size, cpu),
            evaluator_reference(evaluator),
            cfg,
        )

    def reference() -> dict[str, float]:
        return torch_fidelity.calculate_metrics(
            input1=Images(samples), input2=Images(test), cuda=False, fid=True, kid=True,
            prc=True, isc=True, verbose=False, cache=False, save_cpu_ram=True,
            feature_extractor=NAME, feature_extractor_weights_path=str(args.evaluator),
            feature_layer_isc="logits", kid_subset_size=cfg.kid_subset_size, rng_seed=cfg.seed,
        )  # fmt: skip

    def cli() -> None:
        command = [sys.executable, "-m", "ganops.cli", "score", str(args.samples), "--json",
                   "--evaluator", str(args.evaluator)]  # fmt: skip
        subprocess.run(command, check=True, capture_output=True)

    ours_s, ours_scores = timed(ours, args.repeats)
    reference_s, reference_scores = timed(reference, args.repeats)
    cli_s, _ = timed(cli, args.repeats)
    assert isinstance(ours_scores, dict) and isinstance(reference_scores, dict)
    fid_gap = abs(ours_scores["fid"] - reference_scores["frechet_inception_distance"])

    cpu_name = cpu_model()
    versions = f"torch {torch.__version__}, torch-fidelity {torch_fidelity.__version__}"
    print(f"machine: {cpu_name}, {torch.get_num_threads()} threads, {versions}")
    print(f"images: {len(samples)} generated vs {len(test)} test, median of {args.repeats}")
    print(f"ganops (cached reference)      {ours_s:7.2f} s")
    print(
        f"torch-fidelity full pass       {reference_s:7.2f} s   ({reference_s / ours_s:.2f}x ours)"
    )
    print(f"ganops score, end to end       {cli_s:7.2f} s")
    print(f"same FID both ways: |difference| = {fid_gap:.2e} (fid {ours_scores['fid']:.4f})")


if __name__ == "__main__":
    main()

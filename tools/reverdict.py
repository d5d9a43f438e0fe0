"""The recorded benchmarks' verdicts under the project's one rule (`ganops.significance`).

`docs/translation.json` and `docs/semi_supervised.json` record, for each downstream gain, the
mean of the paired per-seed differences, its standard error and whether it was called
significant, under the rule of the day they ran (then: beyond two standard errors, none where
the spread was 0). Their per-seed values are not recorded, but the paired t-test needs only
the mean, the standard error and the number of seeds: this recomputes each `significant` (and
its `band`) with the standard deviation floored at one test image of the run's test split,
and `--check` says which recorded verdicts disagree with the rule.

Usage:
    python tools/reverdict.py --check    # exit 1 naming each verdict the rule would change
    python tools/reverdict.py --write    # rewrite the records' verdicts under the rule
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ganops.significance import RULE, mean_band

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TEST_SIZE = 1000  # params.yaml's data.test_size, which the records' runs kept or set


def _translation(record: dict[str, Any], name: str) -> tuple[int, int]:
    """Paired seeds (`downstream.seeds`, the default 3) and B's test images of a
    translation configuration."""
    config = record["configurations"][name]
    seeds = config.get("downstream", {}).get("seeds", 3)
    return seeds, config.get("data", {}).get("test_size", DEFAULT_TEST_SIZE)


def _semi_supervised(record: dict[str, Any], _name: str) -> tuple[int, int]:
    return record["recipe"]["downstream"]["seeds"], DEFAULT_TEST_SIZE


RECORDS = {"docs/translation.json": _translation, "docs/semi_supervised.json": _semi_supervised}


def gains(record: dict[str, Any], path: str) -> Iterator[tuple[str, dict[str, Any], int, int]]:
    """Each recorded gain: its place, itself, the number of paired seeds and test images."""
    results = record["results"]
    named = results.items() if isinstance(results, dict) else [("", results)]
    for name, runs in named:
        for index, run in enumerate(runs):
            seeds, test_size = RECORDS[path](record, name)
            for key, gain in sorted(run.get("downstream", {}).items()):
                if isinstance(gain, dict) and "significant" in gain:
                    yield f"{name}[{index}].{key}", gain, seeds, test_size


def verdict(gain: dict[str, Any], seeds: int, test_size: int) -> tuple[bool, float | None]:
    """Whether the paired t-test calls `gain` significant, and the band its mean must leave."""
    spread = gain["stderr"] * math.sqrt(seeds)  # the recorded standard error, unfloored
    judged = mean_band(spread, seeds, floor=1 / test_size)
    if judged is None:
        return False, None
    stderr, band = judged
    return stderr > 0 and abs(gain["mean"]) > band, band


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true")
    mode.add_argument("--write", action="store_true")
    parser.add_argument("--root", type=Path, default=ROOT)
    args = parser.parse_args(argv)
    changed = []
    for path in RECORDS:
        file = args.root / path
        record = json.loads(file.read_text())  # as recorded: 1 or 2 spaces of indent
        for where, gain, seeds, test_size in gains(record, path):
            significant, band = verdict(gain, seeds, test_size)
            if gain["significant"] != significant:
                changed.append(f"{path}: {where}: {gain['significant']} -> {significant}")
            gain["significant"] = significant
            gain["band"] = None if band is None else round(band, 6)
        record["verdicts"] = f"{RULE}; recomputed from each gain's mean and standard error"
        if args.write:
            text = file.read_text()
            indent = len(text.splitlines()[1]) - len(text.splitlines()[1].lstrip())
            file.write_text(json.dumps(record, indent=indent) + "\n")
    print("\n".join(changed) if changed else "every recorded verdict follows the rule")
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())

"""What restyled training digits are worth to a classifier meeting unseen writers: the default
restyler on mnist-5k through the seven stages, one restyler seed a process, and the table of
docs/benchmarks.md ("Restyle downstream") from the records.

Each run is `params.yaml` plus `task: restyle`, `restyle.seed: SEED`, `restyle.epochs: 10`
(1,250 steps: the records' length, the default's until 2026-11-29) and `downstream.seeds: 3`
(three classifier seeds an arm) in a scratch workspace; its record holds the seconds, the
evaluate stage's scores and the downstream stage's metrics (ganops.restyle.downstream).

    OMP_NUM_THREADS=1 python bench/restyle_downstream.py --seed 0 --out A.json &  # ~20 min
    OMP_NUM_THREADS=1 python bench/restyle_downstream.py --seed 1 --out B.json
    wait
    python bench/restyle_downstream.py --table A.json B.json
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from ganops.device import cpu_model  # noqa: E402
from tests.helpers import STAGE_NAMES  # noqa: E402

CLASSIFIER_SEEDS = 3
ARMS = ("real", "affine", "handmade", "restyled")
SETS = {
    "test": "test split",
    "uci": "`uci`",
    "uci_mnist_geometry": "`uci_mnist_geometry`",
}
GAINS = ("restyled_vs_real", "restyled_vs_affine", "restyled_vs_handmade", "handmade_vs_real")


def overrides(seed: int) -> dict[str, Any]:
    return {"task": "restyle", "restyle": {"seed": seed, "epochs": 10, "steps": None},
            "downstream": {"seeds": CLASSIFIER_SEEDS}}  # fmt: skip


def measure(seed: int) -> dict[str, Any]:
    """One restyler seed through the seven stages: its record."""
    from translation import run_stages

    with tempfile.TemporaryDirectory(prefix="restyle-downstream-") as scratch:
        workspace = Path(scratch)
        seconds = run_stages(workspace, overrides(seed), STAGE_NAMES)
        metrics = {
            stage: json.loads((workspace / f"data/{folder}/metrics.json").read_text())
            for stage, folder in (("evaluate", "eval"), ("downstream", "downstream"))
        }
    return {
        "date": date.today().isoformat(),
        "machine": f"{cpu_model()}, {platform.system()}",
        "overrides": overrides(seed),
        "seed": seed,
        "seconds": round(seconds, 1),
        **metrics,
    }


def _gain(entry: dict[str, Any]) -> str:
    text = f"{entry['mean'] * 100:+.1f} ± {entry['stderr'] * 100:.1f}"
    return f"**{text}**" if entry["significant"] else text


def table(records: list[dict[str, Any]]) -> str:
    """Markdown: each test set's arms (accuracy in %, one value a restyler seed, each the
    mean over the classifier seeds), then each gain per restyler seed (points ± standard
    error; bold: significant in the paired t-test)."""
    records = sorted(records, key=lambda record: record["seed"])
    seeds = ", ".join(str(record["seed"]) for record in records)
    lines = [
        f"| test set (accuracy, %; restyler seeds {seeds}) | " + " | ".join(ARMS) + " |",
        "|---" * (len(ARMS) + 1) + "|",
    ]
    for name, label in SETS.items():
        cells = [
            ", ".join(f"{r['downstream'][name][arm]['accuracy_mean'] * 100:.1f}" for r in records)
            for arm in ARMS
        ]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += ["", "| gain (points) | " + " | ".join(SETS.values()) + " |",
              "|---" * (len(SETS) + 1) + "|"]  # fmt: skip
    for gain in GAINS:
        cells = [
            ", ".join(_gain(r["downstream"][name][f"gain_{gain}"]) for r in records)
            for name in SETS
        ]
        lines.append(f"| `{gain}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, help="the restyler seed to run (restyle.seed)")
    parser.add_argument("--out", type=Path, help="the record to write (with --seed)")
    parser.add_argument("--table", type=Path, nargs="+", help="records to print the table of")
    args = parser.parse_args(argv)
    if (args.seed is None) == (args.table is None):
        parser.error("give --seed (and --out) to measure, or --table RECORD... to print")
    if args.table:
        print(table([json.loads(path.read_text()) for path in args.table]))
        return 0
    if args.out is None:
        parser.error("--seed needs --out, the record to write")
    record = measure(args.seed)
    args.out.write_text(json.dumps(record, indent=1) + "\n")
    print(f"restyler seed {args.seed}: {record['seconds']:.0f} s, {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

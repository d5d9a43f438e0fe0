"""The domain-adaptation tables of docs/benchmarks.md, made from the records that
`bench/translation.py --alignment` wrote (one or several; their configurations are merged).

    python bench/adaptation_table.py bench/records/cpu-2026-11-27/adaptation-*.json

Three tables: the `evaluate` stage's label preservation and FID of A's test images as they
are, through the hand-made transform and translated; every downstream arm's accuracy on B's
test split (mean over the classifier seeds); and every recorded gain with its standard
error, **bold** where the paired t-test of `ganops.significance` calls it significant. An
arm or gain that does not depend on the translator (its classifiers never see a translated
image) is the same for every translator seed and is shown once; the others one value per
translator seed, in seed order.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

DIRECTIONS = {
    "uci_to_mnist": "UCI → MNIST",
    "mnist_to_uci": "MNIST → UCI",
    # the semantic term's translations read by a classifier of A through the hand-made transform
    "uci_to_mnist_semantic_handmade": "UCI → MNIST, hand-made reader",
    "mnist_to_uci_semantic_handmade": "MNIST → UCI, hand-made reader",
    # ... by that classifier adapted to B's unlabelled train images (FixMatch)
    "uci_to_mnist_semantic_fixmatch": "UCI → MNIST, FixMatch reader",
    "mnist_to_uci_semantic_fixmatch": "MNIST → UCI, FixMatch reader",
}
# the arms in the tables' order: no adaptation, then with B's unlabelled train images
ARMS = (
    "source", "source_affine", "handmade", "self_training", "source_dann", "fixmatch",
    "handmade_fixmatch", "translated", "translated_self_training", "translated_dann",
    "translated_fixmatch",
)  # fmt: skip


def merged_results(records: list[Path]) -> dict[str, list[dict[str, Any]]]:
    """configuration -> its runs (one a translator seed), from every record."""
    results: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        for name, runs in json.loads(record.read_text())["results"].items():
            results.setdefault(name, []).extend(runs)
    return {name: sorted(runs, key=lambda run: run["seed"]) for name, runs in results.items()}


def _cell(values: list[str]) -> str:
    """One value when every translator seed gave the same, else them all."""
    return values[0] if len(set(values)) == 1 else ", ".join(values)


def _accuracy(runs: list[dict[str, Any]], arm: str) -> str:
    if arm not in runs[0]["downstream"]:
        return ""
    return _cell([f"{run['downstream'][arm]['accuracy_mean'] * 100:.1f}" for run in runs])


def _gain(entry: dict[str, Any]) -> str:
    said = f"{entry['mean'] * 100:+.1f} ± {entry['stderr'] * 100:.1f}".replace(
        "-", "\N{MINUS SIGN}"
    )
    return f"**{said}**" if entry["significant"] else said


def _scores(runs: list[dict[str, Any]], method: str) -> str:
    if method not in runs[0]["evaluate"]:
        return ""
    entries = [run["evaluate"][method] for run in runs]
    kept = _cell([f"{entry['label_preservation']:.3f}" for entry in entries])
    return f"{kept} / " + _cell([f"{entry['fid']:.1f}" for entry in entries])


def tables(results: dict[str, list[dict[str, Any]]]) -> str:
    """The three markdown tables: the translators' scores, accuracy by arm, the gains."""
    names = [name for name in DIRECTIONS if name in results]
    head = "| {} | " + " | ".join(DIRECTIONS[name] for name in names) + " |"
    rule = "|---" * (len(names) + 1) + "|"
    lines = [head.format("images of A, in B's evaluator: label preservation / FID"), rule]
    for method in ("identity", "handmade", "translation"):
        lines.append(
            f"| `{method}` | " + " | ".join(_scores(results[n], method) for n in names) + " |"
        )
    lines += ["", head.format("arm: accuracy on B's test split (%)"), rule]
    for arm in ARMS:
        cells = [_accuracy(results[name], arm) for name in names]
        if any(cells):
            lines.append(f"| `{arm}` | " + " | ".join(cells) + " |")
    gains = sorted(
        {key for name in names for key in results[name][0]["downstream"] if key.startswith("gain_")}
    )
    lines += ["", head.format("gain (points)"), rule]
    for gain in gains:
        cells = [
            _cell([_gain(run["downstream"][gain]) for run in results[name]])
            if gain in results[name][0]["downstream"]
            else ""
            for name in names
        ]
        lines.append(f"| `{gain.removeprefix('gain_')}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("records", nargs="+", type=Path, help="bench/translation.py records")
    args = parser.parse_args(argv)
    print(tables(merged_results(args.records)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The default's figures that the README and the guide quote, written from the recorded files.

A page quotes a figure of the default only inside a block

    <!-- figures:NAME -->
    ...
    <!-- /figures -->

whose text this tool makes from the record the pipeline wrote (`data/eval/metrics.json`), so
the pages cannot drift from it. `--check` (what the tests run) names every block whose text
is not what the record gives, and exits 1; `--write` rewrites those blocks.

Usage:
    python tools/figures.py --check
    python tools/figures.py --write     # after dvc repro
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PAGES = ("README.md", "docs/benchmarks.md", "docs/models.md")
EVAL = "data/eval/metrics.json"
NONE = "\N{EN DASH}"  # a cell with no value
BLOCK = re.compile(r"(<!-- figures:([\w-]+) -->\n)(.*?)(<!-- /figures -->)", re.S)

Records = dict[str, Any]


def read_records(root: Path) -> Records:
    """The recorded files the blocks are made from, by their path."""
    records = {}
    for name in (EVAL,):
        try:
            records[name] = json.loads((root / name).read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise SystemExit(f"{name}: cannot be read ({error}); run dvc repro first") from None
    return records


def _value(record: dict[str, Any], key: str, source: str) -> float:
    node: Any = record
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise SystemExit(f"{source}: no {key!r}, which a page quotes")
        node = node[part]
    return float(node)


def readme_scores(records: Records) -> str:
    """The README's sentence on the default's scores."""
    scores = records[EVAL]

    def get(key: str) -> float:
        return _value(scores, key, EVAL)

    return (
        "- **Scores** of the generator in `data/eval/metrics.json`. With the default params,\n"
        f"  `fid` is {get('fid'):.2f} against the real data's own {get('real_floor.fid'):.2f}, "
        f"`precision` {get('precision'):.2f}, `recall` {get('recall'):.2f},\n"
        f"  {get('classes_covered'):.0f} of 10 digits are covered, "
        f"{get('conditional_accuracy'):.1%} of the samples are read as the digit they were\n"
        f"  drawn for, and a classifier trained on them alone gets {get('cas'):.1%} on real "
        f"test digits (`cas`;\n  {get('cas_real'):.1%} for one trained on real digits). "
        "`tools/figures.py` writes these figures\n"
        "  from that file. The guide's [Scores](docs/scores.md) page says what each number "
        "means, and\n  `data/downstream/metrics.json` whether the samples make a classifier "
        "better.\n"
    )


SCORE_ROWS = (
    ("fid", "{:.2f}"),
    ("kid_mean", "{:.2f}"),
    ("precision", "{:.3f}"),
    ("recall", "{:.3f}"),
    ("isc_mean", "{:.2f}"),
    ("classes_covered", "{:.0f}"),
    ("class_kl", "{:.4f}"),
    ("conditional_accuracy", "{:.3f}"),
    ("cas", "{:.3f}"),
    ("intra_class_diversity", "{:.2f}"),
    ("intra_class_diversity_min", "{:.2f}"),
    ("nn_distance_ratio", "{:.2f}"),
)


def default_scores_table(records: Records) -> str:
    """The benchmarks page's table of the default's scores beside the real floor."""
    scores, floor = records[EVAL], records[EVAL].get("real_floor", {})
    lines = ["| score | the default (`dvc repro`) | real floor |", "| --- | --- | --- |"]
    for key, form in SCORE_ROWS:
        real = form.format(float(floor[key])) if key in floor else NONE
        lines.append(f"| {key} | {form.format(_value(scores, key, EVAL))} | {real} |")
    if "cas_real" in scores:
        real_cas = f"{scores['cas_real']:.3f}"
        lines.append(f"| cas of a classifier trained on real digits | {NONE} | {real_cas} |")
    return "\n".join(lines) + "\n"


BLOCKS: dict[str, Callable[[Records], str]] = {
    "readme-scores": readme_scores,
    "default-scores": default_scores_table,
}


def render_page(text: str, records: Records, page: str) -> str:
    """`text` with every figures block made from `records`."""

    def fill(match: re.Match[str]) -> str:
        name = match[2]
        if name not in BLOCKS:
            raise SystemExit(f"{page}: unknown figures block {name!r} (known: {sorted(BLOCKS)})")
        return match[1] + BLOCKS[name](records) + match[4]

    return BLOCK.sub(fill, text)


def stale_blocks(root: Path) -> list[str]:
    """`page: block` for every block whose text is not what the records give."""
    records, stale = read_records(root), []
    for page in PAGES:
        text = (root / page).read_text(encoding="utf-8")
        made = dict((m[2], m[3]) for m in BLOCK.finditer(render_page(text, records, page)))
        stale += [f"{page}: {m[2]}" for m in BLOCK.finditer(text) if made[m[2]] != m[3]]
    return stale


def write(root: Path) -> None:
    records = read_records(root)
    for page in PAGES:
        path = root / page
        text = path.read_text(encoding="utf-8")
        path.write_text(render_page(text, records, page), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--check", action="store_true", help="exit 1 if a block is stale")
    action.add_argument("--write", action="store_true", help="rewrite the stale blocks")
    parser.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.write:
        write(args.root)
        return 0
    stale = stale_blocks(args.root)
    for block in stale:
        print(f"{block}: not what the records give; run python tools/figures.py --write")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())

"""`ganops exps`: the experiments as a person reads them, in a normal terminal.

`dvc exp show` lists every param, every metric of five files and a hash of every code
dependency: over 200 columns. This reads the same data (`dvc exp show --json`) and prints
one row a revision (the workspace, each commit, each experiment) with the headline scores,
the training time and only the params whose values differ between the rows. The time is not
in git (`run.json` holds what the params determine): it comes from the train run of each
row's params hash in the repository's MLflow store, or the workspace's `mlflow_run.json`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ganops.dotted import flatten_mapping
from ganops.errors import GanopsError, first_line
from ganops.noise import revision_params
from ganops.revisions import with_run
from ganops.run_record import link_path

EVAL = "data/eval/metrics.json"
RUN = "data/train/run.json"
# (title, metrics file, key, format): the scores a reader compares first, then the time
HEADLINE = (
    ("fid", EVAL, "fid", "{:.2f}"),
    ("precision", EVAL, "precision", "{:.3f}"),
    ("recall", EVAL, "recall", "{:.3f}"),
    ("cas", EVAL, "cas", "{:.3f}"),
    ("train s", RUN, "train_time_s", "{:.0f}"),
)
NONE = "-"


@dataclass(frozen=True)
class Row:
    """One revision: its name, when it was made, its params (flat) and metrics (per file)."""

    name: str
    created: str
    params: dict[str, Any]
    metrics: dict[str, dict[str, Any]]


def _metrics(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = data.get("metrics") or {}
    return {file: flatten_mapping((entry or {}).get("data") or {}) for file, entry in found.items()}


def _row(name: str, data: dict[str, Any]) -> Row:
    created = str(data.get("timestamp") or "")[:16].replace("T", " ")
    return Row(name, created, revision_params(data), _metrics(data))


def rows_of(entries: list[dict[str, Any]]) -> list[Row]:
    """Every revision of `dvc exp show --json` that has data: commits and their
    experiments, in its order (a failed or queued experiment has none yet)."""
    rows = []
    for entry in entries:
        label = str(entry.get("name") or entry.get("rev") or "")[:12]
        if entry.get("data"):
            rows.append(_row(label, entry["data"]))
        for experiment in entry.get("experiments") or []:
            for revision in experiment.get("revs") or []:
                if revision.get("data"):
                    name = revision.get("name") or experiment.get("name") or revision.get("rev")
                    rows.append(_row(f"  {name}", revision["data"]))
    return rows


def _varying(rows: list[Row]) -> list[str]:
    """The params whose value is not the same in every row, in params.yaml's order."""
    keys: list[str] = []
    for row in rows:
        keys += [key for key in row.params if key not in keys]
    return [key for key in keys if len({repr(row.params.get(key)) for row in rows}) > 1]


def _cell(row: Row, file: str, key: str, form: str) -> str:
    value = row.metrics.get(file, {}).get(key)
    return form.format(value) if isinstance(value, int | float) else NONE


def render(rows: list[Row], width: int = 160) -> str:
    """The rows as a text table no wider than `width` (the params column is cut to fit)."""
    if not rows:
        return "no experiments: run dvc repro, or dvc exp run -S key=value"
    varying = _varying(rows)
    table = [["Experiment", "Created", *(title for title, *_ in HEADLINE), "params that differ"]]
    for row in rows:
        scores = [_cell(row, file, key, form) for _, file, key, form in HEADLINE]
        changed = " ".join(f"{key}={_short(row.params.get(key))}" for key in varying)
        table.append([row.name, row.created, *scores, changed or NONE])
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]) - 1)]
    lines = []
    for line in table:
        fixed = "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(line[:-1]))
        text = f"{fixed}  {line[-1]}"
        lines.append(text if len(text) <= width else text[: width - 1] + "…")
    return "\n".join(lines)


def _short(value: Any) -> str:
    return "null" if value is None else str(value)


def show(root: Path, width: int, extra: list[str] | None = None) -> str:
    """`dvc exp show --json` of the project at `root` (with `extra` options, e.g. `-A`),
    rendered."""
    command = [sys.executable, "-m", "dvc", "exp", "show", "--json", *(extra or [])]
    done = subprocess.run(command, cwd=root, capture_output=True, text=True, check=False)
    if done.returncode:
        raise GanopsError(f"dvc exp show failed: {first_line(done.stderr or done.stdout)}")
    try:
        entries = json.loads(done.stdout)
    except ValueError:
        raise GanopsError("dvc exp show --json printed no JSON") from None
    rows = rows_of(entries if isinstance(entries, list) else [])
    for row in rows:
        if (record := row.metrics.get(RUN)) is not None:
            link = link_path(root / RUN) if row.name == "workspace" else None
            row.metrics[RUN] = with_run(root, record, link)
    return render(rows, width)

"""A Markdown report comparing the workspace's pipeline results with a git revision.

What CI posts on a pull request, and what `ganops report --baseline REV` writes locally:
the params that changed (`dvc params diff`), every metric with its delta and a better/worse
verdict (`dvc metrics diff`), the training time, the final sample grids of both sides and
the MLflow runs. The baseline may be a commit, branch, tag or DVC experiment name.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from ganops.errors import DataError
from ganops.io import write_bytes, write_text
from ganops.metrics.directions import (
    DIRECTIONS,
    REFERENCE_PREFIX,
    Estimate,
    SeedSpread,
    judge_with_noise,
)
from ganops.noise import (
    SPREAD_FILE,
    RecordedSpread,
    Values,
    read_spread,
    usable_spread,
)
from ganops.revisions import (
    changed_params,
    dvc_json,
    json_or_empty,
    local_store_holds,
    params_at,
    read_at_revision,
    resolve_revision,
    seed_sweeps,
    stale_stages,
    with_run,
    workspace_commit,
)
from ganops.run_record import link_path, relative_store

log = logging.getLogger(__name__)

MISSING = "\N{EN DASH}"  # a value one side does not have
GRID_FILES = {"baseline": "grid_baseline.png", "workspace": "grid_workspace.png"}


@dataclass(frozen=True)
class PipelinePaths:
    """The pipeline files the report reads, from `vars.paths` in dvc.yaml (written once)."""

    grid: str
    run_record: str

    @classmethod
    def from_dvc_yaml(cls, root: Path) -> PipelinePaths:
        dvc_yaml = root / "dvc.yaml"
        try:
            pipeline = YAML(typ="safe", pure=True).load(dvc_yaml.read_text())
            paths = next(v["paths"] for v in pipeline["vars"] if "paths" in v)
            return cls(grid=f"{paths['samples']}/grid.png", run_record=paths["run_record"])
        except (OSError, KeyError, TypeError, StopIteration) as error:
            raise DataError(f"{dvc_yaml}: no vars.paths with samples and run_record") from error


@dataclass(frozen=True)
class Side:
    """One side of the comparison: its label, commit, run record and grid (when available)."""

    label: str
    commit: str
    run: dict[str, Any]
    grid: bytes | None
    grid_missing: str = ""
    in_store: bool | None = None  # whether the local store holds its run (None: no such store)


@dataclass
class Comparison:
    """Everything the report shows, gathered before any of it is rendered."""

    baseline: Side
    workspace: Side
    params: dict[str, tuple[Any, Any]]  # key -> (baseline, workspace)
    metrics: list[tuple[str, str, Any, Any]] = field(default_factory=list)  # file, key, old, new
    stale: list[str] = field(default_factory=list)  # workspace stages dvc repro would rerun
    seeds: dict[str, Values] = field(default_factory=dict)  # side -> a seed sweep's values
    spread: RecordedSpread | None = None  # the default's seed-to-seed spread, as recorded
    stale_spread: str = ""  # why the recorded spread is not used: measured on other params

    def estimates(self, path: str, key: str, old: Any, new: Any) -> tuple[Estimate, Estimate]:
        """Each side's value: the mean of its seeds when it has several, else its one."""
        sides = []
        for side, value in (("baseline", old), ("workspace", new)):
            values = self.seeds.get(side, {}).get(path, {}).get(key, [])
            sides.append(Estimate.of(values if len(values) > 1 else [float(value)]))
        return sides[0], sides[1]


def _metric_order(key: str) -> tuple[int, int, str]:
    """Scores with a direction first (registry order), then the rest, the real floor last."""
    order = list(DIRECTIONS)
    if key in DIRECTIONS:
        return (0, order.index(key), key)
    return (2 if key.startswith(REFERENCE_PREFIX) else 1, 0, key)


def metric_values(root: Path, commit: str) -> list[tuple[str, str, Any, Any]]:
    """`(file, key, old, new)` for every metric on either side, changed or not."""
    diff = dvc_json(root, "metrics", "diff", commit, "--all")
    return [
        (path, key, changes[key].get("old"), changes[key].get("new"))
        for path, changes in sorted(diff.items())
        for key in sorted(changes, key=_metric_order)
    ]


def compare(root: Path, baseline: str) -> Comparison:
    """Gather both sides: params, metrics, run records and grids."""
    paths = PipelinePaths.from_dvc_yaml(root)
    commit = resolve_revision(root, baseline)
    base_grid, base_missing = read_at_revision(root, commit, paths.grid)
    base_run, _ = read_at_revision(root, commit, paths.run_record)
    grid_file = root / paths.grid
    run_file = root / paths.run_record
    work_run = json_or_empty(run_file.read_bytes() if run_file.is_file() else None)
    work_run = with_run(root, work_run, link_path(run_file))
    workspace = Side(
        label="workspace",
        commit=workspace_commit(root),
        run=work_run,
        grid=grid_file.read_bytes() if grid_file.is_file() else None,
        grid_missing="" if grid_file.is_file() else f"{paths.grid} is missing; run dvc repro",
        in_store=local_store_holds(root, work_run),
    )
    base_record = with_run(root, json_or_empty(base_run))
    held = local_store_holds(root, base_record)
    base_side = Side(baseline, commit, base_record, base_grid, base_missing, held)
    metrics = [m for m in metric_values(root, commit) if m[0] != paths.run_record]
    spread, stale_spread = usable_spread(read_spread(root), params_at(root, commit))
    return Comparison(
        baseline=base_side,
        workspace=workspace,
        params=changed_params(root, commit),
        metrics=metrics,
        stale=stale_stages(root),
        seeds=seed_sweeps(root, commit),
        spread=spread,
        stale_spread=stale_spread,
    )


def _number(value: Any) -> str:
    if value is None:
        return MISSING
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"`{value}`"
    return str(value) if isinstance(value, int) else f"{value:.4g}"


def _numeric(*values: Any) -> bool:
    return all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)


def _delta(old: Any, new: Any) -> str:
    if not _numeric(old, new):
        return "new" if old is None else ("removed" if new is None else "")
    change = new - old
    return "0" if change == 0 else f"{change:+.4g}"


def _cell(estimate: Estimate) -> str:
    """A side's value: `27.8`, or `27.8 ± 0.61 (3 seeds)` for a mean with its error."""
    if estimate.variance is None:
        return _number(estimate.mean)
    error = (estimate.variance / estimate.count) ** 0.5
    return f"{estimate.mean:.4g} ± {error:.2g} ({estimate.count} seeds)"


def _spread(comparison: Comparison, key: str) -> SeedSpread | None:
    """The default's recorded seed-to-seed spread of `key`, with its number of seeds."""
    recorded = comparison.spread
    std = recorded.of(key) if recorded else None
    return None if recorded is None or std is None else SeedSpread(std, recorded.seeds)


def _metric_row(comparison: Comparison, path: str, key: str, old: Any, new: Any) -> str:
    if not _numeric(old, new):
        cells = (_number(old), _number(new), _delta(old, new), "")
    else:
        before, after = comparison.estimates(path, key, old, new)
        verdict = judge_with_noise(key, before, after, _spread(comparison, key))
        cells = (_cell(before), _cell(after), _delta(before.mean, after.mean), verdict)
    return "| " + " | ".join((f"`{path}`", f"`{key}`", *cells)) + " |"


def _noise_note(comparison: Comparison) -> str:
    """How the verdicts were reached: seeds a side, and the recorded spread where used."""
    counts = {
        side: max((len(v) for file in values.values() for v in file.values()), default=1)
        for side, values in comparison.seeds.items()
    }
    seeds = ", ".join(f"{side} {counts.get(side, 1)}" for side in ("baseline", "workspace"))
    note = (
        f"Seeds a side: {seeds}. A change is better or worse only where Welch's t-test at 95% "
        "(two-sided) says so; otherwise it is within noise, and with no spread to judge by "
        "(one seed, or seeds that never moved) the noise is unknown."
    )
    if min(counts.get(side, 1) for side in ("baseline", "workspace")) == 1:
        spread = comparison.spread
        if comparison.stale_spread:
            return note + (
                f" The seed-to-seed spread recorded in `{SPREAD_FILE}` is stale "
                f"({comparison.stale_spread}), so one-seed verdicts say the noise is unknown; "
                "`python bench/seed_spread.py` re-measures it."
            )
        note += (
            f" A side with one seed takes the seed-to-seed spread of the default recorded in "
            f"`{SPREAD_FILE}` ({spread.recorded}, {spread.seeds} seeds)."
            if spread
            else f" No seed-to-seed spread is recorded (`{SPREAD_FILE}`), so one-seed "
            "verdicts say the noise is unknown."
        )
    return note


def _hardware_note(base: Side, work: Side) -> list[str]:
    """Why the bytes differ when the two sides trained on different hardware: another number
    of CPU threads, unpinned kernels, a GPU, or a record from before the kernel pins held
    across CPU makers (`cpu, AVX2` and `cpu, AVX-512` name a kind of CPU, not threads)."""
    old, new = base.run.get("hardware"), work.run.get("hardware")
    if not old or not new or old == new:
        return []
    threads = [_threads(side) for side in (old, new)]
    advice = (
        f" `OMP_NUM_THREADS={threads[0]} dvc repro` trains with the baseline's threads."
        if all(threads) and "unpinned" not in old + new
        else ""
    )
    return [
        "",
        f"**Other hardware:** the baseline trained on `{old}`, the workspace on `{new}`. "
        "On the CPU a run's bytes depend on the number of threads torch splits its sums "
        "over and on ganops' kernel pins (records that name a kind of CPU come from before "
        "the pins held across Intel and AMD CPUs); a GPU rounds otherwise again. So the same "
        "params give other bytes, and scores that differ as another seed's would (docs/gpu.md, "
        f"Reproducibility across machines).{advice}",
    ]


def _threads(hardware: str) -> int | None:
    """2 of `cpu, 2 threads`; None for a GPU or an older record."""
    found = re.match(r"cpu, (\d+) threads", hardware)
    return int(found[1]) if found else None


def _run_line(role: str, side: Side) -> str:
    line = _run_link(role, side)
    if conditioning := side.run.get("conditioning"):  # older records do not say
        line += f"; the generator: {conditioning}"
    return line


def _run_link(role: str, side: Side) -> str:
    run_id = side.run.get("run_id")
    if not run_id:
        return f"- {role}: no MLflow run recorded"
    uri, experiment = str(side.run.get("tracking_uri", "")), side.run.get("experiment_id")
    if uri.startswith(("http://", "https://")) and experiment is not None:
        link = f"{uri.rstrip('/')}/#/experiments/{experiment}/runs/{run_id}"
        return f"- {role}: [run `{run_id}`]({link})"
    if (local := relative_store(uri)) and side.in_store is False:
        where = f", not in the repository's local store `{local}` here (logged on another machine)"
    elif local:
        where = f" in the repository's local store `{local}`"
    else:
        where = f" in `{uri}`" if uri else ""
    return f"- {role}: run `{run_id}`{where}"


def _seconds(run: dict[str, Any]) -> float | None:
    value = run.get("train_time_s")
    return float(value) if isinstance(value, int | float) else None


def render(comparison: Comparison) -> str:
    """The report as Markdown; grids are referenced as files beside it (GRID_FILES)."""
    base, work = comparison.baseline, comparison.workspace
    lines = [
        "## ganops retraining report",
        "",
        f"Workspace (`{work.commit[:12]}`{work.commit[40:]}) against baseline "
        f"`{base.label}` (`{base.commit[:12]}`).",
        "",
    ]
    if comparison.stale:
        lines += [
            f"**Out of date:** the workspace's {', '.join(comparison.stale)} results do not "
            "match its params or code; run `dvc repro` for a fair comparison.",
            "",
        ]
    lines += [
        "### Changed params",
        "",
    ]
    if comparison.params:
        lines += ["| param | baseline | workspace |", "| --- | --- | --- |"]
        for key, (old, new) in comparison.params.items():
            lines.append(f"| `{key}` | {_number(old)} | {_number(new)} |")
    else:
        lines.append("No params changed.")

    lines += ["", "### Metrics", ""]
    if comparison.metrics:
        lines += [
            "| file | metric | baseline | workspace | change | verdict |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for path, key, old, new in comparison.metrics:
            lines.append(_metric_row(comparison, path, key, old, new))
        lower = ", ".join(k for k, way in DIRECTIONS.items() if way == "lower")
        higher = ", ".join(k for k, way in DIRECTIONS.items() if way == "higher")
        lines += [
            "",
            f"Lower is better: {lower}. Higher is better: {higher}. `nn_distance_ratio` is "
            f"best near 1. `{REFERENCE_PREFIX}*` is the real data scored against itself: "
            "the yardstick, not a result.",
            "",
            _noise_note(comparison),
            *_hardware_note(base, work),
        ]
    else:
        lines.append("No metrics on either side.")

    old_s, new_s = _seconds(base.run), _seconds(work.run)
    lines += ["", "### Training time", ""]
    if old_s is not None and new_s is not None:
        lines.append(f"{old_s:.1f} s → {new_s:.1f} s ({new_s - old_s:+.1f} s)")
    else:
        lines.append(
            f"baseline {MISSING if old_s is None else f'{old_s:.1f} s'}, "
            f"workspace {MISSING if new_s is None else f'{new_s:.1f} s'}"
        )

    lines += ["", "### Final sample grids", "", "| baseline | workspace |", "| --- | --- |"]
    cells = [
        f"![{name} grid]({GRID_FILES[name]})"
        if side.grid is not None
        else f"unavailable ({side.grid_missing})"
        for name, side in (("baseline", base), ("workspace", work))
    ]
    lines.append(f"| {cells[0]} | {cells[1]} |")

    lines += ["", "### MLflow", "", _run_line("baseline", base), _run_line("workspace", work), ""]
    return "\n".join(lines)


def write_report(root: Path, baseline: str, out: Path) -> Comparison:
    """Compare the workspace at `root` with `baseline`; write `out` and the grids beside it."""
    comparison = compare(root, baseline)
    for name, side in (("baseline", comparison.baseline), ("workspace", comparison.workspace)):
        if side.grid is not None:
            write_bytes(out.parent / GRID_FILES[name], side.grid)
    write_text(out, render(comparison))
    return comparison


def headline_verdict(comparison: Comparison, key: str = "fid") -> str:
    """The report's verdict on the evaluate stage's `key` (`better`, `within noise`, ...)."""
    for path, name, old, new in comparison.metrics:
        if name == key and path.endswith("eval/metrics.json") and _numeric(old, new):
            before, after = comparison.estimates(path, key, old, new)
            return judge_with_noise(key, before, after, _spread(comparison, key))
    raise DataError(f"no {key} on both sides of the comparison: run dvc repro first")

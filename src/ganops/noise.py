"""How much a metric moves from seed to seed, for verdicts that can tell a change from noise.

Two sources: the runs of a seed sweep (DVC experiments that differ from a side's params only
in `train.seed`, read from `dvc exp show --json`), and, for a side with a single seed, the
seed-to-seed spread of the default configuration recorded in `docs/seed_spread.json` by
`bench/seed_spread.py`. The record names the params it was measured on (their hash, the seed
set aside: `recipe_hash`); a verdict against other params does not use it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ganops.config import Params, params_hash
from ganops.dotted import flatten_mapping
from ganops.params import load_params

SPREAD_FILE = Path("docs") / "seed_spread.json"
SEED_KEY = "train.seed"
PARAMS_FILE = "params.yaml"

Values = dict[str, dict[str, list[float]]]  # metrics file -> metric -> one value per seed


def _revisions(entries: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """The data of every revision in `dvc exp show --json`: each commit (or the workspace)
    and its experiments; a failed experiment has none."""
    for entry in entries:
        if entry.get("data"):
            yield entry["data"]
        for experiment in entry.get("experiments") or []:
            for revision in experiment.get("revs") or []:
                if revision.get("data"):
                    yield revision["data"]


def revision_params(data: dict[str, Any]) -> dict[str, Any]:
    """A revision's params.yaml as flat dotted keys."""
    params = (data.get("params") or {}).get(PARAMS_FILE) or {}
    return flatten_mapping(params.get("data") or {})


def _numbers(metrics: dict[str, Any]) -> dict[str, float]:
    return {
        key: float(value)
        for key, value in flatten_mapping(metrics).items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    }


def sweep_values(entries: list[dict[str, Any]], reference: dict[str, Any]) -> Values:
    """The metrics of every revision whose params equal `reference` (flat) but for
    `train.seed`, one revision per seed: a seed sweep's runs, the reference's own among them."""
    same = {key: value for key, value in reference.items() if key != SEED_KEY}
    by_seed: dict[Any, dict[str, Any]] = {}
    for data in _revisions(entries):
        params = revision_params(data)
        if not params or {k: v for k, v in params.items() if k != SEED_KEY} != same:
            continue
        by_seed.setdefault(params.get(SEED_KEY), data.get("metrics") or {})
    values: Values = {}
    for _, metrics in sorted(by_seed.items(), key=lambda item: str(item[0]).zfill(20)):
        for file, content in metrics.items():
            for key, value in _numbers((content or {}).get("data") or {}).items():
                values.setdefault(file, {}).setdefault(key, []).append(value)
    return values


def other_seeds(params_file: Path | str, count: int) -> str:
    """The `train.seed` values to queue so that the workspace has `count` seeds with its own
    run among them: the first `count - 1` others from 0 up, as DVC's choice sweep ("1,2").
    The workspace's own seed is not queued again: the train stage's persistent checkpoints
    keep it out of DVC's run cache, so it would train a second time for the same numbers."""
    own = load_params(Path(params_file)).train.seed
    seeds = [seed for seed in range(count) if seed != own][: max(count - 1, 0)]
    return ",".join(str(seed) for seed in seeds)


@dataclass(frozen=True)
class RecordedSpread:
    """The seed-to-seed standard deviation of each metric of the default configuration."""

    std: dict[str, float]
    seeds: int
    recorded: str  # when and with what: shown in the report
    params_hash: str = ""  # `recipe_hash` of the params it was measured on ("" = not recorded)
    train_images: int | None = None  # the training split's size those runs had (None = unsaid)

    def of(self, key: str) -> float | None:
        return self.std.get(key)


def read_spread(root: Path) -> RecordedSpread | None:
    """The spread recorded in `<root>/docs/seed_spread.json`, or None when there is none."""
    path = root / SPREAD_FILE
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
        std = {key: float(entry["std"]) for key, entry in payload["metrics"].items()}
        measured_on = str(payload.get("params_hash", ""))
        size = payload.get("train_images")
        train_images = int(size) if size is not None else None
        return RecordedSpread(
            std, len(payload["seeds"]), str(payload["recorded"]), measured_on, train_images
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def recipe_hash(params: Params, train_images: int | None = None) -> str:
    """The params hash of `params` with `train.seed` set aside: what every run of a seed sweep
    shares, and what a recorded spread belongs to. A GAN counted in `train.steps` hashes as
    its training does, in the passes it takes, when the size of its training split
    (`train_images`) is known."""
    train = params.train
    if train.epochs is None and train.steps is not None and train_images is not None:
        per_epoch = max(train_images * train.epoch_repeats // train.batch_size, 1)
        train = train.model_copy(update={"epochs": math.ceil(train.steps / per_epoch)})
    unseeded = params.model_copy(update={"train": train.model_copy(update={"seed": 0})})
    return params_hash(unseeded)


def usable_spread(
    spread: RecordedSpread | None, baseline: Params | None
) -> tuple[RecordedSpread | None, str]:
    """The recorded spread when it was measured on the `baseline`'s params (None: they could
    not be read), else None and why it is stale ("" when none is recorded)."""
    if spread is None:
        return None, ""
    recipe = recipe_hash(baseline, spread.train_images) if baseline is not None else None
    if recipe is not None and spread.params_hash == recipe:
        return spread, ""
    measured = f"params `{spread.params_hash}`" if spread.params_hash else "params it does not name"
    theirs = f"`{recipe}`" if recipe else "unreadable"
    return None, f"it was measured on {measured}, the baseline's are {theirs}"

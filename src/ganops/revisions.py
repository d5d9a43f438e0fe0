"""What the report reads of a revision and of the workspace: git, DVC's params, metrics,
status and experiments, files at a commit (git, DVC's cache or remote), and whether the
repository's MLflow store holds a run."""

from __future__ import annotations

import json
import logging
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from ganops.config import Params
from ganops.errors import ConfigError, DataError, first_line
from ganops.noise import Values, revision_params, sweep_values
from ganops.params import parse_params
from ganops.run_record import LINK_NAME, relative_store

log = logging.getLogger("ganops.report")


def _run(root: Path, args: list[str], what: str) -> str:
    done = subprocess.run(args, cwd=root, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        reason = lines[-1].strip() if lines else f"exit status {done.returncode}"
        raise DataError(f"{what}: {reason}")
    return done.stdout


def _dvc_parsed(root: Path, *args: str) -> Any:
    """What `dvc <args> --json` prints, parsed (None when it prints nothing)."""
    out = _run(root, [sys.executable, "-m", "dvc", *args, "--json"], f"dvc {' '.join(args)}")
    return json.loads(out) if out.strip() else None


def dvc_json(root: Path, *args: str) -> dict[str, Any]:
    return dict(_dvc_parsed(root, *args) or {})


def resolve_revision(root: Path, rev: str) -> str:
    """The commit of `rev`: a git revision, or the name of a DVC experiment."""
    found = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"],
        cwd=root, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if found.returncode == 0:
        return found.stdout.strip()
    refs = _run(root, ["git", "for-each-ref", "--format=%(objectname) %(refname)", "refs/exps"],
                "git for-each-ref")  # fmt: skip
    for line in refs.splitlines():
        commit, ref = line.split(" ", 1)
        if ref.rsplit("/", 1)[-1] == rev:
            return commit
    raise ConfigError(f"--baseline: {rev!r} is neither a git revision nor a DVC experiment")


def changed_params(root: Path, commit: str) -> dict[str, tuple[Any, Any]]:
    """`{"train.epochs": (old, new)}` for each param that differs from `commit`."""
    diff = dvc_json(root, "params", "diff", commit)
    return {
        key: (change.get("old"), change.get("new"))
        for changes in diff.values()
        for key, change in sorted(changes.items())
    }


def stale_stages(root: Path) -> list[str]:
    """Stages whose outputs do not match the workspace's params, code or data."""
    return sorted(dvc_json(root, "status"))


def read_at_revision(root: Path, commit: str, path: str) -> tuple[bytes | None, str]:
    """`path` as of `commit`, from git, DVC's cache or its remote; else None and why not."""
    import dvc.api

    try:
        return dvc.api.read(path, repo=str(root), rev=commit, mode="rb"), ""
    except Exception as error:  # DVC raises many kinds; any of them means "not available"
        reason = first_line(error)
        log.debug("%s@%s unavailable: %s", path, commit, reason)
        return None, reason


def json_or_empty(data: bytes | None) -> dict[str, Any]:
    try:
        return dict(json.loads(data or b"{}"))
    except (ValueError, TypeError):
        return {}


def workspace_commit(root: Path) -> str:
    head = _run(root, ["git", "rev-parse", "HEAD"], "git rev-parse HEAD").strip()
    dirty = _run(root, ["git", "status", "--porcelain", "--untracked-files=no"], "git status")
    return head + (" with uncommitted changes" if dirty.strip() else "")


def seed_sweeps(root: Path, commit: str) -> dict[str, Values]:
    """Both sides' seed sweeps from `dvc exp show`: the workspace's experiments, and those of
    the baseline commit, each matched to its side's params but for `train.seed`."""
    sweeps: dict[str, Values] = {}
    for side, rev, args in (
        ("workspace", "workspace", ()),
        ("baseline", commit, ("--rev", commit)),
    ):
        entries = dvc_json_list(root, "exp", "show", *args)
        own = next((entry["data"] for entry in entries if entry.get("rev") == rev), None)
        if own:
            sweeps[side] = sweep_values(entries, revision_params(own))
    return sweeps


def dvc_json_list(root: Path, *args: str) -> list[dict[str, Any]]:
    parsed = _dvc_parsed(root, *args)
    return parsed if isinstance(parsed, list) else []


LOCAL_STORE = "mlflow.db"  # the repository's own store, at its root
_TRAIN_RUN = (
    "SELECT r.run_uuid, r.experiment_id, m.value FROM runs r"
    " JOIN tags t ON t.run_uuid = r.run_uuid JOIN latest_metrics m ON m.run_uuid = r.run_uuid"
    " WHERE t.key = 'params.hash' AND t.value = ? AND m.key = 'perf/train_time_s'"
    " AND r.lifecycle_stage = 'active' ORDER BY r.start_time DESC LIMIT 1"
)


def with_run(root: Path, record: dict[str, Any], link_file: Path | None = None) -> dict[str, Any]:
    """A run record (run.json's fields) with its MLflow run: from `link_file` (the
    workspace's mlflow_run.json) when that is of the same params, else the newest train run
    of its params hash in the repository's local store (read-only, without starting MLflow).
    A record that names its run itself (an older layout), or whose run is found nowhere,
    comes back as it is."""
    if record.get("run_id"):
        return record
    if link_file is not None and link_file.name == LINK_NAME and link_file.is_file():
        link = json_or_empty(link_file.read_bytes())
        if link.get("run_id") and link.get("params_hash") == record.get("params_hash"):
            return {**link, **record}
    params_hash, path = str(record.get("params_hash") or ""), root / LOCAL_STORE
    if not params_hash or not path.is_file():
        return record
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as store:
            row = store.execute(_TRAIN_RUN, (params_hash,)).fetchone()
    except sqlite3.Error:
        return record
    if row is None:
        return record
    found = {"run_id": row[0], "experiment_id": str(row[1]), "train_time_s": row[2]}
    return {**found, "tracking_uri": f"sqlite:///{LOCAL_STORE}", **record}


def local_store_holds(root: Path, run: dict[str, Any]) -> bool | None:
    """Whether the repository's sqlite store holds the run a run record names (read-only,
    without starting MLflow); None when the record names no run or another kind of store."""
    local, run_id = relative_store(str(run.get("tracking_uri", ""))), run.get("run_id")
    if not local or not run_id:
        return None
    path = root / local
    if not path.is_file():
        return False
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as store:
            found = store.execute("SELECT 1 FROM runs WHERE run_uuid = ?", (str(run_id),))
            return found.fetchone() is not None
    except sqlite3.Error:
        return None


def params_at(root: Path, commit: str) -> Params | None:
    """The validated params.yaml of `commit`; None when it is missing or no longer valid
    (an older layout)."""
    data, _ = read_at_revision(root, commit, "params.yaml")
    if data is None:
        return None
    try:
        return parse_params(YAML(typ="safe", pure=True).load(data), origin=f"params.yaml@{commit}")
    except (ConfigError, YAMLError):
        return None

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
from ganops.run_record import relative_store

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

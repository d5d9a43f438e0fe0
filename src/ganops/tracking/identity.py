"""Where a run came from: the git commit, whether the tree was dirty, the DVC experiment,
the params hash and the package version, as run tags."""

from __future__ import annotations

import os
import subprocess
from importlib.metadata import version
from pathlib import Path

from ganops.config import Params, params_hash
from ganops.tracking.store import ENV_EXP_NAME


def _git(root: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.rstrip("\n") if done.returncode == 0 else None


def git_state(workdir: Path) -> tuple[str, bool]:
    """`(commit, dirty)` of the checkout at `workdir`.

    Dirty means code, params or config differ from the commit. Pipeline products are left
    out: `dvc.lock`, which `dvc repro` rewrites between stages, and everything under
    `data/`, where DVC writes outputs and their `.gitignore` files.
    """
    commit = (_git(workdir, "rev-parse", "HEAD") or "").strip() or "unknown"
    status = _git(workdir, "status", "--porcelain", "--untracked-files=normal")
    if status is None:
        return commit, True
    paths = [line[3:].strip('"') for line in status.splitlines() if line.strip()]
    changed = [path for path in paths if path != "dvc.lock" and not path.startswith("data/")]
    return commit, bool(changed)


def run_identity(params: Params, workdir: Path) -> dict[str, str]:
    """The tags that say where a run came from."""
    commit, dirty = git_state(workdir)
    tags = {
        "git.commit": commit,
        "git.dirty": str(dirty).lower(),
        "params.hash": params_hash(params),
        "ganops.version": version("ganops"),
        "mlflow.source.git.commit": commit,
    }
    if exp_name := os.environ.get(ENV_EXP_NAME):
        tags["dvc.exp_name"] = exp_name
    return tags

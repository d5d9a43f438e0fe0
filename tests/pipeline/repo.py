"""A copy of the project as a temporary git repo, and the real commands run in it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import mlflow

from tests.helpers import ROOT, last_green_s, merged, run_step, write_params

COPIED = (
    "dvc.yaml",
    "params.yaml",
    "pyproject.toml",
    "Makefile",
    ".dvcignore",
    ".gitignore",
    "pipeline",
    "src",
    "recipes",
    "tools/plots_template.html",  # make plots
)
VENV = Path(sys.executable).parent.parent
# Cheaper than the suite's tiny run, for the tests of the pipeline's plumbing (the report,
# the tracking server) rather than a conditional GAN's scores: one evaluator epoch, and an
# unconditional generator, for which the downstream stage trains no classifiers.
CHEAP: dict[str, dict[str, Any]] = {"evaluator": {"epochs": 1}, "model": {"conditional": False}}


def env() -> dict[str, str]:
    """The environment of a user's shell: this venv first, no MLflow or DVC overrides, and
    not inside a make (under `make test`, a `make` a test runs would be a sub-make: it adds
    "Entering directory" lines to what it prints)."""
    result = dict(os.environ)
    result["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{result.get('PATH', '')}"
    for name in ("MLFLOW_TRACKING_URI", "DVC_EXP_NAME", "MLFLOW_RUN_ID",
                 "MAKELEVEL", "MAKEFLAGS", "MFLAGS", "MAKEOVERRIDES"):  # fmt: skip
        result.pop(name, None)
    result.update(GIT_AUTHOR_NAME="ci", GIT_AUTHOR_EMAIL="ci@example.com",
                  GIT_COMMITTER_NAME="ci", GIT_COMMITTER_EMAIL="ci@example.com")  # fmt: skip
    return result


# How long a command may run: the tiny pipeline's `dvc repro` ran past the 600 s this was
# on 2 cores at load 17-20, so the bound is 1800 s, or 4 times the command's last green run
# in this checkout if that is longer (it only stops one that hangs).
SH_BOUND_S = 1800


def sh(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run a command in `repo`; fail the test with its output if it fails, or with how long
    it took in the last green run if it runs past its bound."""
    step = " ".join(
        [Path(args[0]).name, *[a for a in args[1:] if "/" not in a and "=" not in a][:3]]
    )
    bound_s = max(SH_BOUND_S, 4 * (last_green_s(step) or 0))
    done, _ = run_step(step, list(args), bound_s, cwd=repo, env=env())
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done


def dvc(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return sh(repo, sys.executable, "-m", "dvc", *args)


def make(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`make` with this interpreter's venv, treated as set up so make installs nothing."""
    return sh(repo, "make", *args, f"VENV={VENV}", "-o", f"{VENV}/.installed")


def make_repo(base: Path, overrides: dict[str, Any] | None = None) -> Path:
    """A copy of the project (tracked files only) as a fresh git repo with DVC initialised,
    its params the tiny ones at 2 epochs plus `overrides`."""
    repo = base / "project"
    repo.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, repo / name, ignore=ignore)
        else:
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, repo / name)
    shutil.copytree(
        ROOT / ".dvc", repo / ".dvc", ignore=shutil.ignore_patterns("tmp", "cache", "config.local")
    )
    write_params(repo / "params.yaml", merged({"train": {"epochs": 2}}, overrides or {}))
    sh(repo, "git", "init", "-q", "-b", "main")
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "commit", "-qm", "tiny pipeline")
    return repo


def runs(repo: Path) -> list[mlflow.entities.Run]:
    """Every run in the repo's own store, oldest first."""
    client = mlflow.MlflowClient(f"sqlite:///{repo / 'mlflow.db'}")
    experiments = [e.experiment_id for e in client.search_experiments()]
    return client.search_runs(experiments, order_by=["attributes.start_time ASC"])

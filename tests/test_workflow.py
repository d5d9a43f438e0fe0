"""The GitHub workflow: its triggers, and that it runs the project's own commands."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from tests.helpers import ROOT

WORKFLOW = ROOT / ".github" / "workflows" / "retrain.yml"
PIPELINE_INPUTS = {"params.yaml", "dvc.yaml", "pipeline/**", "src/**"}


def _workflow() -> dict[str, Any]:
    return dict(YAML(typ="safe", pure=True).load(WORKFLOW.read_text()))


def test_triggers_on_pipeline_inputs_and_by_hand() -> None:
    triggers = _workflow()["on"]
    assert set(triggers["pull_request"]["paths"]) == PIPELINE_INPUTS
    assert set(triggers["push"]["paths"]) == PIPELINE_INPUTS
    assert "workflow_dispatch" in triggers


def test_runs_the_projects_own_commands() -> None:
    (job,) = _workflow()["jobs"].values()
    commands = [step["run"] for step in job["steps"] if "run" in step]
    assert "make setup" in commands
    assert any(c.startswith("make retrain BASE=") for c in commands)
    assert "make push" in commands
    assert any("gh pr comment" in c and "data/report/report.md" in c for c in commands)
    # the runner label can be changed without editing the file
    assert "vars.RETRAIN_RUNS_ON" in job["runs-on"]
    assert "secrets.MLFLOW_TRACKING_URI" in job["env"]["MLFLOW_TRACKING_URI"]


def test_make_targets_the_workflow_calls_exist() -> None:
    for target in ("setup", "retrain", "push", "pull"):
        done = subprocess.run(["make", "-n", target, "BASE=main"], cwd=ROOT,
                              capture_output=True, text=True, check=False)  # fmt: skip
        assert done.returncode == 0, done.stderr
    dry = subprocess.run(["make", "-n", "-o", ".venv/.installed", "retrain", "BASE=v1"],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert "dvc repro" in dry and "ganops report --baseline v1 --out data/report/report.md" in dry


def _lint(*paths: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, str(ROOT / "tools" / "lint_workflows.py"), *map(str, paths)]
    return subprocess.run(command, capture_output=True, text=True, check=False)


def test_the_workflow_passes_the_lint_make_lint_runs() -> None:
    done = _lint()
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == "workflows: 1 checked, schema and run scripts clean"
    assert "python tools/lint_workflows.py" in (ROOT / "Makefile").read_text()


def test_a_broken_workflow_fails_the_lint_with_the_line_of_each_finding(tmp_path: Path) -> None:
    text = WORKFLOW.read_text()
    broken = text.replace("    runs-on:", "    runs-onn:", 1).replace(
        "run: make push", "run: make push $UNQUOTED"
    )
    path = tmp_path / "retrain.yml"
    path.write_text(broken)
    done = _lint(path)
    assert done.returncode == 1
    findings = done.stdout.splitlines()
    assert f"{path}: schema: $.jobs.retrain: 'runs-on' is a required property" in findings
    line = next(n for n, text in enumerate(broken.splitlines(), 1) if "$UNQUOTED" in text)
    (shell,) = [finding for finding in findings if "SC2086" in finding]
    assert shell.startswith(f"{path}:{line}: step 'Push data and models")


def test_expressions_in_run_scripts_are_not_read_as_shell(tmp_path: Path) -> None:
    """`${{ }}` is GitHub's, replaced before the shell sees it: the lint must not flag it."""
    path = tmp_path / "ok.yml"
    path.write_text(
        "on: push\njobs:\n  j:\n    runs-on: ubuntu-latest\n    steps:\n"
        '      - run: |\n          if [ "${{ github.event_name }}" = "push" ]; then\n'
        '            echo "${{ secrets.X }}"\n          fi\n'
    )
    done = _lint(path)
    assert done.returncode == 0, done.stdout + done.stderr


def test_without_shellcheck_the_lint_names_the_package(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "lint_workflows.py")],
        env={"PATH": str(tmp_path)},  # no shellcheck on it
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "missing system packages: shellcheck (install them: sudo apt-get install -y shellcheck)"
    )


def test_the_login_step_writes_remote_credentials_only_to_the_local_config(
    tmp_path: Path,
) -> None:
    """The WebDAV/SSH login step, run as the runner runs it: the secrets land in the
    git-ignored `.dvc/config.local` of the default remote, never in `.dvc/config`."""
    (job,) = _workflow()["jobs"].values()
    (login,) = [step for step in job["steps"] if "DVC_REMOTE_USER" in step.get("run", "")]
    assert login["if"] == "env.DVC_REMOTE_USER != ''"
    (tmp_path / ".venv").symlink_to(Path(sys.executable).parent.parent)
    dvc = [sys.executable, "-m", "dvc"]
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run([*dvc, "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run([*dvc, "remote", "add", "-d", "team", "webdav://dav.example.com/ganops"],
                   cwd=tmp_path, check=True, capture_output=True)  # fmt: skip
    secrets = {"DVC_REMOTE_USER": "ci-bot", "DVC_REMOTE_PASSWORD": "s3cret-value"}
    shell = ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c"]  # GitHub's for run:
    done = subprocess.run([*shell, login["run"]], cwd=tmp_path, env={**os.environ, **secrets},
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    local = (tmp_path / ".dvc" / "config.local").read_text()
    assert "['remote \"team\"']" in local and "ci-bot" in local and "s3cret-value" in local
    assert "s3cret-value" not in (tmp_path / ".dvc" / "config").read_text()
    ignored = subprocess.run(["git", "check-ignore", "-q", ".dvc/config.local"], cwd=tmp_path)
    assert ignored.returncode == 0
    for name in secrets:
        assert job["env"][name] == f"${{{{ secrets.{name} }}}}"

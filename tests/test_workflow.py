"""The GitHub workflow: its triggers, and that it runs the project's own commands."""

from __future__ import annotations

import subprocess
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

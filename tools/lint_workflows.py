"""Lint the GitHub workflows, so that a broken one fails `make lint` here rather than on the
first pull request: the workflow schema (check-jsonschema's vendored copy of SchemaStore's
github-workflow schema, offline) and ShellCheck on every `run:` script, read as the bash
GitHub runs it with, its `${{ }}` expressions stood in for as actionlint does.

Usage: python tools/lint_workflows.py [WORKFLOW ...]   (default: .github/workflows/*.yml)
Exit status 1 with one line per finding, `file:line: message`.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parent.parent
EXPRESSION = re.compile(r"\$\{\{.*?\}\}", re.DOTALL)
# What actionlint leaves out for the same reason: an expression stood in for by underscores
# reads to ShellCheck as a constant, or as a variable nobody set.
EXCLUDED = "SC1091,SC2050,SC2154,SC2157,SC2194"
SHELLCHECK_MISSING = (
    "missing system packages: shellcheck (install them: sudo apt-get install -y shellcheck)"
)


def schema_findings(path: Path) -> list[str]:
    """check-jsonschema's verdict on `path` against the github-workflow schema."""
    done = subprocess.run(
        [
            sys.executable, "-m", "check_jsonschema", "--builtin-schema",
            "vendor.github-workflows", "--output-format", "text", str(path),
        ],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode == 0:
        return []
    lines = (done.stdout + done.stderr).splitlines()
    best = [line.strip() for line in lines if line.strip().startswith("$")]
    return [f"{path}: schema: {line}" for line in best] or [f"{path}: {line}" for line in lines]


def run_scripts(path: Path) -> list[tuple[int, str, str]]:
    """Every `run:` script of every job in `path`: (the file's line of the script's first
    line, the step's name, the script)."""
    text = path.read_text()
    lines = text.splitlines()
    workflow: Any = YAML(typ="rt").load(text)
    scripts = []
    for job_id, job in (workflow.get("jobs") or {}).items():
        for index, step in enumerate(job.get("steps") or []):
            if "run" not in step:
                continue
            key_line = step.lc.key("run")[0]  # 0-based
            after_key = lines[key_line].split("run:", 1)[-1].strip()
            block = after_key[:1] in ("|", ">")  # the script starts on the next line
            name = step.get("name") or f"{job_id} step {index + 1}"
            scripts.append((key_line + 1 + int(block), str(name), str(step["run"])))
    return scripts


def shell_findings(path: Path, shellcheck: str) -> list[str]:
    """ShellCheck's findings in the `run:` scripts of `path`."""
    findings = []
    for line, name, script in run_scripts(path):
        stood_in = EXPRESSION.sub(lambda found: "_" * len(found.group(0)), script)
        done = subprocess.run(
            [shellcheck, "--shell=bash", f"--exclude={EXCLUDED}", "--format=gcc", "-"],
            input=stood_in, capture_output=True, text=True, check=False,
        )  # fmt: skip
        for finding in done.stdout.splitlines():
            found = re.match(r"-:(\d+):\d+: (.*)", finding)
            if found:
                at = line + int(found.group(1)) - 1
                findings.append(f"{path}:{at}: step {name!r}: {found.group(2)}")
    return findings


def lint(paths: list[Path]) -> list[str]:
    """Every finding in `paths`, schema first; [] when they are clean."""
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        raise SystemExit(SHELLCHECK_MISSING)
    findings = []
    for path in paths:
        findings += schema_findings(path) + shell_findings(path, shellcheck)
    return findings


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    paths = [Path(arg) for arg in args] or sorted((ROOT / ".github/workflows").glob("*.y*ml"))
    findings = lint(paths)
    for finding in findings:
        print(finding)
    if not findings:
        print(f"workflows: {len(paths)} checked, schema and run scripts clean")
    return 1 if findings else 0


if __name__ == "__main__":
    raise SystemExit(main())

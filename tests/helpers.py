"""Helpers shared by the tests: the project root, tiny params, stage loading."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[1]

# Small enough that a whole training run takes a few seconds on 2 cores.
TINY: dict[str, dict[str, Any]] = {
    "evaluator": {"epochs": 2, "min_accuracy": 0.5},
    "model": {"arch": "dcgan", "latent_dim": 8, "width": 4},
    "train": {"epochs": 1, "batch_size": 250, "grid_size": 16, "eval_every": 1,
              "eval_samples": 200},
    "sample": {"num_samples": 100, "batch_size": 50, "grid_size": 16, "interpolation_rows": 2,
               "interpolation_steps": 4},
    "eval": {"kid_subset_size": 50, "kid_subsets": 10, "nn_samples": 8, "cas_epochs": 1},
    "downstream": {"seeds": 2, "steps": 20},  # the default is conditional: its arms run
}  # fmt: skip


# How long each step a test waits on (a server that answers, a process that exits) took
# when it last succeeded in this checkout: one small JSON file a step in pytest's cache
# folder (git-ignored), quoted when the same wait runs out, so that a timeout says whether
# the machine is slower than before or the step hangs.
STEP_TIMES = ROOT / ".pytest_cache" / "ganops-step-times"
# How long a test waits for a server it started to answer. The wait ends as soon as it
# answers, or its process exits; the bound only stops one that hangs, so it is wide enough
# for a machine many times slower than 2 busy cores.
SERVER_START_S = 300
# How long a test waits for a training process to reach a checkpoint or to finish. The wait
# ends when it does; the bound only stops one that hangs: the tiny runs take 10-60 s alone on
# 2 cores, and a busy runner was seen to take several times that.
TRAINING_S = 1800


def _step_file(step: str) -> Path:
    return STEP_TIMES / (re.sub(r"[^\w.-]+", "-", step).strip("-") + ".json")


def _green(step: str) -> dict[str, Any]:
    try:
        return dict(json.loads(_step_file(step).read_text()))
    except (OSError, ValueError, TypeError):
        return {}


def last_green_s(step: str) -> float | None:
    """How long `step` took when it last succeeded here, if it did."""
    seconds = _green(step).get("seconds")
    return float(seconds) if isinstance(seconds, int | float) else None


def record_green(step: str, seconds: float) -> None:
    """Keep `seconds` as `step`'s last successful duration (replacing the file whole:
    test workers may write beside each other)."""
    STEP_TIMES.mkdir(parents=True, exist_ok=True)
    when = time.strftime("%Y-%m-%d %H:%M:%S")
    partial = _step_file(step).with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(json.dumps({"step": step, "seconds": round(seconds, 1), "when": when}))
    os.replace(partial, _step_file(step))


def last_green(step: str) -> str:
    """What a timeout adds: how long the same step took in the last green run."""
    seconds = last_green_s(step)
    if seconds is None:
        return f"no green run of {step!r} recorded in {STEP_TIMES} yet"
    return f"{step!r} took {seconds:.1f} s in the last green run ({_green(step).get('when')})"


def train_record(path: Path = Path("data/train/run.json")) -> dict[str, Any]:
    """run.json with its MLflow side (the git-ignored mlflow_run.json beside it), read as the
    stages read them."""
    from dataclasses import asdict

    from ganops.run_record import RunRecord

    return asdict(RunRecord.read(path))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (for a server a test starts)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def merged(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """`base` with `overrides` applied section by section (one level deep)."""
    out = {  # a top-level scalar (`task`) is kept as it is
        section: dict(values) if isinstance(values, dict) else values
        for section, values in base.items()
    }
    for section, values in overrides.items():
        if isinstance(values, dict) and isinstance(out.get(section), dict):
            out[section].update(values)
        else:
            out[section] = values
    return out


def project_params() -> dict[str, Any]:
    """The project's own params.yaml, as a plain dict."""
    return dict(YAML(typ="safe", pure=True).load((ROOT / "params.yaml").read_text()))


def write_params(path: Path, overrides: dict[str, Any] | None = None) -> Path:
    """params.yaml at `path`: the project's defaults, made tiny, plus `overrides`."""
    raw = merged(merged(project_params(), TINY), overrides or {})
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    with path.open("w") as handle:
        yaml.dump(raw, handle)
    return path


def load_script(folder: str, name: str) -> ModuleType:
    """Import `<folder>/<name>.py` (not a package) so tests can call its functions."""
    path = ROOT / folder / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"{folder}_{name}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def load_stage(name: str) -> ModuleType:
    """Import `pipeline/<name>.py` so tests can call its `main(argv)`."""
    return load_script("pipeline", name)


def _stage_args(name: str) -> list[str]:
    """The arguments dvc.yaml gives `pipeline/<name>.py`, with its `${paths.*}` filled in."""
    pipeline = YAML(typ="safe", pure=True).load((ROOT / "dvc.yaml").read_text())
    paths = next(entry["paths"] for entry in pipeline["vars"] if "paths" in entry)
    command = re.sub(r"\$\{paths\.(\w+)\}", lambda m: paths[m[1]], pipeline["stages"][name]["cmd"])
    words = shlex.split(command)
    assert words[:2] == ["python", f"pipeline/{name}.py"], command
    return words[2:]


STAGE_NAMES = (
    "fetch",
    "preprocess",
    "train_evaluator",
    "train",
    "sample",
    "evaluate",
    "downstream",
)
# Each stage's command-line arguments, as `dvc repro` passes them (paths live in dvc.yaml).
STAGE_ARGS: dict[str, list[str]] = {name: _stage_args(name) for name in STAGE_NAMES}


def run_stages_in(
    base: Path, stages: tuple[str, ...], overrides: dict[str, Any] | None = None
) -> None:
    """Run `stages` in-process in the workspace `base`, with its own MLflow store and the
    project's tiny params plus `overrides`; the working directory is restored after."""
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(base)
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{base / 'mlflow.db'}")
        patch.delenv("DVC_EXP_NAME", raising=False)
        write_params(Path("params.yaml"), overrides)
        for stage in stages:
            assert load_stage(stage).main(STAGE_ARGS[stage]) == 0, stage


def private_copy(template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Copy the workspace `template` to `tmp_path/work` and make it the working directory,
    with its own MLflow store and no experiment name; returns the store's URI."""
    work = tmp_path / "work"
    shutil.copytree(template, work)
    monkeypatch.chdir(work)
    uri = f"sqlite:///{work / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.delenv("DVC_EXP_NAME", raising=False)
    return uri


def clean_env() -> dict[str, str]:
    """This environment without a DVC experiment or an MLflow run to join; this venv first."""
    env = {k: v for k, v in os.environ.items() if k not in ("DVC_EXP_NAME", "MLFLOW_RUN_ID")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def train_stage(
    work: Path, uri: str, background: bool = False, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    """The train stage as dvc repro starts it, in `work` with the store `uri`; `background`:
    in a process group of its own (to be killed whole), its output to `work/stage.log`
    rather than a pipe nobody reads."""
    output = (work / "stage.log").open("a") if background else subprocess.PIPE
    return subprocess.Popen(
        [sys.executable, str(ROOT / "pipeline" / "train.py"), *STAGE_ARGS["train"]],
        cwd=work,
        env={**clean_env(), "MLFLOW_TRACKING_URI": uri, "PYTHONUNBUFFERED": "1", **(env or {})},
        stdout=output,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=background,
    )


def processes_in(work: Path) -> list[int]:
    """Pids of the processes whose working directory is `work` (a stage and its ranks)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and (proc / "cwd").resolve() == work.resolve():
                found.append(int(proc.name))
        except OSError:
            continue  # gone, or not ours to read
    return found


def run_step(
    step: str, command: list[str], bound_s: float, **run: Any
) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run `command` to its end (its output captured as text) and return it with the seconds
    it took, recorded as `step`'s last green duration when it exits 0; fail the test, saying
    how long the last green run took and what it printed, if it runs past `bound_s`."""
    started = time.monotonic()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=bound_s, **run)
    except subprocess.TimeoutExpired as stopped:
        said = stopped.stderr or b""
        said = said.decode(errors="replace") if isinstance(said, bytes) else said
        pytest.fail(f"{step}: did not exit within {bound_s:.0f} s; {last_green(step)}; "
                    f"its output's end:\n{said[-2000:]}")  # fmt: skip
    seconds = time.monotonic() - started
    if done.returncode == 0:
        record_green(step, seconds)
    return done, seconds


def answers_ok(url: str) -> Callable[[], bool]:
    """Whether a GET of `url` answers 2xx (what `wait_for_answer` polls a server's health by)."""
    import requests

    return lambda: bool(requests.get(url, timeout=5).ok)


def wait_for_answer(
    name: str,
    answers: Callable[[], bool],
    process: subprocess.Popen[Any],
    log: Path,
    bound_s: float = SERVER_START_S,
) -> float:
    """Poll `answers()` (a request that may raise requests' connection errors while the
    server starts) until it is true; returns the seconds that took, and records them as
    `name`'s last green start. Fails the test, naming what it waited for, the bound, the
    last green start and the log's end, when `process` exits first or `bound_s` passes."""
    import requests

    started = time.monotonic()
    while time.monotonic() - started < bound_s and process.poll() is None:
        try:
            if answers():
                waited = time.monotonic() - started
                record_green(f"{name} start", waited)
                return waited
        except (requests.ConnectionError, requests.Timeout):  # not up, or busy starting
            pass
        time.sleep(0.3)
    waited = time.monotonic() - started
    state = f"exited with {process.returncode}" if process.poll() is not None else "still starting"
    pytest.fail(f"{name}: no answer after {waited:.0f} s of at most {bound_s:.0f} s ({state}); "
                f"{last_green(f'{name} start')}; its log {log}:\n"
                f"{log.read_text(errors='replace')[-3000:]}")  # fmt: skip


@contextlib.contextmanager
def background_server(
    name: str,
    command: list[str],
    log: Path,
    answers: Callable[[], bool],
    start_timeout_s: float = SERVER_START_S,
    **popen: Any,
) -> Iterator[None]:
    """Start `command` in a session of its own, its output in `log`; return once `answers()`
    is true (`wait_for_answer`), or fail the test with the log's end; SIGTERM it (then
    SIGKILL) when the block ends."""
    with log.open("w") as output:
        server = subprocess.Popen(command, start_new_session=True, stdout=output,
                                  stderr=subprocess.STDOUT, **popen)  # fmt: skip
    try:
        wait_for_answer(name, answers, server, log, start_timeout_s)
        yield
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(timeout=30)


@contextlib.contextmanager
def mlflow_models_serve(
    model: str, cwd: Path, start_timeout_s: float = SERVER_START_S
) -> Iterator[str]:
    """The real `mlflow models serve -m model --env-manager local` on a free loopback port,
    run in `cwd` against its own `mlflow.db` (as the guide says, with the venv's `bin` on
    PATH: the server execs `uvicorn`); yields its URL once `/ping` answers, and stops it."""
    port = free_port()
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.pop("MLFLOW_TRACKING_URI", None)  # the workspace's mlflow.db
    command = ["mlflow", "models", "serve", "-m", model, "--env-manager", "local",
               "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    with background_server(
        "mlflow models serve",
        command,
        cwd / f"serve-{port}.log",
        answers_ok(f"{url}/ping"),
        start_timeout_s,
        cwd=cwd,
        env=env,
    ):
        yield url


@contextlib.contextmanager
def served_tiny_run(
    tmp_path_factory: pytest.TempPathFactory, name: str, model: str, overrides: dict[str, Any]
) -> Iterator[tuple[str, Path]]:
    """A module's served model: the stages fetch to train run in a new workspace `name` with
    the tiny params plus `overrides`, then `mlflow models serve` of `model` (what that run
    registered); yields its URL and the workspace, and stops the server."""
    workspace = tmp_path_factory.mktemp(name)
    run_stages_in(workspace, ("fetch", "preprocess", "train_evaluator", "train"), overrides)
    with mlflow_models_serve(model, workspace) as url:
        yield url, workspace


def assert_every_step_once(uri: str, run_id: str, total_steps: int, epochs: int) -> None:
    """The run's training curves hold every step 1..`total_steps` exactly once, and its
    images one sample grid per epoch: nothing lost, nothing delivered twice."""
    import mlflow  # here: most tests that load these helpers never open a store

    client = mlflow.MlflowClient(uri)
    for key in ("loss_d", "loss_g", "d_real", "d_fake"):
        steps = [m.step for m in client.get_metric_history(run_id, f"train/{key}")]
        assert sorted(steps) == list(range(1, total_steps + 1)), key
    grids = [a.path for a in client.list_artifacts(run_id, "images") if a.path.endswith(".png")]
    assert len(grids) == epochs  # one grid per epoch, none twice


@dataclass(frozen=True)
class TeamServer:
    """A running `tools/team_server.py` server: the URI to export, its state folder (the
    PostgreSQL data, the artifacts, the logs) and PostgreSQL's own URI, password and all."""

    uri: str
    state: Path
    database: str


# PostgreSQL's start (pg_ctl waits 120 s at most) then the MLflow server's (300 s at most)
TEAM_START_S = 600


def team_database(state: Path, pg_port: int) -> str:
    """The URI of the team server's runs database, with the password of its role `mlflow`
    (kept in the state folder, owner-only): for the tests' own look into PostgreSQL."""
    secret = (state / "pg_password").read_text().strip()
    return f"postgresql://mlflow:{secret}@127.0.0.1:{pg_port}/mlflow"


def team_server_command(state: Path, *args: str) -> list[str]:
    """`python tools/team_server.py <args> --dir <state>` (what `make server` runs)."""
    return [sys.executable, str(ROOT / "tools" / "team_server.py"), *args, "--dir", str(state)]


@contextlib.contextmanager
def team_server(state: Path) -> Iterator[TeamServer]:
    """The team server (`make server`: PostgreSQL and `mlflow server`) on free loopback
    ports with its state in `state`; stopped after, its PostgreSQL too."""
    port, pg_port = free_port(), free_port()
    start = team_server_command(state, "start", "--port", str(port), "--pg-port", str(pg_port))
    step = "team server start"
    done, _ = run_step(step, start, TEAM_START_S)
    try:
        assert done.returncode == 0, f"{done.stdout}{done.stderr}\n{last_green(step)}"
        yield TeamServer(f"http://127.0.0.1:{port}", state, team_database(state, pg_port))
    finally:
        subprocess.run(team_server_command(state, "stop"), capture_output=True, timeout=300)


@contextlib.contextmanager
def server_state_root() -> Iterator[Path]:
    """A folder for team servers' state outside pytest's temporary root, removed afterwards.
    pytest sets that root back to 0700 whenever another pytest run starts, which would shut a
    running server's unprivileged account out of its own files in the middle of a test."""
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="ganops-server-test-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)

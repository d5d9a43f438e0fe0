"""The team's tracking server (`make server`): a real PostgreSQL (the pgserver wheel's
binaries) behind a real `mlflow server` with proxied artifacts and basic auth, on 127.0.0.1.
`make server` and `make server-stop` as a user types them, their one-line errors; then the
pipeline (`make repro` in a fresh git repo), `make ui` and `ganops report` against the
server, checked in PostgreSQL's own tables and the server's artifacts folder, with the
password nowhere it should not be."""

from __future__ import annotations

import json
import secrets
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import mlflow
import psycopg
import pytest
import requests

from tests.helpers import (
    ROOT,
    TeamServer,
    free_port,
    load_script,
    server_state_root,
    team_database,
    train_record,
    train_stage,
    write_params,
)
from tests.pipeline.repo import CHEAP, VENV, env, make_repo, sh

pytestmark = pytest.mark.slow

# Made fresh for each test session, so finding it anywhere can only mean it leaked there.
PASSWORD = f"team-{secrets.token_hex(8)}"
USER = "admin"
REGISTERED = "ganops-generator"  # tracking.registered_model


def _make(
    *args: str, cwd: Path = ROOT, extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`make` as a user runs it, with this interpreter's venv taken as set up."""
    return subprocess.run(
        ["make", *args, f"VENV={VENV}", "-o", f"{VENV}/.installed"],
        cwd=cwd, env={**env(), **(extra or {})}, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def _error_lines(done: subprocess.CompletedProcess[str]) -> list[str]:
    """What the server script said went wrong (make adds its own `make: ***` line)."""
    return [line for line in done.stderr.splitlines() if line.startswith("team_server: ")]


def _processes() -> Iterator[tuple[int, str, int]]:
    """Every process's pid, state (`Z`: a zombie, ended) and process group."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        yield int(stat.parent.name), fields[0], int(fields[2])


def _alive(pid: int) -> bool:
    return any(p == pid and state != "Z" for p, state, _ in _processes())


def _in_group(group: int) -> list[int]:
    """The running processes of process group `group` (the MLflow server and its workers)."""
    return [pid for pid, state, pgrp in _processes() if pgrp == group and state != "Z"]


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_make_server_starts_stops_and_says_in_one_line_why_it_cannot(server_root: Path) -> None:
    state, port, pg_port = server_root / "server", free_port(), free_port()
    ports = [f"SERVER_PORT={port}", f"PG_PORT={pg_port}"]
    started = _make("server", *ports, f"SERVER_DIR={state}")
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        uri = f"http://127.0.0.1:{port}"
        assert f"export MLFLOW_TRACKING_URI={uri}\n" in started.stdout
        assert f"{uri}/#/experiments?workflowType=machine_learning" in started.stdout
        assert requests.get(f"{uri}/health", timeout=10).ok
        server_pid = int((state / "mlflow.pid").read_text())
        postgres_pid = int((state / "pgdata" / "postmaster.pid").read_text().split()[0])
        assert _alive(server_pid) and _alive(postgres_pid)
        assert (state / "mlflow.log").stat().st_size and (state / "postgres.log").stat().st_size

        # each port taken, and the same folder twice: one line each, nothing started
        other = server_root / "other"
        for taken, said in (
            ([f"SERVER_PORT={port}", f"PG_PORT={free_port()}"], f"port {port} on 127.0.0.1 is "
             "taken: the MLflow server cannot listen there (choose another: "),
            ([f"SERVER_PORT={free_port()}", f"PG_PORT={pg_port}"], f"port {pg_port} on 127.0.0.1 "
             "is taken: PostgreSQL cannot listen there (choose another: "),
        ):  # fmt: skip
            refused = _make("server", *taken, f"SERVER_DIR={other}")
            assert refused.returncode != 0
            (line,) = _error_lines(refused)
            assert line.startswith(f"team_server: error: {said}"), refused.stderr
            assert "Traceback" not in refused.stderr
            assert not (other / "pgdata" / "postmaster.pid").exists()
            assert not (other / "mlflow.pid").exists()
        twice = _make("server", f"SERVER_PORT={free_port()}", f"PG_PORT={free_port()}",
                      f"SERVER_DIR={state}")  # fmt: skip
        assert _error_lines(twice) == [
            f"team_server: error: a server from {state} already runs: stop it first "
            "(make server-stop)"
        ]
    finally:
        stopped = _make("server-stop", f"SERVER_DIR={state}")
    assert stopped.returncode == 0, stopped.stderr
    assert stopped.stdout.strip() == "stopped: MLflow server, PostgreSQL"
    assert not _alive(postgres_pid) and not _in_group(server_pid)  # nothing left running
    assert not _listening(port) and not _listening(pg_port)
    assert not (state / "mlflow.pid").exists()
    assert _make("server-stop", f"SERVER_DIR={state}").stdout.strip() == (
        f"no server running from {state}"
    )

    # after an MLflow upgrade the server refuses the old schema, and says what to run
    tool = load_script("tools", "team_server")
    older = _set_schema(tool, state, pg_port, "75868b020152")  # the revision before this one's
    refused = _make("server", *ports, f"SERVER_DIR={state}")
    (line,) = _error_lines(refused)
    assert "out-of-date database schema" in line and "make server-upgrade" in line, line
    assert not _listening(port) and not _listening(pg_port)
    _set_schema(tool, state, pg_port, older)  # as it was: this MLflow's
    upgraded = _make("server-upgrade", f"PG_PORT={pg_port}", f"SERVER_DIR={state}")
    assert upgraded.returncode == 0, upgraded.stderr
    assert sorted(path.name.split("-")[0] for path in (state / "backups").iterdir()) == [
        "mlflow", "mlflow_auth"
    ]  # fmt: skip
    assert not _listening(pg_port)  # left stopped, as it was found

    # PostgreSQL that cannot start (a setting it does not know): its reason, in one line
    with (state / "pgdata" / "postgresql.conf").open("a") as conf:
        conf.write("no_such_setting = 1\n")
    broken = _make("server", *ports, f"SERVER_DIR={state}")
    assert broken.returncode != 0
    (line,) = _error_lines(broken)
    assert line.startswith("team_server: error: PostgreSQL could not start: "), line
    assert "postgresql.conf" in line and "Traceback" not in broken.stderr
    assert not (state / "pgdata" / "postmaster.pid").exists() and not _listening(port)


def _set_schema(tool: ModuleType, state: Path, pg_port: int, revision: str) -> str:
    """Record `revision` as the runs' database's schema version (PostgreSQL started for it
    and stopped after); returns the version it had."""
    tool.start_postgres(state, pg_port)
    try:
        with psycopg.connect(team_database(state, pg_port)) as db:
            (before,) = db.execute("SELECT version_num FROM alembic_version").fetchone() or ("",)
            db.execute("UPDATE alembic_version SET version_num = %s", (revision,))
    finally:
        tool.stop_postgres(state)
    return str(before)


@pytest.fixture(scope="module")
def server() -> Iterator[TeamServer]:
    """One team server with basic auth for this module (`make server AUTH=1`), its admin's
    password `PASSWORD`; this process authenticates as its admin. Its state lives outside
    pytest's temporary root (`server_state_root`)."""
    with server_state_root() as root:
        state, port, pg_port = root / "server", free_port(), free_port()
        where = (f"SERVER_PORT={port}", f"PG_PORT={pg_port}", f"SERVER_DIR={state}")
        extra = {"MLFLOW_AUTH_ADMIN_PASSWORD": PASSWORD}
        started = _make("server", *where, "AUTH=1", extra=extra)
        try:
            assert started.returncode == 0, started.stdout + started.stderr
            assert f"export MLFLOW_TRACKING_USERNAME={USER}" in started.stdout
            assert PASSWORD not in started.stdout + started.stderr
            assert PASSWORD not in (state / "auth.ini").read_text()
            with pytest.MonkeyPatch.context() as patch:
                patch.setenv("MLFLOW_TRACKING_USERNAME", USER)
                patch.setenv("MLFLOW_TRACKING_PASSWORD", PASSWORD)
                database = team_database(state, pg_port)
                yield TeamServer(f"http://127.0.0.1:{port}", state, database)
        finally:
            _make("server-stop", f"SERVER_DIR={state}")


@pytest.fixture(scope="module")
def pipeline(server: TeamServer, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A fresh git repo of the project where `make repro` ran with the server exported, its
    results committed; the repro's output. The run is the cheap one: what the server holds
    (runs, metrics, artifacts, the registered model) is the same kind."""
    repo = make_repo(tmp_path_factory.mktemp("pipeline"), CHEAP)
    exported = {"MLFLOW_TRACKING_URI": server.uri, "MLFLOW_TRACKING_USERNAME": USER,
                "MLFLOW_TRACKING_PASSWORD": PASSWORD}  # fmt: skip
    done = _make("repro", cwd=repo, extra=exported)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "commit", "-qm", "results")
    return repo, done.stdout + done.stderr


def _run_id(repo: Path) -> str:
    return str(train_record(repo / "data/train/run.json")["run_id"])


def test_the_pipeline_logs_to_postgres_and_its_artifacts_through_the_proxy(
    server: TeamServer, pipeline: tuple[Path, str]
) -> None:
    repo, _ = pipeline
    run_id = _run_id(repo)
    steps = len((repo / "data" / "train" / "history.tsv").read_text().splitlines()) - 1
    with psycopg.connect(server.database) as db:  # PostgreSQL's own rows
        status, artifact_uri, experiment = db.execute(
            "SELECT status, artifact_uri, experiment_id FROM runs WHERE run_uuid = %s", (run_id,)
        ).fetchone() or (None, None, None)
        logged = db.execute(
            "SELECT count(*), count(DISTINCT step) FROM metrics WHERE run_uuid = %s "
            "AND key = 'train/loss_d'", (run_id,)
        ).fetchone()  # fmt: skip
        fid = db.execute(
            "SELECT value FROM latest_metrics WHERE run_uuid = %s AND key = 'eval/fid'", (run_id,)
        ).fetchone()
        versions = db.execute(
            "SELECT version, run_id FROM model_versions WHERE name = %s", (REGISTERED,)
        ).fetchall()
    assert status == "FINISHED"
    assert logged == (steps, steps)  # every step once
    scores = json.loads((repo / "data" / "eval" / "metrics.json").read_text())
    assert fid is not None and fid[0] == pytest.approx(scores["fid"])  # evaluate's, same run
    assert versions == [(1, run_id)]  # the model registered

    # the client sent its files to the server; the server keeps them in its own folder
    assert artifact_uri == f"mlflow-artifacts:/{experiment}/{run_id}/artifacts"
    stored = server.state / "artifacts" / str(experiment) / run_id / "artifacts"
    grid = repo / "data" / "samples" / "grid.png"
    assert (stored / "samples" / "grid.png").read_bytes() == grid.read_bytes()
    assert list((server.state / "artifacts").glob(f"{experiment}/models/*/artifacts/MLmodel"))
    assert not (repo / "mlflow.db").exists() and not (repo / "mlartifacts").exists()
    client = mlflow.MlflowClient(server.uri)
    run = client.get_run(run_id)
    held = json.dumps([run.info.artifact_uri, run.data.tags, run.data.params])
    assert str(server.state) not in held  # no storage path on the client's side


def test_make_ui_and_the_report_point_at_the_server(
    server: TeamServer, pipeline: tuple[Path, str]
) -> None:
    repo, _ = pipeline
    exported = {"MLFLOW_TRACKING_URI": server.uri}
    ui = _make("ui", cwd=repo, extra=exported)
    assert ui.returncode == 0, ui.stderr
    assert f"runs: {server.uri}/#/experiments?workflowType=machine_learning" in ui.stdout

    run_id = _run_id(repo)
    experiment = train_record(repo / "data/train/run.json")["experiment_id"]
    credentials = {"MLFLOW_TRACKING_USERNAME": USER, "MLFLOW_TRACKING_PASSWORD": PASSWORD}
    done = subprocess.run(
        [str(Path(sys.executable).parent / "ganops"), "report", "--baseline", "HEAD", "-q"],
        cwd=repo, env={**env(), **exported, **credentials}, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = (repo / "data" / "report" / "report.md").read_text()
    link = f"{server.uri}/#/experiments/{experiment}/runs/{run_id}"
    assert f"]({link})" in report
    # what the link opens, as the UI asks for it (the grid through the proxy), and only
    # with the password
    search = f"{server.uri}/ajax-api/2.0/mlflow/runs/search"
    auth = (USER, PASSWORD)
    found = requests.post(search, auth=auth, json={"experiment_ids": [experiment]}, timeout=30)
    assert [r["info"]["run_id"] for r in found.json()["runs"]] == [run_id]
    grid = {"path": "samples/grid.png", "run_uuid": run_id}
    answer = requests.get(f"{server.uri}/get-artifact", auth=auth, params=grid, timeout=30)
    assert answer.ok and answer.content[:4] == b"\x89PNG"
    anonymous = requests.get(f"{server.uri}/get-artifact", params=grid, timeout=30)
    assert anonymous.status_code == 401


def _files_holding(folder: Path, secret: bytes) -> list[Path]:
    return [path for path in folder.rglob("*") if path.is_file() and secret in path.read_bytes()]


def test_no_credential_lands_in_a_record_a_log_a_tag_or_the_report(
    server: TeamServer, pipeline: tuple[Path, str]
) -> None:
    repo, output = pipeline
    assert PASSWORD not in output  # every stage's log lines
    assert train_record(repo / "data/train/run.json")["tracking_uri"] == server.uri
    # the repo: run.json, dvc.lock, metrics, the report, git's objects and DVC's cache
    assert not _files_holding(repo, PASSWORD.encode())
    assert not _files_holding(server.state / "artifacts", PASSWORD.encode())  # the server's files
    client = mlflow.MlflowClient(server.uri)
    run = client.get_run(_run_id(repo))
    for name, value in (*run.data.tags.items(), *run.data.params.items()):
        assert PASSWORD not in value and "MLFLOW_TRACKING_PASSWORD" not in value, name


def test_a_wrong_password_is_one_clear_line(
    server: TeamServer, tmp_path: Path, prepared: Path, evaluator_file: Path
) -> None:
    work = tmp_path / "w"
    shutil.copytree(prepared / "processed", work / "data" / "processed")
    (work / "data" / "models").mkdir()
    shutil.copy2(evaluator_file, work / "data" / "models" / "evaluator.pt")
    write_params(work / "params.yaml")
    wrong = f"not-{PASSWORD}"
    process = train_stage(
        work, server.uri, env={"MLFLOW_TRACKING_USERNAME": USER, "MLFLOW_TRACKING_PASSWORD": wrong}
    )
    output, _ = process.communicate(timeout=300)
    assert process.returncode == 1, output
    (line,) = [line for line in output.splitlines() if "error" in line.lower()]
    assert line.startswith(f"train: error: MLflow store {server.uri} refused the run: "), line
    assert "401" in line and "MLFLOW_TRACKING_PASSWORD" in line, line
    assert "Traceback" not in output and wrong not in output
    assert not (work / "data" / "models" / "model.pt").exists()


def test_the_ui_walkthrough_runs_in_a_browser_against_the_server(
    server: TeamServer, pipeline: tuple[Path, str], tmp_path: Path
) -> None:
    """`make walkthrough`'s tool with the server as its store: no `mlflow ui` of its own, the
    server's pages in headless Chromium, the password sent as a header, not in a URL."""
    repo, _ = pipeline
    client = mlflow.MlflowClient(server.uri)
    experiment = client.get_experiment_by_name("ganops")
    assert experiment is not None
    (first,) = client.search_runs([experiment.experiment_id])
    # a second finished run beside make repro's, for the comparison page; started before it,
    # so that make repro's stays the newest, the one whose sample grid the walkthrough opens
    second = client.create_run(experiment.experiment_id, run_name="teammate",
                               start_time=first.info.start_time - 60_000)  # fmt: skip
    for step in (1, 2, 3):
        client.log_metric(second.info.run_id, "train/loss_d", 1.0 / step, step=step)
    client.set_terminated(second.info.run_id)
    out = tmp_path / "ui"
    credentials = {"MLFLOW_TRACKING_USERNAME": USER, "MLFLOW_TRACKING_PASSWORD": PASSWORD}
    done = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "walkthrough.py"), "--store", server.uri,
         "--out", str(out)],
        cwd=repo, env={**env(), **credentials}, capture_output=True, text=True, timeout=900,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads((out / "walkthrough.json").read_text())
    assert seen["runs"]["url"].startswith(server.uri)
    assert first.info.run_name in seen["runs"]["text"] and "teammate" in seen["runs"]["text"]
    assert seen["grid"]["images"] > 0  # make repro's grids, through the server's proxy
    pages = {name: page for name, page in seen.items() if name != "seconds"}  # step times
    assert pages and all(PASSWORD not in page["url"] for page in pages.values())
    assert PASSWORD not in (out / "walkthrough.json").read_text()

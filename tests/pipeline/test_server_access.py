"""Who gets into the team server's PostgreSQL and files (`tools/team_server.py`, a real
PostgreSQL and `mlflow server` on 127.0.0.1): no connection, TCP or socket, without the
password; the role MLflow uses owns its databases and can do nothing else (no superuser, no
new roles, no programs run by `COPY ... FROM PROGRAM`); the state folder, the passwords and
the artifacts are owner-only. The tests run as root, so "another account" is `nobody`,
through `runuser`."""

from __future__ import annotations

import os
import pwd
import stat
import subprocess
from pathlib import Path

import mlflow
import psycopg
import pytest

from tests.helpers import load_script, team_server, team_server_command

pytestmark = pytest.mark.slow

as_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another account")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _port(database: str) -> int:
    return int(database.rsplit(":", 1)[1].split("/")[0])


def _refused(host: str = "127.0.0.1", **connection: object) -> str:
    """The error PostgreSQL answers a connection without the right password with (`host`:
    127.0.0.1, or the socket's folder)."""
    with pytest.raises(psycopg.OperationalError) as raised:
        psycopg.connect(host=host, connect_timeout=10, **connection).close()
    return str(raised.value)


SYSTEM_PATH = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}


def _as_nobody(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["runuser", "-u", "nobody", "--", *command], capture_output=True,
                          text=True, timeout=60, env=SYSTEM_PATH)  # fmt: skip


def test_postgres_asks_a_password_of_every_connection_and_mlflow_owns_only_its_databases(
    server_root: Path,
) -> None:
    state = server_root / "server"
    with team_server(state) as server:
        port = _port(server.database)
        for user in ("mlflow", "ganops_admin", "postgres"):  # no password given
            for database in ("mlflow", "mlflow_auth", "postgres"):
                said = _refused(port=port, user=user, dbname=database, password="")
                assert "password" in said or "does not exist" in said, said
        said = _refused(port=port, user="mlflow", dbname="mlflow", password="guessed")
        assert "password authentication failed" in said
        said = _refused(port=port, user="mlflow", dbname="mlflow", password="",
                        host=str(state / "pgdata"))  # fmt: skip  # the socket
        assert "password" in said, said

        with psycopg.connect(server.database, autocommit=True) as db:
            flags = db.execute("SELECT rolsuper, rolcreaterole, rolcreatedb FROM pg_roles "
                               "WHERE rolname = current_user").fetchone()  # fmt: skip
            assert flags == (False, False, False)
            db.execute("CREATE TABLE probe (line text)")
            for forbidden in (
                "COPY probe FROM PROGRAM 'id'",
                "ALTER ROLE mlflow SUPERUSER",
                "CREATE ROLE intruder LOGIN SUPERUSER",
                "SET ROLE ganops_admin",
                "GRANT pg_execute_server_program TO mlflow",
                "SELECT pg_read_file('postgresql.conf')",
            ):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    db.execute(forbidden)
            assert db.execute("SELECT count(*) FROM probe").fetchone() == (0,)
        said = _refused(port=port, user="mlflow", dbname="postgres",
                        password=(state / "pg_password").read_text().strip())  # fmt: skip
        assert "permission denied for database" in said, said


def test_the_state_folder_passwords_and_artifacts_are_owner_only(server_root: Path) -> None:
    state = server_root / "server"
    with team_server(state) as server:
        client = mlflow.MlflowClient(server.uri)
        run = client.create_run(client.create_experiment("modes"))
        client.log_text(run.info.run_id, "a private result", "notes/result.txt")
        client.set_terminated(run.info.run_id)
        artifacts = list((state / "artifacts").rglob("*"))
        assert any(path.name == "result.txt" for path in artifacts)
        for path in [state / "artifacts", *artifacts]:
            assert _mode(path) == (0o700 if path.is_dir() else 0o600), path
        for name in ("pg_password", "pg_admin_password", "mlflow.log"):
            assert _mode(state / name) == 0o600, name
        assert _mode(state / "pgdata") == 0o700
        # owner-only; as root, PostgreSQL's own account may pass through (its group)
        assert _mode(state) == (0o710 if os.geteuid() == 0 else 0o700)
        if os.geteuid() == 0:
            assert state.stat().st_gid == pwd.getpwnam("ganops-pg").pw_gid


@as_root
def test_another_account_reads_no_password_no_artifact_and_gets_no_connection(
    server_root: Path,
) -> None:
    server_root.chmod(0o711)  # a mkdtemp folder is root's alone: let `nobody` up to the state
    state = server_root / "server"
    psql = str(load_script("tools", "team_server").postgres_bin() / "psql")
    with team_server(state) as server:
        port = str(_port(server.database))
        client = mlflow.MlflowClient(server.uri)
        run = client.create_run(client.create_experiment("others"))
        client.log_text(run.info.run_id, "a private result", "result.txt")
        for path in (state / "pg_password", state / "pg_admin_password", state / "auth.ini"):
            assert _as_nobody("cat", str(path)).returncode != 0
        assert _as_nobody("ls", str(state / "artifacts")).returncode != 0
        assert _as_nobody("find", str(state)).stdout.strip() in ("", str(state))
        over_tcp = _as_nobody(psql, "-w", "-h", "127.0.0.1", "-p", port, "-U", "mlflow",
                              "-d", "mlflow", "-c", "SELECT 1")  # fmt: skip
        assert over_tcp.returncode != 0 and "password" in over_tcp.stderr, over_tcp.stderr
        by_socket = _as_nobody(psql, "-w", "-h", str(state / "pgdata"), "-p", port,
                               "-U", "mlflow", "-d", "mlflow", "-c", "SELECT 1")  # fmt: skip
        assert by_socket.returncode != 0, by_socket.stdout


def test_a_state_folder_of_the_old_layout_is_refused_in_one_line(server_root: Path) -> None:
    """A data folder without the passwords' files is the old layout (written by hand here:
    the PostgreSQL version file is all the check reads)."""
    state = server_root / "server"
    (state / "pgdata").mkdir(parents=True)
    (state / "pgdata" / "PG_VERSION").write_text("16\n")
    done = subprocess.run(team_server_command(state, "start", "--port", "1", "--pg-port", "2"),
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 1
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"team_server: error: {state} is of the old layout"), line
    assert f"mv {state} {state}.old" in line and "make server" in line

"""A team's tracking server on this machine, for trying the team path and for the tests: a
real PostgreSQL holding MLflow's runs, and `mlflow server` on 127.0.0.1 in front of it, with
proxied artifacts (clients send files through the server and never hold a storage path).

PostgreSQL comes from the `pgserver` wheel on PyPI, which ships the real server binaries
(`initdb`, `pg_ctl`, `postgres`): it installs with pip into the venv on any Linux or macOS
machine, needs no apt and no root, and runs as a folder of this project that `stop` ends,
not as a system service. Everything lives in the state folder (`.server/`, git-ignored):
`pgdata/` and `postgres.log`, `pg_password` and `pg_admin_password`, `artifacts/`,
`mlflow.log` and `mlflow.pid`; with `--auth`,
`auth.ini` and `secret_key`; after an upgrade, `backups/`.

PostgreSQL refuses to run as root; as root, it runs as the system user `ganops-pg`, made if
missing, which is given the data folder, the right to pass through the state folder (its
group) and through that folder's parents.

PostgreSQL listens on 127.0.0.1 only, its socket in the data folder (owner-only), and asks a
password of every connection, TCP or socket (SCRAM, `pg_hba.conf`). MLflow connects as the
role `mlflow`, which owns MLflow's two databases and nothing else: no superuser, no
`CREATEROLE`, no `CREATEDB`, so it cannot read other databases, run programs (`COPY ... FROM
PROGRAM`) or make itself an admin. Its generated password is in `pg_password`; the
superuser's, which only this script uses (to make the role and the databases), is in
`pg_admin_password`. Every file and folder this script and its servers make is owner-only
(umask 077: the state folder 0700, the artifacts 0700/0600). A state folder of the old
layout (PostgreSQL trusting every local connection, `mlflow` a superuser) is refused.

With `--auth`, the server asks for a user and password (MLflow's `basic-auth` app, its users
in a second database): the admin's password comes from `MLFLOW_AUTH_ADMIN_PASSWORD` (MLflow
has no default one) and is written nowhere; clients give theirs in
`MLFLOW_TRACKING_USERNAME` and `MLFLOW_TRACKING_PASSWORD`.

Usage: python tools/team_server.py start [--port 5050] [--pg-port 5433] [--auth] [--dir .server]
       python tools/team_server.py stop [--dir .server]
       python tools/team_server.py upgrade [--pg-port 5433] [--dir .server]  (after an MLflow
       upgrade: back up both databases, then migrate the runs' one)
Errors are one line on stderr, exit status 1.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import importlib.util
import os
import pwd
import re
import secrets
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.request import urlopen

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
DATABASE, AUTH_DATABASE, DB_USER = "mlflow", "mlflow_auth", "mlflow"
DB_ADMIN = "ganops_admin"  # PostgreSQL's superuser: makes the role and databases, nothing more
PASSWORD_FILE, ADMIN_PASSWORD_FILE = "pg_password", "pg_admin_password"
SCRAM_ITERATIONS = 4096  # PostgreSQL's own default
ADMIN_PASSWORD, ADMIN_USERNAME = "MLFLOW_AUTH_ADMIN_PASSWORD", "MLFLOW_AUTH_ADMIN_USERNAME"
SECRET_KEY = "MLFLOW_FLASK_SERVER_SECRET_KEY"  # the auth app's CSRF key
SYSTEM_USER = "ganops-pg"  # who runs PostgreSQL when this script runs as root
# how long `start` waits for the MLflow server to answer: it ends as soon as the server
# does, so the bound is wide enough for a slow, busy machine
START_TIMEOUT_S = 300


class ServerError(Exception):
    """A reason the server cannot start or stop, said in one line."""


def postgres_bin() -> Path:
    """The folder of the bundled PostgreSQL binaries (the `pgserver` wheel)."""
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise ServerError("pgserver is not installed: pip install -e '.[dev]' (make setup)")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def port_taken(port: int) -> bool:
    """Whether something listens on `port` (a port left in TIME_WAIT by a stopped server's
    connections is free: servers bind with SO_REUSEADDR, and so does this probe)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError:
            return True
    return False


def _as_postgres_user(command: list[str]) -> list[str]:
    """`command` as the user PostgreSQL runs as: this one, or `ganops-pg` under root."""
    return ["runuser", "-u", SYSTEM_USER, "--", *command] if os.geteuid() == 0 else command


def _hand_over(pgdata: Path, log: Path) -> None:
    """As root: make the system user, give it the data folder and its log, let it pass
    through the state folder (its group, mode 0710: no one else) and through every parent
    folder above (a pytest temp folder is 0700)."""
    try:
        pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
             SYSTEM_USER],
            check=True, capture_output=True,
        )  # fmt: skip
    user = pwd.getpwnam(SYSTEM_USER)
    log.touch()
    for path in (pgdata, log):
        os.chown(path, user.pw_uid, user.pw_gid)
    state = pgdata.parent
    os.chown(state, 0, user.pw_gid)
    state.chmod(0o710)
    for parent in [*state.parents, *postgres_bin().parents]:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH)


def _last_line(path: Path) -> str:
    """What a log says went wrong: its last exception line (`FooError: ...`), else its
    last line."""
    lines = [line.strip() for line in path.read_text(errors="replace").splitlines()]
    lines = [line for line in lines if line]
    errors = [line for line in lines if re.match(r"^[\w.]+(Error|Exception): ", line)]
    return (errors or lines or ["(empty log)"])[-1]


def running_postgres(state: Path) -> int | None:
    """The port of the PostgreSQL that runs from `state`, if one does (its postmaster.pid
    names its pid and, on the fourth line, its port)."""
    try:
        lines = (state / "pgdata" / "postmaster.pid").read_text().splitlines()
        pid, port = int(lines[0]), int(lines[3])
    except (OSError, ValueError, IndexError):
        return None
    if not _alive(pid):
        return None  # left by a crash or a reboot: PostgreSQL starts over it
    try:  # and not another program that was given the same pid since
        if b"postgres" not in Path(f"/proc/{pid}/cmdline").read_bytes():
            return None
    except OSError:  # no /proc (macOS)
        pass
    return port


def start_postgres(state: Path, pg_port: int) -> str:
    """Initialise the data folder once, start PostgreSQL on `pg_port` (or keep the one that
    already runs from `state` there: the MLflow server alone was stopped) and make MLflow's
    databases (the runs, the users); returns the URI of the runs' one."""
    binaries, pgdata, log = postgres_bin(), state / "pgdata", state / "postgres.log"
    running = running_postgres(state)
    if running is not None and running != pg_port:
        raise ServerError(f"PostgreSQL from {state} already runs on port {running}, not "
                          f"{pg_port}: stop it first (make server-stop)")  # fmt: skip
    _check_layout(state)
    if running is None:
        _start_postgres(binaries, pgdata, log, pg_port)
    _create_role_and_databases(binaries, state, pg_port)
    return f"postgresql://{DB_USER}@{HOST}:{pg_port}/{DATABASE}"


def _check_layout(state: Path) -> None:
    """Refuse a data folder made before PostgreSQL asked for passwords: it trusts every local
    connection and its `mlflow` role is a superuser, which no setting here can take back."""
    if (state / "pgdata" / "PG_VERSION").exists() and not (state / PASSWORD_FILE).exists():
        raise ServerError(
            f"{state} is of the old layout, whose PostgreSQL lets anyone on this machine in "
            f"as a superuser: move it aside (make server-stop; mv {state} {state}.old) and "
            f"run make server again for a new one with a password"
        )


def password(state: Path, name: str = PASSWORD_FILE) -> str:
    """The password kept in `state/name` (owner-only), made on first use."""
    path = state / name
    if not path.exists():
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out:
            out.write(secrets.token_urlsafe(24))
    return path.read_text().strip()


def scram_verifier(secret: str, salt: bytes | None = None) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores for `secret` (RFC 5802, 7677): given in
    `CREATE ROLE ... PASSWORD`, the password itself never reaches the server or its log."""
    salt = salt or secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", secret.encode(), salt, SCRAM_ITERATIONS)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()
    stored_key = hashlib.sha256(client_key).digest()
    salt_text, stored, server = (base64.b64encode(part).decode()
                                 for part in (salt, stored_key, server_key))  # fmt: skip
    return f"SCRAM-SHA-256${SCRAM_ITERATIONS}:{salt_text}${stored}:{server}"


def with_password(state: Path, name: str = PASSWORD_FILE) -> dict[str, str]:
    """This environment with `PGPASSWORD` set for the role whose password is `state/name`:
    libpq's clients (psql, pg_dump, SQLAlchemy's psycopg) read it there, not from a command
    line every account can see."""
    return dict(os.environ, PGPASSWORD=password(state, name))


def _start_postgres(binaries: Path, pgdata: Path, log: Path, pg_port: int) -> None:
    """Make the data folder if it is new (`initdb`: the user `mlflow`, trusted on loopback)
    and start PostgreSQL on `pg_port`, listening on 127.0.0.1 only."""
    fresh = not (pgdata / "PG_VERSION").exists()
    pgdata.mkdir(parents=True, exist_ok=True)
    pgdata.chmod(0o700)
    if os.geteuid() == 0:
        _hand_over(pgdata, log)
    if fresh:  # every connection, socket or TCP, gives a password (SCRAM)
        with tempfile.TemporaryDirectory() as folder:  # owner-only, for initdb's reading
            pwfile = Path(folder) / "pwfile"
            pwfile.write_text(password(pgdata.parent, ADMIN_PASSWORD_FILE) + "\n")
            if os.geteuid() == 0:
                user = pwd.getpwnam(SYSTEM_USER)
                for path in (Path(folder), pwfile):
                    os.chown(path, user.pw_uid, user.pw_gid)
            done = subprocess.run(
                _as_postgres_user([str(binaries / "initdb"), "-D", str(pgdata), "-U",
                                   DB_ADMIN, "--auth=scram-sha-256", f"--pwfile={pwfile}",
                                   "--encoding=UTF8"]),
                capture_output=True, text=True, check=False,
            )  # fmt: skip
        if done.returncode != 0:
            raise ServerError(f"PostgreSQL's initdb failed: {(done.stderr or done.stdout).strip()}")
    options = (f"-p {pg_port} -k {pgdata} -c listen_addresses={HOST} "
               f"-c unix_socket_permissions=0700")  # fmt: skip
    logged = log.stat().st_size if log.exists() else 0
    done = subprocess.run(
        _as_postgres_user([str(binaries / "pg_ctl"), "-D", str(pgdata), "-l", str(log),
                           "-o", options, "-w", "-t", "120", "start"]),
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:  # the server's own word when it wrote one, else pg_ctl's
        printed = (done.stderr or done.stdout).strip().splitlines() or ["pg_ctl gave no reason"]
        wrote = log.exists() and log.stat().st_size > logged
        said = _last_line(log) if wrote else printed[-1]
        raise ServerError(f"PostgreSQL could not start: {said} (log: {log})")


def _create_role_and_databases(binaries: Path, state: Path, pg_port: int) -> None:
    """As the superuser: make the role `mlflow` (login, nothing more) unless it exists, and
    MLflow's databases, owned by it, unless they exist; no other role may connect to them."""
    verifier = scram_verifier(password(state))
    role = (f"NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS LOGIN "
            f"PASSWORD '{verifier}'")  # fmt: skip
    script = [
        f"SELECT 'CREATE ROLE {DB_USER}' WHERE NOT EXISTS "
        f"(SELECT 1 FROM pg_roles WHERE rolname = '{DB_USER}') \\gexec",
        f"ALTER ROLE {DB_USER} {role};",
        "REVOKE CONNECT ON DATABASE postgres FROM PUBLIC;",
    ]
    for database in (DATABASE, AUTH_DATABASE):
        script += [
            f"SELECT 'CREATE DATABASE {database} OWNER {DB_USER}' WHERE NOT EXISTS "
            f"(SELECT 1 FROM pg_database WHERE datname = '{database}') \\gexec",
            f"REVOKE ALL ON DATABASE {database} FROM PUBLIC;",
        ]
    done = subprocess.run(
        [str(binaries / "psql"), "-h", HOST, "-p", str(pg_port), "-U", DB_ADMIN, "-d",
         "postgres", "-v", "ON_ERROR_STOP=1", "-qAt"],
        input="\n".join(script) + "\n", env=with_password(state, ADMIN_PASSWORD_FILE),
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        said = (done.stderr or done.stdout).strip().splitlines() or ["no answer"]
        raise ServerError(f"PostgreSQL on port {pg_port} did not make MLflow's role and "
                          f"databases: {said[-1]}")  # fmt: skip


def auth_config(state: Path, backend: str) -> Path:
    """The basic-auth app's config: users in their own database beside the runs', every
    user may read every experiment. The admin's password stays in the environment."""
    users = backend.rsplit("/", 1)[0] + f"/{AUTH_DATABASE}"
    path = state / "auth.ini"
    path.write_text(
        "[mlflow]\n"
        "default_permission = READ\n"
        f"database_uri = {users}\n"
        f"admin_username = {os.environ.get(ADMIN_USERNAME) or 'admin'}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
    )
    return path


def stop_postgres(state: Path) -> bool:
    """Stop PostgreSQL if it runs from `state`; whether it did. A fast shutdown, as
    `pg_ctl stop -m fast` asks for it: SIGINT to the postmaster (by signal rather than
    pg_ctl, which as `ganops-pg` may no longer pass through a parent folder that was closed
    since, as pytest does to its temporary folders)."""
    if running_postgres(state) is None:
        return False
    pid = int((state / "pgdata" / "postmaster.pid").read_text().split()[0])
    os.kill(pid, signal.SIGINT)
    deadline = time.time() + 60
    while _alive(pid) and time.time() < deadline:
        time.sleep(0.2)
    if _alive(pid):
        os.kill(pid, signal.SIGQUIT)  # an immediate shutdown
    return True


def _alive(pid: int) -> bool:
    """Whether process `pid` runs (a zombie, which nobody has reaped yet, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):  # no /proc (macOS)
        return True


def _secret_key(state: Path) -> str:
    """The auth app's CSRF key: made once and kept in the state folder (owner-only), so a
    restarted server accepts the sessions it signed before."""
    path = state / "secret_key"
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(secrets.token_hex(32))
    return path.read_text().strip()


def start_mlflow(
    state: Path, port: int, backend: str, auth: Path | None = None
) -> subprocess.Popen[bytes]:
    """`mlflow server` on `port` with `backend` and proxied artifacts under the state
    folder (with the basic-auth app and its config `auth`, if given), detached in a process
    group of its own; returns once it answers."""
    _check_port(port, "the MLflow server", "--port, or make server SERVER_PORT=...")
    log = state / "mlflow.log"
    mlflow = Path(sys.executable).parent / "mlflow"
    command = [
        str(mlflow), "server", "--host", HOST, "--port", str(port), "--workers", "1",
        "--backend-store-uri", backend,
        "--artifacts-destination", str(state / "artifacts"),
        *(["--app-name", "basic-auth"] if auth else []),
    ]  # fmt: skip
    (state / "artifacts").mkdir(mode=0o700, exist_ok=True)
    # the server execs uvicorn from the venv's bin
    env = dict(os.environ, PATH=f"{mlflow.parent}{os.pathsep}{os.environ.get('PATH', '')}")
    # MLflow's job runner (three more processes, for GenAI features) has nothing to do here
    env.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
    env["PGPASSWORD"] = password(state)  # the role's, read by libpq; on no command line
    if auth:
        env["MLFLOW_AUTH_CONFIG_PATH"] = str(auth)
        env.setdefault(SECRET_KEY, _secret_key(state))
    with log.open("ab") as output:
        server = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env,
                                  start_new_session=True)  # fmt: skip
    (state / "mlflow.pid").write_text(f"{server.pid}\n")
    deadline = time.time() + START_TIMEOUT_S
    while time.time() < deadline:
        if server.poll() is not None:
            reason = _last_line(log)
            if "out-of-date database schema" in reason:  # MLflow was upgraded
                reason += " Here: make server-upgrade (a backup, then the migration)."
            raise ServerError(f"the MLflow server exited: {reason} (log: {log})")
        try:
            with urlopen(f"http://{HOST}:{port}/health", timeout=2) as answer:  # no auth
                if answer.status == 200:
                    return server
        except OSError:  # not listening yet, or busy starting
            pass
        time.sleep(0.5)
    stop_mlflow(state)
    raise ServerError(f"the MLflow server did not answer in {START_TIMEOUT_S} s (log: {log})")


def stop_mlflow(state: Path) -> bool:
    """Stop the MLflow server started from `state` (its whole process group)."""
    pid_file = state / "mlflow.pid"
    if not pid_file.exists():
        return False
    pid = int(pid_file.read_text())
    pid_file.unlink()
    if not _alive(pid):
        return False
    os.killpg(pid, signal.SIGTERM)
    for _ in range(120):
        if not _alive(pid):
            break
        time.sleep(0.5)
    else:
        os.killpg(pid, signal.SIGKILL)
    return True


def _check_port(port: int, what: str, option: str) -> None:
    if port_taken(port):
        raise ServerError(f"port {port} on {HOST} is taken: {what} cannot listen there "
                          f"(choose another: {option})")  # fmt: skip


def start(state: Path, port: int, pg_port: int, auth: bool = False) -> None:
    """Start PostgreSQL (unless it runs from `state` already) and the MLflow server; say
    what to export and where the UI is. Every port is checked before anything starts."""
    _check_layout(state)
    if _mlflow_running(state):
        raise ServerError(f"a server from {state} already runs: stop it first (make server-stop)")
    if auth and not os.environ.get(ADMIN_PASSWORD):
        raise ServerError(f"--auth needs the admin's password in {ADMIN_PASSWORD}: "
                          f"MLflow has no default one")  # fmt: skip
    _check_port(port, "the MLflow server", "--port, or make server SERVER_PORT=...")
    kept = running_postgres(state) is not None
    if not kept:
        _check_port(pg_port, "PostgreSQL", "--pg-port, or make server PG_PORT=...")
    state.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        backend = start_postgres(state, pg_port)
        start_mlflow(state, port, backend, auth_config(state, backend) if auth else None)
    except (ServerError, OSError):
        if not kept:
            stop_postgres(state)
        raise
    uri = f"http://{HOST}:{port}"
    print(f"MLflow server on PostgreSQL ({backend}), artifacts in {state / 'artifacts'}")
    print(f"export MLFLOW_TRACKING_URI={uri}")
    if auth:
        admin = os.environ.get(ADMIN_USERNAME) or "admin"
        print(f"export MLFLOW_TRACKING_USERNAME={admin}  # and MLFLOW_TRACKING_PASSWORD")
    print(f"runs: {uri}/#/experiments?workflowType=machine_learning")
    print(f"logs: {state / 'mlflow.log'}, {state / 'postgres.log'}; stop: make server-stop")


def stop(state: Path) -> None:
    stopped = [name for name, done in (("MLflow server", stop_mlflow(state)),
                                       ("PostgreSQL", stop_postgres(state))) if done]  # fmt: skip
    print(f"stopped: {', '.join(stopped)}" if stopped else f"no server running from {state}")


def _mlflow_running(state: Path) -> bool:
    pid_file = state / "mlflow.pid"
    return pid_file.exists() and _alive(int(pid_file.read_text()))


def _run_or_fail(command: list[str], what: str, env: dict[str, str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        lines = [line for line in (done.stderr + done.stdout).splitlines() if line.strip()]
        errors = [line for line in lines if re.match(r"^[\w.]+(Error|Exception): ", line)]
        raise ServerError(f"{what} failed: {(errors or lines or ['no output'])[-1].strip()}")


def upgrade(state: Path, pg_port: int) -> None:
    """After an MLflow upgrade: back up both databases (`pg_dump`, into `backups/` in the
    state folder), then migrate the runs' one to this MLflow's schema (`mlflow db upgrade`;
    the basic-auth app migrates its users' database itself when it starts). The MLflow
    server must be stopped; PostgreSQL is started for this if it is not running, and
    stopped again after."""
    if _mlflow_running(state):
        raise ServerError(f"the MLflow server from {state} runs: stop it first (make server-stop)")
    if not (state / "pgdata" / "PG_VERSION").exists():
        raise ServerError(f"no server in {state}: nothing to upgrade")
    running = running_postgres(state)
    if running is None:
        _check_port(pg_port, "PostgreSQL", "--pg-port, or make server-upgrade PG_PORT=...")
    backend = start_postgres(state, running or pg_port)
    try:
        backups = state / "backups"
        backups.mkdir(exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        host, port = HOST, str(running or pg_port)
        for database in (DATABASE, AUTH_DATABASE):
            dump = backups / f"{database}-{stamp}.dump"
            dump_command = [str(postgres_bin() / "pg_dump"), "-h", host, "-p", port,
                            "-U", DB_USER, "-Fc", "-f", str(dump), database]  # fmt: skip
            _run_or_fail(dump_command, f"pg_dump of {database}", with_password(state))
        mlflow = Path(sys.executable).parent / "mlflow"
        _run_or_fail([str(mlflow), "db", "upgrade", backend], "mlflow db upgrade",
                     with_password(state))  # fmt: skip
    finally:
        if running is None:
            stop_postgres(state)
    print(f"upgraded {backend} to this MLflow's schema; backups in {backups}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=("start", "stop", "upgrade"))
    parser.add_argument("--dir", type=Path, default=ROOT / ".server", help="state folder")
    parser.add_argument("--port", type=int, default=5050, help="the MLflow server's port")
    parser.add_argument("--pg-port", type=int, default=5433, help="PostgreSQL's port")
    parser.add_argument("--auth", action="store_true", help="basic auth (MLflow's basic-auth)")
    args = parser.parse_args(argv)
    state = args.dir.resolve()
    os.umask(0o077)  # whatever this script and its servers make is its owner's alone
    try:
        if args.action == "start":
            start(state, args.port, args.pg_port, args.auth)
        elif args.action == "upgrade":
            upgrade(state, args.pg_port)
        else:
            stop(state)
    except (ServerError, OSError, subprocess.CalledProcessError) as error:
        print(f"team_server: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

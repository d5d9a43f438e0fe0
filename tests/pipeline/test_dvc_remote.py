"""A team's DVC remote on a real server: a WebDAV server (wsgidav, basic auth) on 127.0.0.1
holds the data and models, a bare git repo on disk stands for the team's git remote.
`make push` from one clone, `make pull` in a fresh one, and experiments pushed by one
teammate and pulled by another: nothing trains twice."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.helpers import SERVER_START_S, background_server, free_port, write_params
from tests.pipeline.repo import VENV, dvc, env, make, make_repo, sh

pytestmark = pytest.mark.slow

USER = "teammate"
PASSWORD = "not-in-git-7f3a"  # the test's own; it must reach no tracked file
# Cheaper than the suite's tiny run: one evaluator epoch, and an unconditional generator, for
# which the downstream stage trains no classifiers. What the remote carries is the same kind.
CHEAP = {"train": {"epochs": 1}, "evaluator": {"epochs": 1}, "model": {"conditional": False}}
METRICS = ("data/evaluator/metrics.json", "data/train/metrics.json", "data/eval/metrics.json",
           "data/downstream/metrics.json")  # fmt: skip


@dataclass(frozen=True)
class Team:
    """The shared places: the git remote (a bare repo), the DVC remote's URL and the folder
    the WebDAV server keeps it in, and teammate A's workspace, where the baseline ran."""

    git_remote: Path
    dvc_url: str
    dav_folder: Path
    workspace: Path


@contextlib.contextmanager
def webdav_server(folder: Path, start_timeout_s: float = SERVER_START_S) -> Iterator[str]:
    """The real `wsgidav` (cheroot) serving `folder` on a free loopback port, with basic
    auth for USER; yields its URL once it answers an authenticated PROPFIND, and stops it."""
    port = free_port()
    config = folder.parent / "wsgidav.json"  # beside the share: the password stays off it
    config.write_text(json.dumps({
        "host": "127.0.0.1", "port": port,
        "provider_mapping": {"/": str(folder)},
        "http_authenticator": {"accept_basic": True, "accept_digest": False,
                               "default_to_digest": False},
        "simple_dc": {"user_mapping": {"*": {USER: {"password": PASSWORD}}}},
        "verbose": 2,
    }))  # fmt: skip
    command = [str(Path(sys.executable).parent / "wsgidav"), "--config", str(config)]
    url = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        found = requests.request("PROPFIND", url, auth=(USER, PASSWORD),
                                 headers={"Depth": "0"}, timeout=2)  # fmt: skip
        return found.status_code == 207

    log = folder.parent / "wsgidav.log"
    with background_server("wsgidav", command, log, answers, start_timeout_s, env=env()):
        yield url


def _login(repo: Path) -> None:
    """Credentials for the remote in the clone's own `.dvc/config.local`, which git ignores."""
    dvc(repo, "remote", "modify", "--local", "storage", "user", USER)
    dvc(repo, "remote", "modify", "--local", "storage", "password", PASSWORD)


def _clone(team: Team, path: Path) -> Path:
    sh(path.parent, "git", "clone", "-q", str(team.git_remote), str(path))
    return path


def _metrics(repo: Path) -> dict[str, str]:
    return {name: (repo / name).read_text() for name in METRICS}


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Team]:
    """Teammate A's repo with a finished tiny run committed, a WebDAV server as its default
    DVC remote (the URL in the committed `.dvc/config`, the credentials not), and a bare
    git repo as `origin` holding both commits."""
    base = tmp_path_factory.mktemp("team")
    folder = base / "dav"
    folder.mkdir()
    with webdav_server(folder) as url:
        repo = make_repo(base)
        write_params(repo / "params.yaml", CHEAP)
        dvc(repo, "repro")
        sh(repo, "git", "add", "-A")
        sh(repo, "git", "commit", "-qm", "baseline results")
        # the team's folder on the server; DVC makes the folders inside it, not it
        made = requests.request("MKCOL", f"{url}/ganops", auth=(USER, PASSWORD), timeout=10)
        assert made.status_code == 201, made.text
        dvc_url = f"webdav://{url.removeprefix('http://')}/ganops"
        dvc(repo, "remote", "add", "-d", "storage", dvc_url)
        _login(repo)
        sh(repo, "git", "commit", "-qm", "DVC remote", ".dvc/config")
        git_remote = base / "origin.git"
        sh(base, "git", "init", "-q", "--bare", "-b", "main", str(git_remote))
        sh(repo, "git", "remote", "add", "origin", str(git_remote))
        sh(repo, "git", "push", "-q", "origin", "main")
        yield Team(git_remote, dvc_url, folder, repo)


def test_the_credentials_stay_out_of_git(team: Team) -> None:
    repo = team.workspace
    tracked = sh(repo, "git", "show", "HEAD:.dvc/config").stdout
    assert team.dvc_url in tracked and PASSWORD not in tracked and USER not in tracked
    assert PASSWORD in (repo / ".dvc" / "config.local").read_text()
    sh(repo, "git", "check-ignore", "-q", ".dvc/config.local")  # fails the test if tracked
    assert PASSWORD not in sh(repo, "git", "grep", "-I", "-e", "storage", "HEAD").stdout


def test_make_pull_in_a_fresh_clone_leaves_nothing_to_do(team: Team, tmp_path: Path) -> None:
    repo = team.workspace
    make(repo, "push")
    stored = [p for p in (team.dav_folder / "ganops").rglob("*") if p.is_file()]
    generator = repo / "data/models/model.pt"
    assert any(p.read_bytes() == generator.read_bytes() for p in stored)  # on the server

    clone = _clone(team, tmp_path / "clone")
    pull = ["make", "pull", f"VENV={VENV}", "-o", f"{VENV}/.installed"]  # as repo.make runs it
    refused = subprocess.run(pull, cwd=clone, env=env(), capture_output=True, text=True)
    # no credentials: the server says 401 and make pull fails, rather than leave dvc repro
    # to retrain everything
    assert refused.returncode != 0 and "401" in refused.stderr, refused.stdout + refused.stderr
    assert not (clone / "data/models/model.pt").exists()

    _login(clone)
    make(clone, "pull")
    status = dvc(clone, "status")
    assert "Data and pipelines are up to date." in status.stdout
    done = dvc(clone, "repro")
    assert "Data and pipelines are up to date." in done.stdout  # nothing retrains
    assert _metrics(clone) == _metrics(repo)  # the same scores
    for path in ("data/models/model.pt", "data/models/evaluator.pt", "data/samples/grid.png"):
        assert (clone / path).read_bytes() == (repo / path).read_bytes()
    assert not (clone / "mlflow.db").exists()  # no stage ran


def test_a_teammates_experiment_arrives_without_retraining(team: Team, tmp_path: Path) -> None:
    repo = team.workspace
    # teammate A: an experiment that only rescores (eval.* reaches the evaluate stage alone)
    done = dvc(repo, "exp", "run", "-n", "fewer-neighbours", "-S", "eval.nn_samples=4")
    assert "Running stage 'evaluate'" in done.stdout and "Running stage 'train'" not in done.stdout
    exp_metrics = _metrics(repo)
    dvc(repo, "exp", "push", "origin", "fewer-neighbours")  # git refs to origin, outputs to DAV

    # teammate B: a fresh clone with its own credentials
    clone = _clone(team, tmp_path / "teammate")
    _login(clone)
    assert "fewer-neighbours" in dvc(clone, "exp", "list", "origin").stdout
    dvc(clone, "exp", "pull", "origin", "fewer-neighbours")
    shown = json.loads(dvc(clone, "exp", "show", "--json").stdout)
    experiments = [exp for commit in shown for exp in (commit.get("experiments") or [])]
    (pulled,) = [exp for exp in experiments if exp.get("name") == "fewer-neighbours"]
    params = pulled["revs"][0]["data"]["params"]["params.yaml"]["data"]
    assert params["eval"]["nn_samples"] == 4

    dvc(clone, "exp", "apply", "fewer-neighbours")
    assert "Data and pipelines are up to date." in dvc(clone, "status").stdout
    assert _metrics(clone) == exp_metrics  # A's scores, B's workspace
    for path in ("data/models/model.pt", "data/eval/plots/nearest_neighbours.png"):
        assert (clone / path).read_bytes() == (repo / path).read_bytes()
    assert "Data and pipelines are up to date." in dvc(clone, "repro").stdout
    assert not (clone / "mlflow.db").exists()  # B ran no stage

"""End to end: the real `dvc repro`, `dvc exp run` and the experiment queue in a temporary
git repository, with the MLflow store the pipeline writes on its own (no URI set)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pytest
import requests
from ruamel.yaml import YAML

from ganops.dotted import flatten
from ganops.params import load_params
from ganops.revisions import with_run
from tests.helpers import ROOT, answers_ok, free_port, train_record, wait_for_answer
from tests.pipeline.repo import VENV, dvc, env, make, make_repo, runs, sh

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def reproduced(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    repo = make_repo(tmp_path_factory.mktemp("e2e"))
    done = dvc(repo, "repro")
    return repo, done.stdout + done.stderr


STAGES = ("fetch", "preprocess", "train_evaluator", "train", "sample", "evaluate", "downstream")


def test_repro_runs_every_stage(reproduced: tuple[Path, str]) -> None:
    repo, output = reproduced
    for stage in STAGES:
        assert f"Running stage '{stage}'" in output
    lock = YAML(typ="safe").load((repo / "dvc.lock").read_text())
    assert set(lock["stages"]) == set(STAGES)
    train_outs = {out["path"] for out in lock["stages"]["train"]["outs"]}
    assert {"data/models/model.pt", "data/checkpoints", "data/train/metrics.json"} <= train_outs
    assert lock["stages"]["train"]["params"]["params.yaml"]["train"]["epochs"] == 2
    assert (repo / "data" / "samples" / "grid.png").is_file()
    shown = json.loads(dvc(repo, "metrics", "show", "--json").stdout)
    metrics = shown[""]["data"] if "" in shown else next(iter(shown.values()))["data"]
    scores = metrics["data/eval/metrics.json"]["data"]
    assert {"fid", "kid_mean", "precision", "recall", "classes_covered", "real_floor"} <= set(
        scores
    )
    assert "accuracy" in metrics["data/evaluator/metrics.json"]["data"]
    # the default on ten classes is a conditional GAN: its samples feed the downstream arms
    assert "training dcgan, conditional, 10 classes (model.conditional: auto)" in output
    arms = json.loads((repo / "data/downstream/metrics.json").read_text())
    assert {"real", "real_synthetic", "real_affine", "gain_synthetic_vs_real"} <= set(arms)
    assert {"conditional_accuracy", "cas", "cas_real"} <= set(scores)
    assert not (repo / "mlruns").exists()


def test_the_run_is_in_the_workspace_store(reproduced: tuple[Path, str]) -> None:
    repo, _ = reproduced
    (run,) = runs(repo)
    client = mlflow.MlflowClient(f"sqlite:///{repo / 'mlflow.db'}")
    assert run.info.status == "FINISHED"
    assert run.data.params.keys() == flatten(load_params(repo / "params.yaml")).keys()
    assert run.data.params["train.epochs"] == "2"
    head = sh(repo, "git", "rev-parse", "HEAD").stdout.strip()
    assert run.data.tags["git.commit"] == head
    assert run.data.tags["git.dirty"] == "false"
    assert len(run.data.tags["params.hash"]) == 16
    steps = json.loads((repo / "data" / "train" / "metrics.json").read_text())["steps"]
    keys = ("train/loss_d", "train/loss_g", "train/d_real", "train/d_fake", "perf/images_per_s")
    for key in keys:
        assert [m.step for m in client.get_metric_history(run.info.run_id, key)] == list(
            range(1, steps + 1)
        )
    assert [m.step for m in client.get_metric_history(run.info.run_id, "train/quick_fid")] == [
        steps // 2, steps,
    ]  # fmt: skip
    assert "eval/fid" in run.data.metrics and "eval_real_floor/fid" in run.data.metrics
    images = [a.path for a in client.list_artifacts(run.info.run_id, "images")]
    assert sum(path.endswith(".png") for path in images) == 2  # one grid per epoch
    assert {a.path for a in client.list_artifacts(run.info.run_id, "samples")} == {
        "samples/grid.png", "samples/interpolation.png",
    }  # fmt: skip
    (model,) = client.search_logged_models([run.info.experiment_id])
    assert model.source_run_id == run.info.run_id and model.name == "generator"
    assert client.get_model_version("ganops-generator", "1").run_id == run.info.run_id
    record = train_record(repo / "data/train/run.json")
    assert record["run_id"] == run.info.run_id
    assert record["tracking_uri"] == "sqlite:///mlflow.db"  # valid in any clone


def test_second_repro_does_nothing(reproduced: tuple[Path, str]) -> None:
    repo, _ = reproduced
    before = len(runs(repo))
    done = dvc(repo, "repro")
    assert "Data and pipelines are up to date." in done.stdout
    assert len(runs(repo)) == before


def test_a_rebuild_leaves_git_clean(reproduced: tuple[Path, str]) -> None:
    """Rebuilding a commit gives every file git tracks the same bytes: run.json holds what the
    params determine, the run's id and time go to the git-ignored mlflow_run.json, and the
    resume state's global random streams are seeded."""
    repo, _ = reproduced
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "commit", "-qm", "baseline results")
    record = json.loads((repo / "data/train/run.json").read_text())
    assert not {"run_id", "model_uri", "train_time_s", "tracking_uri"} & set(record)
    first = train_record(repo / "data/train/run.json")["run_id"]
    before = len(runs(repo))
    dvc(repo, "repro", "-f", "--downstream", "train")  # the later stages log to the new run
    assert "Data and pipelines are up to date." in dvc(repo, "repro").stdout
    # every tracked file and every line of dvc.lock the same, the resume state's included
    assert sh(repo, "git", "status", "--porcelain").stdout == "", sh(repo, "git", "diff").stdout
    assert len(runs(repo)) == before + 1  # the train stage ran and logged a run of its own
    assert train_record(repo / "data/train/run.json")["run_id"] not in ("", first)


def test_experiments_land_in_the_same_store(reproduced: tuple[Path, str]) -> None:
    repo, _ = reproduced
    before = len(runs(repo))
    finished = len(_experiment_refs(repo))

    dvc(repo, "exp", "run", "--queue", "-n", "queued-a", "-S", "train.lr=0.001")
    dvc(repo, "exp", "run", "--queue", "-n", "queued-b", "-S", "train.lr=0.002")
    dvc(repo, "queue", "start", "-j", "2")
    # A finished experiment leaves a git ref under refs/exps: git answers in milliseconds, where
    # each `dvc queue status` is a second or two of the CPU the experiments run on. The queue's
    # own status is asked every 30 s too, so that a failed experiment ends the wait.
    deadline, asked = time.time() + 480, 0.0
    while time.time() < deadline:
        if len(_experiment_refs(repo)) >= finished + 2 or time.time() - asked > 30:
            status, asked = dvc(repo, "queue", "status").stdout, time.time()
            if "Queued" not in status and "Running" not in status:
                break
        time.sleep(1)
    dvc(repo, "queue", "stop")
    assert status.count("Success") == 2, status
    # Two queue workers usually run them side by side, but DVC's queue does not promise it
    # (one worker sometimes takes both in turn), so overlap is not asserted here: four
    # trainings started together on one store are tests/pipeline/test_concurrent_store.py.
    for name in ("queued-a", "queued-b"):
        log = dvc(repo, "queue", "logs", name).stdout
        assert "Running stage 'train'" in log and "database is locked" not in log, log

    new = {r.data.tags.get("dvc.exp_name"): r for r in runs(repo)[before:]}
    assert set(new) == {"queued-a", "queued-b"}
    assert {name: r.data.params["train.lr"] for name, r in new.items()} == {
        "queued-a": "0.001", "queued-b": "0.002",
    }  # fmt: skip
    assert all(r.info.status == "FINISHED" for r in new.values())
    assert all(r.info.run_name == name for name, r in new.items())
    assert not list((repo / ".dvc" / "tmp").rglob("mlflow.db"))  # nothing stranded in the copies

    shown = json.loads(dvc(repo, "exp", "show", "--json").stdout)
    names = {exp.get("name") for commit in shown for exp in (commit.get("experiments") or [])}
    assert {"queued-a", "queued-b"} <= names
    table = sh(repo, "python", "-m", "ganops.cli", "exps", "--width", "160").stdout
    rows = {line.split()[0]: line for line in table.splitlines()[1:]}
    assert rows["queued-a"].endswith("train.lr=0.001")
    assert rows["queued-b"].endswith("train.lr=0.002")
    # the training time comes from each experiment's run in the store, found by params hash
    assert all(rows[name].split()[7].isdigit() for name in ("queued-a", "queued-b")), table
    assert all(len(line) <= 160 for line in table.splitlines())
    # ganops exps and the guide's cut of dvc exp show, drawn as a 160-column terminal in
    # Chromium: the picture in the guide (tools/terminal_shot.py refuses a wider line)
    picture = repo.parent / "exps.png"
    drawn = sh(repo, sys.executable, str(ROOT / "tools/terminal_shot.py"), "--root", str(repo),
               "--out", str(picture)).stdout  # fmt: skip
    assert "$ ganops exps --width 160" in drawn and rows["queued-a"].strip() in drawn
    assert picture.read_bytes()[:4] == b"\x89PNG"
    # (a workspace `dvc exp run` is in test_dvc_remote, test_retrain and the translation test)
    dvc(repo, "exp", "apply", "queued-a")  # the queue's results come back without a stage
    assert "Data and pipelines are up to date." in dvc(repo, "status").stdout
    params_diff = dvc(repo, "params", "diff").stdout
    assert "train.lr" in params_diff and "0.001" in params_diff
    assert "loss_d" in dvc(repo, "metrics", "diff", "--all").stdout


def _experiment_refs(repo: Path) -> list[str]:
    """The git refs of the repo's finished experiments (DVC keeps them under refs/exps)."""
    return sh(repo, "git", "for-each-ref", "--format=%(refname)", "refs/exps").stdout.split()


def test_plots_render(reproduced: tuple[Path, str]) -> None:
    """`make plots` on the pipeline's own outputs: every chart's data and title, every picture,
    and no script from a CDN (tests/test_plots_page.py draws such a page in Chromium)."""
    repo, _ = reproduced
    make(repo, "plots")
    html = (repo / "dvc_plots" / "index.html").read_text()
    assert "loss_d" in html and "loss_g" in html and "grid.png" in html
    assert "quick_fid" in html and "nearest_neighbours.png" in html and '"class"' in html
    for picture in ("interpolation.png", "class_histogram.png", "arms.png"):
        assert f"_{picture}" in html, picture
    assert "Adversarial losses" in html and "<script src" not in html
    assert '"text": "data/train/history.tsv"' not in html  # no untitled stage-level chart
    # a plain dvc plots show takes the same template (.dvc/config's plots.html_template)
    dvc(repo, "plots", "show", "-o", "plain")
    plain = (repo / "plain" / "index.html").read_text()
    assert "Adversarial losses" in plain and "<script src" not in plain


def test_make_ui_serves_the_runs(reproduced: tuple[Path, str]) -> None:
    repo, _ = reproduced
    port = free_port()
    # -o: treat the venv as set up (it is this interpreter's), so make installs nothing
    command = ["make", "ui", f"PORT={port}", f"VENV={VENV}", "-o", f"{VENV}/.installed"]
    log = repo / "ui.log"
    with log.open("w") as output:
        server = subprocess.Popen(command, cwd=repo, env=env(), start_new_session=True,
                                  stdout=output, stderr=subprocess.STDOUT)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_answer("make ui", answers_ok(base + "/health"), server, log)
        found = requests.post(
            base + "/ajax-api/2.0/mlflow/runs/search",
            json={"experiment_ids": [runs(repo)[0].info.experiment_id]},
            timeout=30,
        ).json()["runs"]
        assert {run["info"]["run_id"] for run in found} == {r.info.run_id for r in runs(repo)}
        # the workspace holds queued-a's outputs (dvc exp apply): its run, found by params hash
        record = json.loads((repo / "data/train/run.json").read_text())
        run_id = with_run(repo, record)["run_id"]
        grid = requests.get(
            base + "/get-artifact",
            params={"path": "samples/grid.png", "run_uuid": run_id},
            timeout=30,
        )
        assert grid.ok and grid.content[:4] == b"\x89PNG"
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)


# the paired translation line of docs/translation-guide.md, made tiny
TRANSLATE = ("task=translate", "translate.epochs=1", "translate.width=8",
             "translate.batch_size=200", "downstream.steps=20", "downstream.seeds=2")  # fmt: skip


def test_a_translation_experiment_runs_every_stage(reproduced: tuple[Path, str]) -> None:
    """`dvc exp run -S task=translate`: the seven stages, offline, with the translator's
    triplet grids, scores beside their baselines and downstream arms in the workspace store.
    Last in the module: it leaves the workspace translated."""
    repo, _ = reproduced
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "commit", "-qm", "before the translation experiment", "--allow-empty")
    before = len(runs(repo))
    overrides = [arg for setting in TRANSLATE for arg in ("-S", setting)]
    done = dvc(repo, "exp", "run", "-n", "translate-paired", *overrides)
    for stage in STAGES:
        assert f"Running stage '{stage}'" in done.stdout + done.stderr
    scores = json.loads((repo / "data/eval/metrics.json").read_text())
    assert set(scores) == {"translation", "identity", "bicubic"}
    assert {"fid", "label_preservation", "psnr", "ssim"} <= set(scores["translation"])
    arms = json.loads((repo / "data/downstream/metrics.json").read_text())
    assert {"source", "source_affine", "translated"} <= set(arms)
    (run,) = runs(repo)[before:]
    assert run.info.status == "FINISHED" and run.data.params["task"] == "translate"
    assert run.data.tags.get("dvc.exp_name") == "translate-paired"
    assert "eval/translation.label_preservation" in run.data.metrics
    client = mlflow.MlflowClient(f"sqlite:///{repo / 'mlflow.db'}")
    logged = {f.path for f in client.list_artifacts(run.info.run_id)}
    assert any(path.startswith("images") for path in logged), logged  # the per-epoch grids

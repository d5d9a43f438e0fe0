"""MLflow tracking against a real sqlite store."""

from __future__ import annotations

import json
import logging
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pytest
import torch

from ganops.config import Params, params_hash
from ganops.dotted import flatten
from ganops.errors import TrackingError
from ganops.models import GeneratorSpec, build_generator
from ganops.tracking import (
    git_state,
    load_logged_generator,
    open_run,
    project_root,
    redact_uri,
    tracking_uri,
)
from ganops.tracking.run import chart_key


def test_project_root_sees_through_dvc_experiment_copies(tmp_path: Path) -> None:
    (tmp_path / ".dvc" / "tmp" / "exps" / "tmpab12" / "pipeline").mkdir(parents=True)
    assert project_root(tmp_path / ".dvc" / "tmp" / "exps" / "tmpab12") == tmp_path
    assert project_root(tmp_path / ".dvc" / "tmp" / "exps" / "tmpab12" / "pipeline") == tmp_path
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    (tmp_path / "sub").mkdir()
    assert project_root(tmp_path / "sub") == tmp_path


def test_default_store_is_absolute_at_the_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert tracking_uri(tmp_path) == f"sqlite:///{tmp_path}/mlflow.db"
    assert tracking_uri(tmp_path).startswith("sqlite:////")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5999")
    assert tracking_uri(tmp_path) == "http://127.0.0.1:5999"


def test_credentials_never_leave_the_uri() -> None:
    assert (
        redact_uri("https://user:s3cret@mlflow.example.com:8443/x")
        == "https://mlflow.example.com:8443/x"
    )
    assert redact_uri("sqlite:////a/b.db") == "sqlite:////a/b.db"


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def test_git_state(tmp_path: Path) -> None:
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "config", "user.email", "t@example.com")
    _git(tmp_path, "config", "user.name", "t")
    (tmp_path / "params.yaml").write_text("a: 1\n")
    (tmp_path / "dvc.lock").write_text("x\n")
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-qm", "init")
    commit, dirty = git_state(tmp_path)
    assert len(commit) == 40 and not dirty
    (tmp_path / "dvc.lock").write_text("y\n")  # dvc repro rewrites it between stages
    assert not git_state(tmp_path)[1]
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / ".gitignore").write_text("/raw\n")  # DVC's, for its outputs
    assert not git_state(tmp_path)[1]
    (tmp_path / "params.yaml").write_text("a: 2\n")
    assert git_state(tmp_path)[1]
    assert git_state(tmp_path.parent / "not-a-repo-xyz")[0] == "unknown"


@pytest.fixture
def params(tiny_params: Callable[..., Params]) -> Params:
    return tiny_params()


def _run(uri: str, run_id: str) -> mlflow.entities.Run:
    return mlflow.MlflowClient(uri).get_run(run_id)


def test_run_records_params_tags_metrics_and_images(
    mlflow_store: str, params: Params, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DVC_EXP_NAME", "brisk-lynx")
    with open_run(params.tracking, params, root=workdir) as run:
        run.log_metrics(1, {"loss_d": 1.5, "loss_g": 0.5})
        run.log_metrics(2, {"loss_d": 1.25, "loss_g": 0.75})
        run.log_grid(2, np.zeros((10, 12, 1), np.uint8))
    record = _run(mlflow_store, run.run_id)
    assert record.info.status == "FINISHED"
    assert record.info.run_name == "brisk-lynx"
    assert record.data.params["train.lr"] == str(params.train.lr)
    tags = record.data.tags
    assert tags["dvc.exp_name"] == "brisk-lynx"
    assert tags["params.hash"] == params_hash(params)
    assert tags["git.commit"] == "unknown" and tags["git.dirty"] == "true"  # not a git checkout
    history = mlflow.MlflowClient(mlflow_store).get_metric_history(run.run_id, "train/loss_d")
    assert [(m.step, m.value) for m in history] == [(1, 1.5), (2, 1.25)]
    images = mlflow.MlflowClient(mlflow_store).list_artifacts(run.run_id, "images")
    assert any(item.path.endswith(".png") and "samples" in item.path for item in images)
    experiment = mlflow.MlflowClient(mlflow_store).get_experiment(record.info.experiment_id)
    assert experiment.artifact_location == (workdir / "mlartifacts" / "ganops").as_uri()


def test_the_experiment_opens_on_its_training_runs(
    mlflow_store: str, params: Params, workdir: Path
) -> None:
    """The MLflow 3 UI opens an experiment without `mlflow.experimentKind` on its GenAI
    overview; ganops marks its experiment as model training, also one made before."""
    client = mlflow.MlflowClient(mlflow_store)
    older = client.create_experiment("older", artifact_location=(workdir / "a").as_uri())
    for name in (params.tracking.experiment, "older"):
        with open_run(params.tracking.model_copy(update={"experiment": name}), root=workdir):
            pass
        kind = client.get_experiment_by_name(name).tags.get("mlflow.experimentKind")  # type: ignore[union-attr]
        assert kind == "custom_model_development"
    assert client.get_experiment(older).tags["mlflow.experimentKind"] == "custom_model_development"


def test_a_run_records_its_dataset_as_an_input(
    mlflow_store: str, params: Params, workdir: Path
) -> None:
    with open_run(params.tracking, params, root=workdir) as run:
        run.log_dataset("mnist-5k", "0123abcd", "digits", {"train_images": 4000})
    inputs = _run(mlflow_store, run.run_id).inputs.dataset_inputs
    assert [(i.dataset.name, i.dataset.digest, i.dataset.source) for i in inputs] == [
        ("mnist-5k", "0123abcd", "digits")
    ]
    assert json.loads(inputs[0].dataset.profile) == {"train_images": 4000}
    assert [(tag.key, tag.value) for tag in inputs[0].tags] == [("mlflow.data.context", "training")]


@pytest.mark.parametrize("fails", [1, 2])
def test_a_dataset_row_lost_to_a_concurrent_run_is_asked_for_again(
    mlflow_store: str, params: Params, workdir: Path, monkeypatch: pytest.MonkeyPatch, fails: int
) -> None:
    """Runs started together race to insert the experiment's dataset row on a server; the
    loser's unique-key error is retried (the row is there then), anything else is raised."""
    with open_run(params.tracking, params, root=workdir) as run:
        real, calls = run.client.log_inputs, []

        def racing(*args: Any, **kwargs: Any) -> None:
            calls.append(1)
            if len(calls) <= fails:
                raise mlflow.exceptions.RestException(
                    {"error_code": "BAD_REQUEST", "message": "(psycopg.errors.UniqueViolation)"
                     " duplicate key value violates unique constraint \"dataset_pk\""}
                )  # fmt: skip
            real(*args, **kwargs)

        monkeypatch.setattr(run.client, "log_inputs", racing)
        monkeypatch.setattr("ganops.tracking.run.time.sleep", lambda s: None)
        run.log_dataset("mnist-5k", "0123abcd", "digits", {"train_images": 4000})
        assert len(calls) == fails + 1
        monkeypatch.setattr(
            run.client, "log_inputs",
            lambda *a, **k: (_ for _ in ()).throw(mlflow.exceptions.MlflowException("no such run")),
        )  # fmt: skip
        with pytest.raises(mlflow.exceptions.MlflowException, match="no such run"):
            run.log_dataset("other", "4567", "digits", {})
    inputs = _run(mlflow_store, run.run_id).inputs.dataset_inputs
    assert [i.dataset.digest for i in inputs] == ["0123abcd"]


@pytest.mark.parametrize(
    ("key", "chart"),
    [
        ("loss_d", "train/loss_d"),
        ("quick_fid", "train/quick_fid"),
        ("images_per_s", "perf/images_per_s"),
        ("train_time_s", "perf/train_time_s"),
        ("fid", "eval/fid"),
        ("real_floor.fid", "eval_real_floor/fid"),
        ("downstream.real.accuracy_mean", "downstream/real.accuracy_mean"),
        ("custom/thing", "custom/thing"),
    ],
)
def test_metrics_are_charted_in_sections(key: str, chart: str) -> None:
    assert chart_key(key) == chart


def test_every_param_is_logged_flat(mlflow_store: str, params: Params, workdir: Path) -> None:
    with open_run(params.tracking, params, root=workdir) as run:
        pass
    logged = _run(mlflow_store, run.run_id).data.params
    assert logged.keys() == flatten(params).keys()


@pytest.mark.parametrize(
    ("error", "status"),
    [(RuntimeError("boom\nsecond line"), "FAILED"), (KeyboardInterrupt(), "KILLED")],
)
def test_failures_never_leave_a_run_running(
    mlflow_store: str, params: Params, workdir: Path, error: BaseException, status: str
) -> None:
    with pytest.raises(type(error)), open_run(params.tracking, params, root=workdir) as run:
        run.log_metrics(1, {"loss_d": 0.5})
        raise error
    record = _run(mlflow_store, run.run_id)
    assert record.info.status == status
    assert [
        m.step
        for m in mlflow.MlflowClient(mlflow_store).get_metric_history(run.run_id, "train/loss_d")
    ] == [1]
    if status == "FAILED":
        assert record.data.tags["error"] == "RuntimeError: boom"


def test_reopening_a_run_continues_it(mlflow_store: str, params: Params, workdir: Path) -> None:
    with open_run(params.tracking, params, root=workdir) as run:
        pass
    with open_run(params.tracking, run_id=run.run_id, root=workdir) as again:
        again.log_artifact(Path(__file__), "extra")
    assert again.run_id == run.run_id
    assert _run(mlflow_store, run.run_id).info.status == "FINISHED"
    names = [a.path for a in mlflow.MlflowClient(mlflow_store).list_artifacts(run.run_id, "extra")]
    assert names == ["extra/test_tracking.py"]


def test_unknown_run_is_a_tracking_error(mlflow_store: str, params: Params, workdir: Path) -> None:
    with (
        pytest.raises(TrackingError, match="refused the run"),
        open_run(params.tracking, run_id="0" * 32, root=workdir),
    ):
        pass


def test_generator_logged_as_model_and_loaded_back(
    mlflow_store: str, params: Params, workdir: Path
) -> None:
    spec = GeneratorSpec("dcgan", 8, 4, (1, 28, 28))
    generator = build_generator(spec).eval()
    with open_run(params.tracking, params, root=workdir) as run:
        model_uri = run.log_generator(generator, spec, registered_model="tiny-generator")
    info = mlflow.models.get_model_info(model_uri)
    assert "python_function" in info.flavors  # what `mlflow models serve` runs
    requested = {column.name for column in info.signature.inputs.inputs[0].type.properties}
    assert requested == {"count", "classes", "seed", "z", "labels", "format"}
    version = mlflow.MlflowClient(mlflow_store).get_model_version("tiny-generator", "1")
    assert version.run_id == run.run_id
    for uri in (model_uri, "models:/tiny-generator/1"):
        loaded, loaded_spec = load_logged_generator(uri, torch.device("cpu"))
        z = torch.randn(3, 8)
        assert loaded_spec == spec
        assert torch.allclose(loaded(z), generator(z), atol=1e-6)
        loaded.eval()  # exported graphs refuse eval(); the wrapper takes it


def test_conditional_generator_logged_with_labels_and_loaded_back(
    mlflow_store: str, params: Params, workdir: Path
) -> None:
    spec = GeneratorSpec("dcgan", 8, 4, (1, 28, 28), num_classes=10)
    generator = build_generator(spec).eval()
    with open_run(params.tracking, params, root=workdir) as run:
        model_uri = run.log_generator(generator, spec, registered_model=None)
    loaded, loaded_spec = load_logged_generator(model_uri, torch.device("cpu"))
    assert loaded_spec == spec
    z, labels = torch.randn(5, 8), torch.tensor([0, 3, 9, 3, 7])
    assert torch.allclose(loaded(z, labels), generator(z, labels), atol=1e-6)
    with pytest.raises(ValueError, match="conditioned on 10 classes: pass labels"):
        loaded(z)


def test_a_model_the_local_store_cannot_take_is_a_one_line_error(
    mlflow_store: str, params: Params, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every task's model goes through one fallback: on the local store there is nowhere
    else to go, so a model that cannot be logged there (here the text model) names itself."""

    def refused(*args: Any) -> str:
        raise ConnectionRefusedError("connection refused")

    monkeypatch.setattr("ganops.tracking.run.log_text_model", refused)
    with (
        open_run(params.tracking, params, root=workdir) as run,
        pytest.raises(TrackingError, match=r"^could not log the text model: .*refused"),
    ):
        run.log_text_model(workdir / "model.pt", {}, "tiny-text")


class _Outage:
    """Wraps a client: while `down`, every call that writes raises like a dead server."""

    def __init__(self, client: mlflow.MlflowClient) -> None:
        self.client, self.down = client, False

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.client, name)
        if name not in ("log_batch", "log_image") or not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            if self.down:
                raise ConnectionRefusedError("connection refused")
            return attribute(*args, **kwargs)

        return call


def test_an_outage_buffers_and_delivers_later(
    mlflow_store: str, params: Params, workdir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ganops")
    picture = np.zeros((8, 8, 1), np.uint8)
    with open_run(params.tracking, params, root=workdir) as run:
        outage = _Outage(run.client)
        run.client = outage  # type: ignore[assignment]
        run.log_metrics(1, {"loss_d": 1.0})
        run.flush()
        outage.down = True
        run.log_metrics(2, {"loss_d": 2.0})
        run.log_grid(2, picture)
        run.flush()  # kept, not raised: training goes on
        assert run.pending == 2
        outage.down = False
        run.log_metrics(3, {"loss_d": 3.0})
        run.flush()
        assert run.pending == 0
    history = mlflow.MlflowClient(mlflow_store).get_metric_history(run.run_id, "train/loss_d")
    assert [(m.step, m.value) for m in history] == [(1, 1.0), (2, 2.0), (3, 3.0)]
    assert "unreachable" in caplog.text and "is back: 3 buffered values delivered" in caplog.text
    assert _run(mlflow_store, run.run_id).info.status == "FINISHED"


def test_a_tag_set_during_an_outage_waits_for_the_store(
    mlflow_store: str, params: Params, workdir: Path
) -> None:
    """A warning tag raised mid-run (the collapse watch's) while the server is down does not
    end the training: it is delivered with the next flush that reaches the store."""
    with open_run(params.tracking, params, root=workdir) as run:
        outage = _Outage(run.client)
        run.client = outage  # type: ignore[assignment]
        outage.down = True
        run.set_tags({"ganops.warning": "mode collapse suspected"})  # kept, not raised
        assert run.pending == 1
        outage.down = False
        run.flush()
        assert run.pending == 0
    assert _run(mlflow_store, run.run_id).data.tags["ganops.warning"] == "mode collapse suspected"


def test_an_outage_that_lasts_ends_in_the_local_store(
    tmp_path: Path, params: Params, workdir: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    # the "server" is another store; the workspace's own store is workdir/mlflow.db
    server = f"sqlite:///{tmp_path / 'server.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server)
    with open_run(params.tracking, params, root=workdir) as run:
        server_run = run.run_id
        run.client = _Outage(run.client)  # type: ignore[assignment]
        run.client.down = True  # type: ignore[attr-defined]
        run.log_metrics(1, {"loss_d": 1.0})
        run.log_grid(1, np.zeros((8, 8, 1), np.uint8))
        run.flush()
    local = f"sqlite:///{workdir / 'mlflow.db'}"
    assert run.uri == local and run.run_id != server_run
    record = mlflow.MlflowClient(local).get_run(run.run_id)
    assert record.info.status == "FINISHED"
    assert record.data.tags["ganops.server_run_id"] == server_run
    assert record.data.metrics == {"train/loss_d": 1.0}
    assert record.data.params.keys() == flatten(params).keys()
    assert "written to the local store" in caplog.text


def test_a_reopened_run_skips_steps_it_already_has(
    mlflow_store: str, params: Params, workdir: Path
) -> None:
    picture = np.zeros((8, 8, 1), np.uint8)
    with open_run(params.tracking, params, root=workdir) as run:
        for step in (1, 2, 3):
            run.log_metrics(step, {"loss_d": float(step)})
        run.log_grid(3, picture)
    # a crash after that flush, before the checkpoint: the resumed run logs 2..5 again
    with open_run(params.tracking, run_id=run.run_id, root=workdir) as again:
        for step in (2, 3, 4, 5):
            again.log_metrics(step, {"loss_d": float(step)})
        again.log_grid(3, picture)
        again.log_grid(5, picture)
    client = mlflow.MlflowClient(mlflow_store)
    assert [m.step for m in client.get_metric_history(run.run_id, "train/loss_d")] == [
        1,
        2,
        3,
        4,
        5,
    ]
    grids = [a.path for a in client.list_artifacts(run.run_id, "images") if a.path.endswith("png")]
    assert len(grids) == 2


def test_an_unreachable_server_at_the_start_is_one_line(
    params: Params, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    uri = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    with pytest.raises(TrackingError) as caught, open_run(params.tracking, params, root=workdir):
        pass
    message = str(caught.value)
    assert message.startswith(f"MLflow store {uri} refused the run: ") and "\n" not in message
    assert message.endswith("tracking.local_fallback: true logs to the local store")

    fallback = params.model_copy(
        update={"tracking": params.tracking.model_copy(update={"local_fallback": True})}
    )
    with open_run(fallback.tracking, fallback, root=workdir) as run:
        run.log_metrics(1, {"loss_d": 1.0})
    assert run.uri == f"sqlite:///{workdir / 'mlflow.db'}"
    assert _run(run.uri, run.run_id).info.status == "FINISHED"


def test_replayed_history_delivers_only_the_missing_steps(
    mlflow_store: str, params: Params, workdir: Path
) -> None:
    with open_run(params.tracking, params, root=workdir) as run:
        run.log_metrics(1, {"loss_d": 1.0})
    # the process died with steps 2 and 3 buffered; its checkpoint's history has them
    rows = [{"step": s, "loss_d": float(s)} for s in (1, 2, 3)] + [{"step": 3, "quick_fid": 9.0}]
    with open_run(params.tracking, run_id=run.run_id, root=workdir) as again:
        again.replay(rows)
    client = mlflow.MlflowClient(mlflow_store)
    history = client.get_metric_history(run.run_id, "train/loss_d")
    assert [(m.step, m.value) for m in history] == [(1, 1.0), (2, 2.0), (3, 3.0)]
    assert [m.step for m in client.get_metric_history(run.run_id, "train/quick_fid")] == [3]


def test_a_failed_run_that_is_resumed_and_finishes_sets_its_error_aside(
    mlflow_store: str, params: Params, workdir: Path
) -> None:
    with pytest.raises(RuntimeError), open_run(params.tracking, params, root=workdir) as run:
        raise RuntimeError("rank 1 raised ValueError: boom")
    with open_run(params.tracking, run_id=run.run_id, root=workdir):
        pass  # the rerun resumes it and finishes
    record = _run(mlflow_store, run.run_id)
    assert record.info.status == "FINISHED"
    assert "error" not in record.data.tags
    previous = record.data.tags["ganops.previous_error"]
    assert previous == "RuntimeError: rank 1 raised ValueError: boom"

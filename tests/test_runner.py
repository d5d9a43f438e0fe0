"""A stop that Python wraps in another error is still a stop: a SIGTERM that lands while a
class is made (as in an import the work does lazily: torch's optimiser imports its compiler
on first use) comes out of `__set_name__` as a `RuntimeError` on Python 3.11, and the stage
still says it was interrupted and exits 130, and its MLflow run is still KILLED."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path

import mlflow
import pytest

from ganops.config import Params
from ganops.errors import stop_behind
from ganops.runner import INTERRUPTED, Stopped, run_stage
from ganops.tracking import open_run


class _Signalled:
    """A descriptor whose `__set_name__` (run as the class that holds it is made) sends this
    process a SIGTERM and waits for its handler, so the stop is raised inside it."""

    def __set_name__(self, owner: type, name: str) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(1_000_000):  # the handler runs between two of these bytecodes
            pass


def _make_a_class() -> None:
    type("Made", (), {"field": _Signalled()})


def test_a_sigterm_inside_set_name_is_an_interruption(capsys: pytest.CaptureFixture[str]) -> None:
    before = signal.getsignal(signal.SIGTERM)
    assert run_stage("train_evaluator", _make_a_class) == INTERRUPTED
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == "train_evaluator: interrupted (stopped by SIGTERM)"
    assert signal.getsignal(signal.SIGTERM) is before


def test_the_stop_is_found_behind_the_errors_it_caused() -> None:
    stop = Stopped("stopped by SIGINT")
    wrapped = RuntimeError("Error calling __set_name__")
    wrapped.__cause__ = stop
    outer = ValueError("outer")
    outer.__cause__ = wrapped
    assert stop_behind(outer) is stop and stop_behind(stop) is stop
    assert stop_behind(RuntimeError("boom")) is None
    context_only = RuntimeError("raised while handling a stop")
    context_only.__context__ = stop  # not its cause: a failure of its own
    assert stop_behind(context_only) is None


def test_a_wrapped_stop_marks_the_run_killed(
    mlflow_store: str, tiny_params: Callable[..., Params], workdir: Path
) -> None:
    params = tiny_params()
    stop = Stopped("stopped by SIGTERM")
    with pytest.raises(RuntimeError), open_run(params.tracking, params, root=workdir) as run:
        raise RuntimeError("Error calling __set_name__") from stop
    record = mlflow.MlflowClient(mlflow_store).get_run(run.run_id)
    assert record.info.status == "KILLED"
    assert "error" not in record.data.tags
    assert stop.__notes__ == [f"MLflow run {run.run_id} marked KILLED"]

"""Credentials out of every line the project prints, logs or records (`ganops.errors.scrub`),
whoever wrote the text: MLflow's own error names the URI it requested, password and all."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest

from ganops.errors import first_line, scrub
from ganops.runner import configure_logging, run_stage
from ganops.tracking.store import describe


def test_a_uris_user_and_password_and_the_password_variable_are_taken_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "s3cr3t-value")
    said = scrub(
        "API request to http://admin:SECRET@127.0.0.1:5050/api/2.0/x failed; "
        "postgresql://mlflow:p%40ss@db/mlflow; header s3cr3t-value; user@host stays"
    )
    assert "SECRET" not in said and "p%40ss" not in said and "s3cr3t-value" not in said
    assert "http://127.0.0.1:5050/api/2.0/x" in said and "postgresql://db/mlflow" in said
    assert "user@host stays" in said


def test_mlflows_own_error_is_scrubbed_in_the_one_line_a_tag_and_a_log(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlflow.exceptions import MlflowException

    error = MlflowException("API request to http://admin:SECRET@127.0.0.1:1/api failed")
    assert "SECRET" not in first_line(error) and "SECRET" not in describe(error)
    configure_logging()
    logging.getLogger("mlflow.store").warning("retrying %s", "http://admin:SECRET@h:1/api")
    try:
        raise error
    except MlflowException:
        logging.getLogger("ganops").exception("failed")

    def refused() -> None:
        raise __import__("ganops.errors").errors.TrackingError(str(error))

    assert run_stage("train", refused) == 1
    assert "SECRET" not in capsys.readouterr().err


def test_an_uncaught_exception_prints_no_password() -> None:
    program = (
        "from ganops.runner import configure_logging; configure_logging(); "
        "raise RuntimeError('http://admin:SECRET@127.0.0.1:1/api')"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True)
    assert done.returncode == 1 and "RuntimeError: http://127.0.0.1:1/api" in done.stderr
    assert "SECRET" not in done.stderr

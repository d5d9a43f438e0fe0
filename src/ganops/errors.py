"""The project's exceptions: each carries a one-line message meant for the user; `scrub`
takes credentials out of any text before it is printed, logged or recorded."""

import os
import re

# `scheme://user:password@`: the user and password of a URI, wherever they appear in a text
_URI_CREDENTIALS = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/\s@:]*:[^/\s@]*@")
PASSWORD_VARIABLES = ("MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN")
HIDDEN = "***"


class GanopsError(Exception):
    """Base class: a failure the user can fix, reported as one line without a traceback."""


class ConfigError(GanopsError):
    """A value in params.yaml (or a command-line option) is missing, mistyped or out of range."""


class DataError(GanopsError):
    """An input file is missing, corrupt, or does not match what its producer recorded."""


class TrackingError(GanopsError):
    """MLflow could not be reached or refused a request."""


class TextError(GanopsError, ValueError):
    """A text a model cannot read: empty, longer than it reads, or with words its vocabulary
    lacks. A `ValueError` too, so a server can answer it as a bad request."""


def stop_behind(error: BaseException) -> KeyboardInterrupt | SystemExit | None:
    """The stop (Ctrl-C, a stage's `Stopped`, `SystemExit`) that `error` is, or that is among
    its direct causes; None when there is none. A signal's handler raises where the work is,
    and Python wraps what is raised in some places: an exception from `__set_name__`, which
    runs while a class is made (an import), becomes a `RuntimeError` caused by it."""
    seen: set[int] = set()
    cause: BaseException | None = error
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, (KeyboardInterrupt, SystemExit)):
            return cause
        seen.add(id(cause))
        cause = cause.__cause__
    return None


def first_line(error: BaseException | str, limit: int = 200) -> str:
    """The first non-blank line of an error's message, at most `limit` characters; an
    exception's type name when its message is empty. Library errors can span pages; ours
    are one line."""
    lines = [line.strip() for line in scrub(str(error)).splitlines() if line.strip()]
    if lines:
        return lines[0][:limit]
    return type(error).__name__ if isinstance(error, BaseException) else ""


def scrub(text: str) -> str:
    """`text` without the `user:password@` of any URI in it and without the values of
    MLflow's password variables (`MLFLOW_TRACKING_PASSWORD`, `MLFLOW_TRACKING_TOKEN`): what
    a library's error or log line carries of them, whoever wrote it."""
    text = _URI_CREDENTIALS.sub(r"\g<scheme>", text)
    for name in PASSWORD_VARIABLES:
        secret = os.environ.get(name)
        if secret:
            text = text.replace(secret, HIDDEN)
    return text

"""The project's exceptions: each carries a one-line message meant for the user."""


class GanopsError(Exception):
    """Base class: a failure the user can fix, reported as one line without a traceback."""


class ConfigError(GanopsError):
    """A value in params.yaml (or a command-line option) is missing, mistyped or out of range."""


class DataError(GanopsError):
    """An input file is missing, corrupt, or does not match what its producer recorded."""


class TrackingError(GanopsError):
    """MLflow could not be reached or refused a request."""


def first_line(error: BaseException | str, limit: int = 200) -> str:
    """The first non-blank line of an error's message, at most `limit` characters; an
    exception's type name when its message is empty. Library errors can span pages; ours
    are one line."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if lines:
        return lines[0][:limit]
    return type(error).__name__ if isinstance(error, BaseException) else ""

"""The project's exceptions: each carries a one-line message meant for the user."""


class GanopsError(Exception):
    """Base class: a failure the user can fix, reported as one line without a traceback."""


class ConfigError(GanopsError):
    """A value in params.yaml (or a command-line option) is missing, mistyped or out of range."""


class DataError(GanopsError):
    """An input file is missing, corrupt, or does not match what its producer recorded."""


class TrackingError(GanopsError):
    """MLflow could not be reached or refused a request."""

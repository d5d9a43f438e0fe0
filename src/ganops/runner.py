"""How stage scripts and the CLI run: logging set up once, user errors as one line."""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from ganops.config import DEFAULT_PARAMS_FILE
from ganops.errors import GanopsError, scrub

_NOISY_LOGGERS = ("alembic", "mlflow", "urllib3", "git", "matplotlib", "PIL")


_make_record = logging.getLogRecordFactory()


def _scrubbed_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
    """A log record with credentials taken out (`scrub`) of its message and traceback, made
    so for every logger, MLflow's too (whose own handler the root's filters never see): its
    messages name the URI they requested, password and all."""
    record = _make_record(*args, **kwargs)
    # arguments that do not fit the message are left for the handler to report
    with contextlib.suppress(TypeError, ValueError):
        record.msg, record.args = scrub(record.getMessage()), None
    if record.exc_info:
        record.exc_text = scrub(logging.Formatter().formatException(record.exc_info))
    return record


def _scrubbed_excepthook(
    kind: type[BaseException], error: BaseException, trace: TracebackType | None
) -> None:
    """An uncaught exception's traceback, as Python prints it, without credentials."""
    sys.stderr.write(scrub("".join(traceback.format_exception(kind, error, trace))))


def configure_logging(verbose: bool = False) -> None:
    """Plain `message` lines on stderr; third-party chatter only at WARNING and above; no
    credentials in any line, warning or traceback (see `_scrubbed_record`)."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        stream=sys.stderr,
        force=True,
    )
    logging.setLogRecordFactory(_scrubbed_record)
    logging.captureWarnings(True)  # Python's warnings through the same handler
    sys.excepthook = _scrubbed_excepthook
    for name in _NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def stage_parser(description: str | None) -> argparse.ArgumentParser:
    """An argument parser with the options every stage shares."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--params", type=Path, default=DEFAULT_PARAMS_FILE, help="params file (params.yaml)"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser


def run_stage(name: str, body: Callable[[], None], verbose: bool = False) -> int:
    """Run `body`; a `GanopsError` becomes `<name>: error: <message>` and exit status 1."""
    configure_logging(verbose)
    try:
        body()
    except GanopsError as error:
        print(f"{name}: error: {scrub(str(error))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as interrupt:
        detail = f" ({scrub(str(interrupt))})" if str(interrupt) else ""
        print(f"{name}: interrupted{detail}", file=sys.stderr)
        return 130
    return 0


def stage_main(
    name: str,
    description: str | None,
    arguments: Mapping[str, str],
    body: Callable[[argparse.Namespace], None],
    argv: list[str] | None = None,
) -> int:
    """A stage script's `main`: parse the shared options and `arguments` (flag -> help; each a
    required path) from `argv` (the command line when None), then `run_stage` the body."""
    parser = stage_parser(description)
    for flag, help_text in arguments.items():
        parser.add_argument(flag, type=Path, required=True, help=help_text)
    args = parser.parse_args(argv)
    return run_stage(name, lambda: body(args), args.verbose)

"""How stage scripts and the CLI run: logging set up once, user errors as one line."""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

from ganops.config import DEFAULT_PARAMS_FILE
from ganops.errors import GanopsError, scrub, stop_behind

_NOISY_LOGGERS = ("alembic", "mlflow", "urllib3", "git", "matplotlib", "PIL")
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
INTERRUPTED = 130  # the exit status of a stage or command stopped by SIGINT or SIGTERM

log = logging.getLogger("ganops")


class Stopped(KeyboardInterrupt):
    """SIGINT or SIGTERM stopped a stage: raised where it was, so that every `with` on the
    way out (an MLflow run's, which ends it KILLED; a file's, which leaves no partial file)
    closes as it does for Ctrl-C."""


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


@contextlib.contextmanager
def stop_by_signals() -> Iterator[None]:
    """Within the block, SIGTERM (`kill`, `timeout`, a CI job cancelled) stops the work as
    Ctrl-C does: it raises `Stopped` where the work is. SIGINT does the same (named, rather
    than Python's bare KeyboardInterrupt) unless it was ignored when the process started (a
    background job). Only the first signal stops: one that follows while the stop unwinds is
    logged and ignored, so ending the MLflow run and removing partial files are not cut
    short (`kill -9` still stops at once). Training loops install their own handler inside
    (`ganops.runs.signals`), which finishes the step and checkpoints first."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set handlers; a caller's thread keeps its own
        return
    stopping: list[str] = []

    def stop(signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if stopping:
            log.warning("%s received while stopping (%s): ignored", name, stopping[0])
            return
        stopping.append(name)
        raise Stopped(f"stopped by {name}")

    caught = [sig for sig in STOP_SIGNALS if signal.getsignal(sig) is not signal.SIG_IGN]
    previous = {sig: signal.signal(sig, stop) for sig in caught}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _interrupted_line(name: str, interrupt: KeyboardInterrupt) -> str:
    """`<name>: interrupted (<why>)`, then what was done on the way out (the MLflow run
    marked KILLED, added as a note by `tracking.open_run`)."""
    detail = f" ({scrub(str(interrupt))})" if str(interrupt) else ""
    notes = "".join(f"; {scrub(note)}" for note in getattr(interrupt, "__notes__", ()))
    return f"{name}: interrupted{detail}{notes}"


def run_stage(name: str, body: Callable[[], None], verbose: bool = False) -> int:
    """Run `body`; a `GanopsError` becomes `<name>: error: <message>` and exit status 1;
    SIGINT or SIGTERM (`stop_by_signals`) `<name>: interrupted (stopped by SIGTERM)` and
    exit status 130, also when it lands where Python wraps it in another error
    (`errors.stop_behind`)."""
    configure_logging(verbose)
    try:
        with stop_by_signals():
            body()
    except GanopsError as error:
        print(f"{name}: error: {scrub(str(error))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as interrupt:
        print(_interrupted_line(name, interrupt), file=sys.stderr)
        return INTERRUPTED
    except Exception as error:
        stop = stop_behind(error)
        if not isinstance(stop, KeyboardInterrupt):
            raise
        print(_interrupted_line(name, stop), file=sys.stderr)  # a stop that Python wrapped
        return INTERRUPTED
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

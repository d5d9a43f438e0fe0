"""How stage scripts and the CLI run: logging set up once, user errors as one line."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from ganops.config import DEFAULT_PARAMS_FILE
from ganops.errors import GanopsError

_NOISY_LOGGERS = ("alembic", "mlflow", "urllib3", "git", "matplotlib", "PIL")


def configure_logging(verbose: bool = False) -> None:
    """Plain `message` lines on stderr; third-party chatter only at WARNING and above."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        stream=sys.stderr,
        force=True,
    )
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
        print(f"{name}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as interrupt:
        detail = f" ({interrupt})" if str(interrupt) else ""
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

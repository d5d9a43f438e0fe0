"""Where the training loop reports: the `StepLogger` interface, a fan-out to several of
them, and the DVC history file (a TSV that `dvc plots` draws). The MLflow run
(`ganops.tracking.Run`) is the other logger."""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np

from ganops.io import write_text

log = logging.getLogger("train")  # the training stages' logger


class StepLogger(Protocol):
    """Where the loop reports: `tracking` (MLflow) and the history file implement this."""

    def log_metrics(self, step: int, metrics: dict[str, float]) -> None: ...

    def log_grid(self, step: int, picture: np.ndarray) -> None: ...

    def flush(self) -> None: ...


class FanOut:
    """Send every report to several loggers (the history file and the MLflow run)."""

    def __init__(self, *loggers: StepLogger) -> None:
        self.loggers = loggers

    def log_metrics(self, step: int, metrics: dict[str, float]) -> None:
        for logger in self.loggers:
            logger.log_metrics(step, metrics)

    def log_grid(self, step: int, picture: np.ndarray) -> None:
        for logger in self.loggers:
            logger.log_grid(step, picture)

    def flush(self) -> None:
        for logger in self.loggers:
            logger.flush()


class ScoredHistory(FanOut):
    """The loop's loggers, plus a quick score at each grid: `score()` gives the scores, which
    go to every logger and to the log, by `say` (a %-format of their values in order) or, with
    `say` None, each by its name (`quick fid 1.234  quick digit accuracy 0.950`)."""

    def __init__(
        self, score: Callable[[], dict[str, float]], say: str | None, *loggers: StepLogger
    ) -> None:
        super().__init__(*loggers)
        self.score, self.say = score, say

    def log_grid(self, step: int, picture: np.ndarray) -> None:
        super().log_grid(step, picture)
        scores = self.score()
        self.log_metrics(step, scores)
        if self.say is not None:
            log.info(self.say, *scores.values())
        else:
            log.info("  ".join(f"{name.replace('_', ' ')} {value:.3f}"
                               for name, value in scores.items()))  # fmt: skip


class HistoryFile:
    """A TSV of some metrics (`columns`), one row per step that logged any of them,
    rewritten atomically at each flush. Every row has every column: DVC's plots read a
    blank cell as 0, so metrics logged at other cadences go to a file of their own."""

    def __init__(self, path: Path, columns: tuple[str, ...]) -> None:
        self.path = path
        self.columns = ("step", *columns)
        self.rows: list[dict[str, float]] = []

    def log_metrics(self, step: int, metrics: dict[str, float]) -> None:
        values = {key: value for key, value in metrics.items() if key in self.columns}
        if not values:
            return
        if self.rows and self.rows[-1]["step"] == step:
            self.rows[-1].update(values)
        else:
            self.rows.append({"step": step, **values})

    def log_grid(self, step: int, picture: np.ndarray) -> None:
        pass

    def flush(self) -> None:
        buffer = io.StringIO()
        writer = csv.DictWriter(
            buffer, self.columns, delimiter="\t", lineterminator="\n", extrasaction="ignore"
        )
        writer.writeheader()
        for row in self.rows:
            writer.writerow({key: _fmt(value) for key, value in row.items()})
        write_text(self.path, buffer.getvalue())


def _fmt(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:.6g}"

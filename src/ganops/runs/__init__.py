"""The run machinery every task shares: it knows no GAN and no translator.

A task brings its state (what a checkpoint holds) and its step; this package launches it
under torchrun, holds the workspace lock, reports a rank's failure to its peers, turns
SIGINT/SIGTERM into a checkpoint and a clean stop, resumes exactly, and records and
publishes the run.

- `distributed`, `rank_reports`: torchrun (who speaks, the collectives) and a failed rank's
  report;
- `lock`, `signals`: one training a workspace; stopping cleanly;
- `resume`: the checkpoint a run continues from exactly, read and restored;
- `loggers`: where a loop reports (the DVC history files; the MLflow run is `tracking`'s).
"""

from ganops.runs.loggers import FanOut, HistoryFile, StepLogger
from ganops.runs.resume import Checkpointing, read_resume_state
from ganops.runs.signals import StopRequest, TrainingStopped, stop_on_signals

__all__ = [
    "Checkpointing",
    "FanOut",
    "HistoryFile",
    "StepLogger",
    "StopRequest",
    "TrainingStopped",
    "read_resume_state",
    "stop_on_signals",
]

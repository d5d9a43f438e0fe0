"""Training: the adversarial loop and what it needs.

- `state`: what changes during training (`GanState`) and its factory `build_state`;
- `loop`: the step and the loop (`train`), which reads as an outline;
- `loggers`: where the loop reports (the DVC history file; the MLflow run is `tracking`'s);
- `resume`: the full resume state, written and read in one place;
- `distributed`, `ema`, `signals`, `collapse`, `spec`: torchrun, the generator's moving
  average, SIGINT/SIGTERM, the mode-collapse warning, the data-and-params check;
- `run`: a whole run as the `train` stage does it (`run_training`).
"""

from ganops.training.loggers import FanOut, HistoryFile, StepLogger
from ganops.training.loop import Probe, TrainResult, last_epoch_means, train
from ganops.training.resume import Checkpointing, read_resume_state
from ganops.training.signals import StopRequest, stop_on_signals
from ganops.training.spec import spec_for_data
from ganops.training.state import GanState, build_state

__all__ = [
    "Checkpointing",
    "FanOut",
    "GanState",
    "HistoryFile",
    "Probe",
    "StepLogger",
    "StopRequest",
    "TrainResult",
    "build_state",
    "last_epoch_means",
    "read_resume_state",
    "spec_for_data",
    "stop_on_signals",
    "train",
]

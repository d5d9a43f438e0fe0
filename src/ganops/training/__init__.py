"""Training: the adversarial loop, device placement, checkpoints and resume."""

from ganops.training.checkpoint import load_generator, save_generator
from ganops.training.device import resolve_device
from ganops.training.loop import (
    Checkpointing,
    FanOut,
    GanState,
    Probe,
    StepLogger,
    TrainResult,
    last_epoch_means,
    read_resume_state,
    train,
)
from ganops.training.setup import spec_for_data
from ganops.training.signals import StopRequest, stop_on_signals

__all__ = [
    "Checkpointing",
    "FanOut",
    "GanState",
    "Probe",
    "StepLogger",
    "StopRequest",
    "TrainResult",
    "last_epoch_means",
    "load_generator",
    "read_resume_state",
    "resolve_device",
    "save_generator",
    "spec_for_data",
    "stop_on_signals",
    "train",
]

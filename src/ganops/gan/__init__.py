"""The GAN that draws from noise: its state, its step and loop, and its run as the `train`
stage does it. Everything around the loop (torchrun, lock, signals, resume, loggers) is the
run machinery every task shares, `ganops.runs`.

- `state`: what changes during training (`GanState`), its factory `build_state` and its
  checkpoint;
- `loop`: the step and the loop (`train`), which reads as an outline;
- `semi`: the semi-supervised GAN's step and the probe of its classifier;
- `ema`, `collapse`, `spec`: the generator's moving average, the mode-collapse warning, the
  data-and-params check;
- `training`: a whole run as the `train` stage does it (`run_training`).
"""

from ganops.gan.loop import Probe, TrainResult, last_epoch_means, train
from ganops.gan.spec import spec_for_data
from ganops.gan.state import GanState, build_state

__all__ = [
    "GanState",
    "Probe",
    "TrainResult",
    "build_state",
    "last_epoch_means",
    "spec_for_data",
    "train",
]

"""An exponential moving average of the generator's weights.

Sampling from a running average of G's weights rather than the latest ones smooths out
the oscillation of adversarial training and gives visibly better samples (Karras et al.
2018, 2020; Yazici et al. 2019). The average is kept as a second copy of the generator,
updated after every G step and never trained.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel


def unwrap(module: nn.Module) -> nn.Module:
    """The network inside any `torch.compile`, `DataParallel` or `DistributedDataParallel`
    wrappers, in whatever order they were applied; the module itself when unwrapped."""
    while True:
        if isinstance(module, nn.DataParallel | DistributedDataParallel):
            module = module.module
        elif isinstance(inner := getattr(module, "_orig_mod", None), nn.Module):
            module = inner  # torch.compile's OptimizedModule
        else:
            return module


# the half-life grows with the images seen, up to this share of them (StyleGAN2-ADA's ema_rampup)
RAMPUP = 0.05


class GeneratorEMA:
    """A moving average of a generator's parameters; buffers follow the live generator.

    Parameters are averaged; buffers (batch-norm running statistics, counters) are copied,
    because averaging statistics gathered under different weights describes no network.
    """

    def __init__(
        self,
        generator: nn.Module,
        decay: float = 0.999,
        half_life_images: float = 0.0,
        batch_size: int = 1,
    ) -> None:
        """Start the average at a copy of `generator`.

        `generator` is the raw network; compile and data-parallel wrappers are taken off
        first, so the copy holds plain weights. `decay` in [0, 1] is the weight the average
        keeps per update once warmed up (0.999: a time constant of about 1000 updates).
        `half_life_images` > 0 sets the horizon in images instead (StyleGAN2-ADA's
        `ema_kimg` x 1000), with updates of `batch_size` images each: the same horizon
        whatever the batch size.
        """
        if not 0.0 <= decay <= 1.0:
            raise ValueError(f"EMA decay must be in [0, 1], got {decay}")
        if half_life_images < 0 or batch_size < 1:
            raise ValueError("EMA half-life must be >= 0 images and batches >= 1 image")
        self.decay = decay
        self.half_life_images = half_life_images
        self.batch_size = batch_size
        self._average = copy.deepcopy(unwrap(generator)).eval().requires_grad_(False)

    @property
    def module(self) -> nn.Module:
        """The averaged generator, in eval mode with gradients off."""
        return self._average

    def beta(self, step: int) -> float:
        """The weight the average keeps at `step` (0 for the first update).

        With a decay: min(decay, (1 + step) / (10 + step)). With a half-life of h images:
        0.5 ** (batch / h'), where h' = min(h, RAMPUP x images seen) as in StyleGAN2-ADA.
        Either way, early on the average follows the live generator closely, so the random
        initial weights do not linger in it.
        """
        if self.half_life_images > 0:
            seen = (step + 1) * self.batch_size
            horizon = min(self.half_life_images, RAMPUP * seen)
            return float(0.5 ** (self.batch_size / horizon))
        return min(self.decay, (1.0 + step) / (10.0 + step))

    @torch.no_grad()
    def update(self, generator: nn.Module, step: int) -> None:
        """Move the average towards `generator` after its update number `step` (from 0):
        average <- beta * average + (1 - beta) * live, with `beta(step)`; buffers copied.

        `generator` is the live network, raw or wrapped (wrappers are taken off).
        """
        live = unwrap(generator)
        averaged: list[torch.Tensor] = list(self._average.parameters())
        current = [p.detach() for p in live.parameters()]
        if len(averaged) != len(current):
            raise ValueError("the generator does not have the architecture the EMA was built from")
        torch._foreach_lerp_(averaged, current, 1.0 - self.beta(step))
        for average_buffer, live_buffer in zip(
            self._average.buffers(), live.buffers(), strict=True
        ):
            average_buffer.copy_(live_buffer)

    def state_dict(self) -> dict[str, Any]:
        """The averaged generator's tensors (a module state dict), for resume checkpoints;
        loadable with `torch.load(..., weights_only=True)` and into a fresh generator."""
        return self._average.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what `state_dict` returned."""
        self._average.load_state_dict(state)

"""Training the text-to-image GAN: the state, one step and the loop, which resumes exactly
from its checkpoint.

The step is DF-GAN's (`code/lib/modules.py` of tobran/DF-GAN, `train`): hinge losses; the
discriminator sees real images with their own captions (real), generated images with the
captions they were drawn from (fake) and real images with the batch's captions shifted by
one (a real image with a wrong caption: fake too; GAN-INT-CLS's matching-aware
discriminator, S. Reed et al., ICML 2016), the last two at half weight; and DF-GAN's
matching-aware gradient penalty: `k * mean(|grad D(x, s)|^p)` over the real image and its
sentence together (k = `text.gradient_penalty`, p = `text.penalty_power`; DF-GAN's 2 and 6).
The generator's loss is `-D(G(z, s), s)`.

The sentence vectors come from the frozen text encoder of a matching model trained on the
real training pairs before the GAN (`ganops.text.matching`); it is part of the state, so a
resumed run reads the very vectors. An epoch is a seeded permutation of the train split;
a step's noise is a seeded draw of its own: a resumed run sees the very batches.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from ganops.config import TextConfig
from ganops.device import adam
from ganops.errors import GanopsError
from ganops.run_length import epoch_work_due
from ganops.runs.loggers import StepLogger
from ganops.runs.resume import Checkpointing, PartsState
from ganops.runs.seeds import derived_seed
from ganops.runs.signals import StopRequest, TrainingStopped
from ganops.sampling import to_uint8
from ganops.text.grid import prompt_grid
from ganops.text.matching import MatchingModel
from ganops.text.networks import TextDiscriminator, TextGanSpec, TextGenerator, build_networks, draw

log = logging.getLogger(__name__)

METRICS = ("loss_d", "loss_g", "d_real", "d_fake", "d_mismatch", "loss_gp")
RESUME_FORMAT = "ganops-text-resume/1"
_PERMUTATION, _NOISE, _WEIGHTS = 1, 2, 3  # seed streams


class TextGanDiverged(GanopsError):
    """A loss or a weight became NaN or infinite."""


@dataclass
class TextGanState(PartsState):
    """Everything a text run continues from: both networks, the frozen matching model, both
    optimisers, the step."""

    PARTS = ("generator", "discriminator", "matching", "optimizer_g", "optimizer_d")
    WATCHED = ("generator", "discriminator")
    DIVERGED = TextGanDiverged
    HINT = "lower text.lr_g and text.lr_d"

    spec: TextGanSpec
    generator: TextGenerator
    discriminator: TextDiscriminator
    matching: MatchingModel
    optimizer_g: torch.optim.Optimizer
    optimizer_d: torch.optim.Optimizer
    step: int = 0


def build_state(
    cfg: TextConfig, spec: TextGanSpec, matching: MatchingModel, device: torch.device
) -> TextGanState:
    """Fresh, seeded networks and optimisers, beside `matching` (frozen)."""
    generator, discriminator = build_networks(spec, derived_seed(cfg.seed, _WEIGHTS, bits=32))
    generator.to(device).train()
    discriminator.to(device).train()
    matching.to(device).eval().requires_grad_(False)
    betas = (cfg.beta1, cfg.beta2)
    return TextGanState(
        spec, generator, discriminator, matching,
        adam(generator.parameters(), cfg.lr_g, betas),
        adam(discriminator.parameters(), cfg.lr_d, betas),
    )  # fmt: skip


def matching_aware_penalty(
    logits: torch.Tensor, images: torch.Tensor, sentences: torch.Tensor, power: float
) -> torch.Tensor:
    """DF-GAN's `MA_GP` without its weight: mean over the batch of the norm, to `power`, of
    D's gradient at the real images and their sentences taken together (both must require
    grad)."""
    grads = torch.autograd.grad(logits.sum(), (images, sentences), create_graph=True)
    joined = torch.cat([g.flatten(1) for g in grads], 1)  # (B, C*H*W + D)
    penalty: torch.Tensor = joined.norm(dim=1).pow(power).mean()
    return penalty


def _update(optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> None:
    optimizer.zero_grad(set_to_none=True)
    loss.backward()  # type: ignore[no-untyped-call]
    optimizer.step()


def text_step(
    state: TextGanState, cfg: TextConfig, images: torch.Tensor, sentences: torch.Tensor,
    noise: torch.Tensor,
) -> dict[str, float]:  # fmt: skip
    """One step on real `images` `(B, C, H, W)` in [-1, 1], their captions' sentence vectors
    `(B, D)` and noise `(B, noise_dim)`."""
    g, judge = state.generator, state.discriminator
    # update D: real pairs real; generated and mismatched pairs fake
    judge.requires_grad_(True)
    real = images.detach().requires_grad_(True)
    said = sentences.detach().requires_grad_(True)
    features = judge.features(real)  # (B, 4w, 7, 7)
    logits_real = judge.judge(features, said)
    logits_mismatch = judge.judge(features, sentences.roll(1, 0))  # image i, caption i - 1
    with torch.no_grad():
        fakes = g(noise, sentences)
    logits_fake = judge(fakes, sentences)
    penalty = (
        matching_aware_penalty(logits_real, real, said, cfg.penalty_power)
        if cfg.gradient_penalty > 0
        else torch.zeros((), device=images.device)
    )
    loss_d = (
        F.relu(1.0 - logits_real).mean()
        + 0.5 * (F.relu(1.0 + logits_fake).mean() + F.relu(1.0 + logits_mismatch).mean())
        + cfg.gradient_penalty * penalty
    )
    _update(state.optimizer_d, loss_d)
    # update G: its images, with their captions, called real
    judge.requires_grad_(False)
    loss_g = -judge(g(noise, sentences), sentences).mean()
    _update(state.optimizer_g, loss_g)
    values = (loss_d, loss_g, logits_real.mean(), logits_fake.mean(), logits_mismatch.mean(),
              penalty)  # fmt: skip
    return {name: float(v.detach()) for name, v in zip(METRICS, values, strict=True)}


def batch_noise(seed: int, epoch: int, batch: int, count: int, noise_dim: int) -> torch.Tensor:
    """The step's noise `(count, noise_dim)`, a seeded draw of its own (on the CPU)."""
    draw_ = torch.Generator().manual_seed(derived_seed(seed, _NOISE, epoch, batch, bits=32))
    return torch.randn((count, noise_dim), generator=draw_)


def epoch_order(seed: int, epoch: int, count: int) -> torch.Tensor:
    """The epoch's seeded permutation of the `count` training pairs."""
    shuffle = torch.Generator().manual_seed(derived_seed(seed, _PERMUTATION, epoch, bits=32))
    return torch.randperm(count, generator=shuffle)


def steps_per_epoch(count: int, batch_size: int) -> int:
    """Batches of an epoch; a last batch of one pair is left out (no wrong caption for it)."""
    full, rest = divmod(count, batch_size)
    return full + (1 if rest >= 2 else 0)


@dataclass(frozen=True)
class Training:
    """What the loop works on: the train images `(N, C, H, W)` in [-1, 1], their captions'
    sentence vectors `(N, D)`, the grid's prompts, their vectors and fixed noise, and how
    often to checkpoint."""

    images: torch.Tensor
    sentences: torch.Tensor
    grid_prompts: tuple[str, ...]
    grid_sentences: torch.Tensor  # (P * columns, D): each prompt's vector, repeated
    grid_noise: torch.Tensor  # (P * columns, noise_dim)
    checkpointing: Checkpointing
    log_every: int = 1
    epoch_stride: int = 1  # epochs between grids and epoch-end checkpoints (run_length)


@dataclass(frozen=True)
class LoopResult:
    steps: int
    seconds: float
    images_seen: int


def grid_picture(state: TextGanState, work: Training) -> np.ndarray:
    """The fixed prompts, one row each, drawn from the fixed noise."""
    images = to_uint8(draw(state.generator, work.grid_noise, work.grid_sentences))
    return prompt_grid(images, work.grid_prompts)


def save_checkpoint(state: TextGanState, checkpointing: Checkpointing) -> None:
    """The full resume state, never one with non-finite weights."""
    state.check_finite()
    if checkpointing.write:
        checkpointing.save(RESUME_FORMAT, state.state_dict())


def train_text_gan(
    state: TextGanState, cfg: TextConfig, work: Training, logger: StepLogger,
    stop: StopRequest | None = None, progress: bool = True,
) -> LoopResult:  # fmt: skip
    """Train from `state.step` to the end of `cfg.passes`: log, draw the grid at every
    `work.epoch_stride`-th epoch's end (and the last), checkpoint (every
    `work.checkpointing.every_steps` and with each grid); a stop request checkpoints after
    the current step and stops."""
    per_epoch = steps_per_epoch(len(work.images), cfg.batch_size)
    total = per_epoch * cfg.passes
    started, first = time.perf_counter(), state.step
    bar = tqdm(total=total, initial=state.step, desc="train", unit="step",
               disable=None if progress else True)  # fmt: skip
    device = work.images.device
    while state.step < total:
        epoch, batch = divmod(state.step, per_epoch)
        index = epoch_order(cfg.seed, epoch, len(work.images))
        index = index[batch * cfg.batch_size : (batch + 1) * cfg.batch_size].to(device)
        noise = batch_noise(cfg.seed, epoch, batch, len(index), cfg.noise_dim).to(device)
        losses = text_step(state, cfg, work.images[index], work.sentences[index], noise)
        state.step += 1
        bar.update()
        if not all(math.isfinite(v) for v in losses.values()):
            raise TextGanDiverged(
                f"a loss became non-finite at step {state.step} ({losses}); lower text.lr_d"
            )
        if state.step % work.log_every == 0 or state.step == total:
            logger.log_metrics(state.step, losses)
        epoch_done = epoch_work_due(state.step, per_epoch, work.epoch_stride, total)
        every = work.checkpointing.every_steps
        stopping = stop is not None and stop.requested
        if not (epoch_done or (every and state.step % every == 0) or stopping):
            continue
        # maintenance: the epoch line and grid, then the checkpoint
        if epoch_done:
            logger.log_grid(state.step, grid_picture(state, work))
            log.info("epoch %d/%d  %s", epoch + 1, cfg.passes,
                     "  ".join(f"{k} {losses[k]:.4f}" for k in METRICS))  # fmt: skip
        logger.flush()
        save_checkpoint(state, work.checkpointing)
        if stopping and state.step < total:
            bar.close()
            by = stop.signal_name if stop else "request"
            raise TrainingStopped(f"stopped by {by} at step {state.step}; the checkpoint holds it")
    bar.close()
    seconds = time.perf_counter() - started
    return LoopResult(state.step, seconds, (state.step - first) * cfg.batch_size)


def networks(state: TextGanState) -> dict[str, nn.Module]:
    """The networks by the names the log gives their weight digests."""
    return {"generator": state.generator, "discriminator": state.discriminator}

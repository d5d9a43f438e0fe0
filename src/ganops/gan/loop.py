"""The adversarial training loop.

The whole training set is one tensor on the device; an epoch is a seeded permutation
sliced into batches, so there is no per-image Python work and a run can resume at any
step: the permutation of an epoch is a function of (seed, epoch), and the noise stream is
a generator whose state is checkpointed (`ganops.runs.resume`).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from ganops.augment import diff_augment
from ganops.config import TrainConfig
from ganops.gan.state import (
    GRID,
    PERMUTATION,
    GanState,
    TrainingDiverged,
    save_checkpoint,
    set_learning_rates,
)
from ganops.losses import LOSSES, gradient_penalty, mode_seeking_penalty, r1_penalty
from ganops.run_length import epoch_work_due
from ganops.runs.loggers import StepLogger
from ganops.runs.resume import Checkpointing
from ganops.runs.seeds import derived_seed
from ganops.runs.signals import StopRequest, TrainingStopped
from ganops.sampling import READABLE_PX, cycled_labels, latent_batch, make_grid, to_uint8

log = logging.getLogger(__name__)

METRIC_NAMES = ("loss_d", "loss_g", "d_real", "d_fake")
# what the stage's quick probe measures (`ganops.metrics.QuickProbe`), in the epoch line's order
PROBE_NAMES = ("quick_fid", "quick_intra_class_diversity", "quick_intra_class_diversity_min")


@dataclass
class Probe:
    """Measurements of the generator every `every_epochs` epochs and after the last one (the
    quick scores): `measure` returns named scores, `key` names the one (lower is better)
    by which the state keeps the best generator, and `watch` sees each measurement with its
    step (the stage's mode-collapse warning)."""

    every_epochs: int
    measure: Callable[[nn.Module], dict[str, float]]
    key: str = "quick_fid"
    watch: Callable[[int, dict[str, float]], None] | None = None

    def due(self, epoch: int, epochs: int) -> bool:
        return (epoch + 1) % self.every_epochs == 0 or epoch + 1 == epochs

    def run(self, state: GanState, logger: StepLogger) -> dict[str, float]:
        """Measure the published generator, report the scores, keep the best generator."""
        scores = self.measure(state.published)
        logger.log_metrics(state.step, scores)
        state.remember_if_best(scores[self.key])
        if self.watch is not None:
            self.watch(state.step, scores)
        return scores


@dataclass
class TrainResult:
    """What a finished run hands back to the stage."""

    generator: nn.Module
    steps: int
    images_seen: int
    seconds: float
    final_metrics: dict[str, float] = field(default_factory=dict)


def epoch_steps(size: int, cfg: TrainConfig) -> int:
    """Steps in an epoch of `size` images: `train.epoch_repeats` passes, in whole batches."""
    return size * cfg.epoch_repeats // cfg.batch_size


def steps_in_run(size: int, cfg: TrainConfig) -> int:
    """Steps of a whole run on `size` images: `train.epochs` epochs."""
    return cfg.passes * epoch_steps(size, cfg)


def epoch_permutation(
    size: int, seed: int, epoch: int, device: torch.device, repeats: int = 1
) -> torch.Tensor:
    """The order of epoch `epoch`: `repeats` seeded permutations of `size` indices one after
    another, a function of (seed, epoch) only, so resume can rebuild it."""
    orders = []
    for repeat in range(repeats):
        keys = (epoch, repeat) if repeat else (epoch,)  # the first pass as without repeats
        rng = torch.Generator(device="cpu").manual_seed(derived_seed(seed, PERMUTATION, *keys))
        orders.append(torch.randperm(size, generator=rng))
    return torch.cat(orders).to(device)


def _autocast(device: torch.device, enabled: bool) -> torch.autocast:
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled)


def _inputs(tensor: torch.Tensor, labels: torch.Tensor | None) -> tuple[torch.Tensor, ...]:
    """A network's arguments: `(tensor,)`, or `(tensor, labels)` for a conditional one."""
    return (tensor,) if labels is None else (tensor, labels)


def _augmented(images: torch.Tensor, cfg: TrainConfig, state: GanState) -> torch.Tensor:
    """DiffAugment (what D sees of real and fake alike), drawn from the run's noise stream."""
    return diff_augment(images, cfg.augment, state.noise) if cfg.augment else images


def _penalty(
    state: GanState,
    cfg: TrainConfig,
    batches: tuple[torch.Tensor, torch.Tensor, torch.Tensor | None],
    real_seen: torch.Tensor,
    real_logits: torch.Tensor,
) -> torch.Tensor | None:
    """The weighted gradient penalty and R1 terms of D's loss, or None when both are off.

    The penalty passes use the plain discriminator: compiled graphs have no double backward.
    """
    real, fake, labels = batches
    terms = []
    if cfg.gradient_penalty > 0:
        discriminate = lambda images: state.discriminator(*_inputs(images, labels)).float()  # noqa: E731
        terms.append(cfg.gradient_penalty * gradient_penalty(discriminate, real, fake, state.noise))
    if cfg.r1_gamma > 0:
        terms.append(cfg.r1_gamma * r1_penalty(real_logits, real_seen))
    return torch.stack(terms).sum() if terms else None


def _discriminate(
    network: nn.Module, images: torch.Tensor, labels: torch.Tensor | None, classify: bool
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """D's logits `(B,)` in fp32 and, with `classify`, its class logits `(B, K)`."""
    if not classify:
        return network(*_inputs(images, labels)).float(), None
    logits, classes = network(images, labels, classify=True)
    return logits.float(), classes.float()


def _fake_labels(state: GanState, batch: int, paired: bool) -> torch.Tensor | None:
    """The classes G draws for `(batch,)` fakes (None when unconditional). `paired`: the
    second half repeats the first, so the mode-seeking pairs share their class."""
    if not state.spec.num_classes:
        return None
    device = state.noise.device
    labels = torch.randint(state.spec.num_classes, (batch,), generator=state.noise, device=device)
    if paired:
        half = batch // 2
        labels[half : 2 * half] = labels[:half]
    return labels


def train_step(
    state: GanState, real: torch.Tensor, cfg: TrainConfig, labels: torch.Tensor | None = None
) -> torch.Tensor:
    """One update of D then G on a batch `real` `(B, C, H, W)` (with its `labels` `(B,)`
    when the GAN is conditional).

    Returns `(4,)` detached: loss_d, loss_g, d_real, d_fake (mean D probabilities). Nothing
    here waits for the device: the values are read when the loop logs them.
    """
    d_loss_fn, g_loss_fn = LOSSES[cfg.loss]
    generator, discriminator = state.step_generator, state.step_discriminator
    assert generator is not None and discriminator is not None
    fast = state.acceleration
    if fast.channels_last:
        real = real.contiguous(memory_format=torch.channels_last)
    batch, device = real.shape[0], real.device
    latents = torch.randn(batch, state.spec.latent_dim, generator=state.noise, device=device)
    fake_labels = _fake_labels(state, batch, paired=cfg.mode_seeking > 0)
    classify = cfg.class_loss > 0 and state.spec.num_classes > 0  # conditional GANs only
    # R1 differentiates D's real logits by its input: not through a compiled graph
    d_real = state.discriminator if cfg.r1_gamma > 0 and fast.compile else discriminator
    # update D (logits and losses in fp32 whatever the autocast dtype)
    with _autocast(device, fast.autocast):
        fake = generator(*_inputs(latents, fake_labels))  # (B, C, H, W)
        real_seen = _augmented(real, cfg, state)
        if cfg.r1_gamma > 0:
            real_seen = real_seen.detach().requires_grad_(True)
        real_logits, real_classes = _discriminate(d_real, real_seen, labels, classify)  # (B,)
        fake_seen = _augmented(fake.detach(), cfg, state)
        fake_logits, _ = _discriminate(discriminator, fake_seen, fake_labels, classify)  # (B,)
        loss_d = d_loss_fn(real_logits, fake_logits, cfg.label_smoothing)
        if real_classes is not None and labels is not None:  # D's class head learns real only
            loss_d = loss_d + cfg.class_loss * F.cross_entropy(real_classes, labels)
        penalty = _penalty(state, cfg, (real, fake.detach(), labels), real_seen, real_logits)
        if penalty is not None:
            loss_d = loss_d + penalty
    state.opt_d.zero_grad(set_to_none=True)
    loss_d.backward()  # type: ignore[no-untyped-call]
    state.opt_d.step()
    # update G, through D's frozen weights
    with state.discriminator_frozen():
        with _autocast(device, fast.autocast):
            fake_seen = _augmented(fake, cfg, state)
            scored, fake_classes = _discriminate(discriminator, fake_seen, fake_labels, classify)
            loss_g = g_loss_fn(scored)
            if fake_classes is not None and fake_labels is not None:
                loss_g = loss_g + cfg.class_loss * F.cross_entropy(fake_classes, fake_labels)
            if cfg.mode_seeking > 0:
                loss_g = loss_g + cfg.mode_seeking * mode_seeking_penalty(fake.float(), latents)
        state.update_generator(loss_g)  # and its moving average
    with torch.no_grad():
        return torch.stack(
            [loss_d, loss_g, torch.sigmoid(real_logits).mean(), torch.sigmoid(fake_logits).mean()]
        ).detach()


# one update of D and G on a batch: (state, real, cfg, labels) -> (4,) METRIC_NAMES' values
StepFunction = Callable[[GanState, torch.Tensor, TrainConfig, torch.Tensor | None], torch.Tensor]


def _summarise(buffer: list[torch.Tensor], step: int) -> dict[str, float]:
    """Mean of the buffered step values: one host-device sync per logging interval."""
    values = torch.stack(buffer).mean(0).tolist()
    metrics = dict(zip(METRIC_NAMES, values, strict=True))
    for name, value in metrics.items():
        if not math.isfinite(value):
            raise TrainingDiverged(
                f"training diverged at step {step}: {name} is {value}; "
                "lower train.lr or change the model (the last checkpoint is kept)"
            )
    return metrics


@torch.no_grad()
def render_grid(
    generator: nn.Module, latents: torch.Tensor, labels: torch.Tensor | None = None
) -> np.ndarray:
    """The fixed-latent grid, rendered in eval mode: `(H, W, C)` uint8."""
    was_training = generator.training
    generator.eval()
    picture = make_grid(to_uint8(generator(*_inputs(latents, labels))), min_side=READABLE_PX)
    generator.train(was_training)
    return picture


def last_epoch_means(rows: list[dict[str, float]], steps_per_epoch: int) -> dict[str, float]:
    """A run's DVC metrics: each of `METRIC_NAMES` averaged over the last epoch's rows."""
    last = rows[-1]["step"]
    tail = [row for row in rows if row["step"] > last - steps_per_epoch]
    means = {name: sum(row[name] for row in tail) / len(tail) for name in METRIC_NAMES}
    return {name: round(value, 6) for name, value in means.items()} | {"steps": int(last)}


def _stop_agreed(state: GanState, stop: StopRequest | None, sync_point: bool) -> bool:
    """Whether to stop after this step. One process checks its flag at every step; under
    torchrun the ranks agree at logging points and epoch ends, so they stop together."""
    requested = stop is not None and stop.requested
    if not state.world.distributed:
        return requested
    return sync_point and state.world.agree(requested, state.noise.device)


def _stopped(stop: StopRequest | None, step: int) -> str:
    return f"stopped by {stop.signal_name if stop else 'request'} at step {step}"


def _epoch_line(epoch: int, cfg: TrainConfig, step: int, metrics: dict[str, float]) -> str:
    names = (*METRIC_NAMES, *PROBE_NAMES)
    values = "  ".join(f"{name} {metrics[name]:.3f}" for name in names if name in metrics)
    kimg = step * cfg.batch_size / 1000
    return f"epoch {epoch + 1}/{cfg.passes}  step {step}  kimg {kimg:.1f}  {values}"


def train(
    state: GanState,
    data: torch.Tensor,
    cfg: TrainConfig,
    logger: StepLogger,
    checkpointing: Checkpointing | None = None,
    probe: Probe | None = None,
    progress: bool = True,
    stop: StopRequest | None = None,
    labels: torch.Tensor | None = None,
    step: StepFunction = train_step,
    log_every: int = 1,
    epoch_stride: int = 1,
) -> TrainResult:
    """Train from `state.step` to the end of `cfg.epochs` on `data` `(N, C, H, W)` in [-1, 1]
    (and its class `labels` `(N,)`, which a conditional GAN needs), one `step` a batch (the
    semi-supervised GAN's instead of `train_step`).

    Reports metrics every `log_every` steps (`run.log_every`) and a fixed-latent grid every
    `epoch_stride` epochs (`run_length.epoch_stride`: 1 but for a small data set's short
    epochs) and after the last; at each checkpoint the logger is flushed first, so what it
    delivered matches the saved state.
    When `stop` is requested (SIGINT/SIGTERM), it checkpoints after the current step and
    raises `TrainingStopped`.
    """
    steps_per_epoch = epoch_steps(data.shape[0], cfg)
    total_steps = steps_in_run(data.shape[0], cfg)
    grid_latents = latent_batch(
        cfg.grid_size, state.spec.latent_dim, derived_seed(cfg.seed, GRID), data.device
    )
    grid_labels = cycled_labels(cfg.grid_size, state.spec.num_classes, data.device)
    if state.spec.num_classes and labels is None:
        raise ValueError("a conditional GAN trains on labelled data: pass labels")
    save_every = checkpointing.every_steps if checkpointing else 0
    buffer: list[torch.Tensor] = []
    metrics: dict[str, float] = {}
    first_step = state.step
    started = interval_start = time.perf_counter()
    bar = tqdm(
        total=total_steps,
        initial=state.step,
        desc="train",
        unit="step",
        disable=None if progress else True,  # None: shown on a terminal, hidden in logs
    )
    while state.step < total_steps:
        epoch, offset = divmod(state.step, steps_per_epoch)
        order = epoch_permutation(data.shape[0], cfg.seed, epoch, data.device, cfg.epoch_repeats)
        for batch in range(offset, steps_per_epoch):
            # update D, then G, on this rank's slice of the batch
            index = state.world.shard(order[batch * cfg.batch_size : (batch + 1) * cfg.batch_size])
            real_labels = labels[index] if state.spec.num_classes and labels is not None else None
            if cfg.lr_decay > 0:
                set_learning_rates(state, cfg, total_steps)
            buffer.append(step(state, data[index], cfg, real_labels))
            state.step += 1
            bar.update(1)

            # the one gate: past it, whatever is due runs once, in order
            epoch_done = epoch_work_due(state.step, steps_per_epoch, epoch_stride, total_steps)
            log_due = state.step % log_every == 0 or epoch_done
            save_due = save_every > 0 and state.step % save_every == 0
            if not (log_due or save_due or (stop is not None and stop.requested)):
                continue

            # log
            if log_due:
                metrics = _summarise(buffer, state.step)  # waits for the device
                now = time.perf_counter()
                seconds = max(now - interval_start, 1e-9)
                metrics["images_per_s"] = len(buffer) * cfg.batch_size / seconds
                logger.log_metrics(state.step, metrics)
                bar.set_postfix(
                    loss_d=f"{metrics['loss_d']:.3f}", loss_g=f"{metrics['loss_g']:.3f}"
                )
                buffer, interval_start = [], now
            # under torchrun the ranks agree at logging points; an epoch's end decides below
            stopping = not epoch_done and _stop_agreed(state, stop, sync_point=log_due)
            # grid and quick scores, at an epoch's end
            if epoch_done:
                logger.log_grid(state.step, render_grid(state.published, grid_latents, grid_labels))
                if probe and probe.due(epoch, cfg.passes):
                    metrics = {**metrics, **probe.run(state, logger)}  # loggers may keep the old
            # checkpoint: at an epoch's end, every `save_every` steps, and before stopping
            if epoch_done or (checkpointing and (stopping or save_due)):
                logger.flush()  # what the loggers delivered matches the saved state
                if checkpointing:
                    save_checkpoint(checkpointing, state, steps_per_epoch)
            if epoch_done:
                log.info(_epoch_line(epoch, cfg, state.step, metrics))
                stopping = _stop_agreed(state, stop, sync_point=True)
            # stop
            if stopping and state.step < total_steps:
                bar.close()
                raise TrainingStopped(_stopped(stop, state.step))
    bar.close()
    for network in (state.generator, state.discriminator):
        state.world.sync_buffers(network)  # every rank ends with rank 0's statistics
    return TrainResult(
        generator=state.generator,
        steps=state.step,
        images_seen=(state.step - first_step) * cfg.batch_size,
        seconds=time.perf_counter() - started,
        final_metrics={name: metrics[name] for name in METRIC_NAMES if name in metrics},
    )

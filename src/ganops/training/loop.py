"""The adversarial training loop.

The whole training set is one tensor on the device; an epoch is a seeded permutation
sliced into batches, so there is no per-image Python work and a run can resume at any
step: the permutation of an epoch is a function of (seed, epoch), and the noise stream is
a generator whose state is checkpointed.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from ganops.augment import diff_augment
from ganops.config import TrainConfig
from ganops.errors import GanopsError
from ganops.losses import LOSSES, gradient_penalty, mode_seeking_penalty, r1_penalty
from ganops.models import GeneratorSpec, build_discriminator, build_generator
from ganops.sampling import cycled_labels, latent_batch, make_grid, to_uint8
from ganops.training.checkpoint import RESUME_FORMAT, load_torch, save_torch
from ganops.training.device import Acceleration
from ganops.training.distributed import World
from ganops.training.ema import GeneratorEMA
from ganops.training.signals import StopRequest

log = logging.getLogger(__name__)

METRIC_NAMES = ("loss_d", "loss_g", "d_real", "d_fake")
# what the stage's quick probe measures (`ganops.metrics.QuickProbe`), in the epoch line's order
PROBE_NAMES = ("quick_fid", "quick_intra_class_diversity", "quick_intra_class_diversity_min")
# Independent random streams derived from train.seed, so adding one never shifts another.
_WEIGHTS, _NOISE, _PERMUTATION, _GRID = range(4)


class TrainingDiverged(GanopsError):
    """A loss or a weight became NaN or infinite."""


class TrainingStopped(KeyboardInterrupt):
    """SIGINT or SIGTERM asked the loop to stop; a checkpoint was saved first."""


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


@dataclass
class Checkpointing:
    """Where and what to save for resume: `meta` is fixed, `extra()` is read at each save.

    Under torchrun every rank takes part in a save (each rank's noise state is gathered)
    and only the rank with `write` set writes the file.
    """

    path: Path
    meta: dict[str, Any]
    extra: Callable[[], dict[str, Any]] = dict
    every_steps: int = 0
    write: bool = True


def derived_seed(seed: int, stream: int, *keys: int) -> int:
    """A 63-bit seed for one random stream of a run."""
    state = np.random.SeedSequence([seed, stream, *keys]).generate_state(2, np.uint32)
    return (int(state[0]) << 31) ^ int(state[1])


@dataclass
class GanState:
    """Everything that changes during training; its `state_dict` is the resume checkpoint.

    `generator` and `discriminator` are the plain networks (saved, sampled, measured);
    the step calls them through `step_generator` and `step_discriminator`, which may be
    the same modules wrapped in DistributedDataParallel and/or compiled.
    """

    spec: GeneratorSpec
    generator: nn.Module
    discriminator: nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    noise: torch.Generator
    step: int = 0
    best: dict[str, Any] = field(default_factory=dict)  # step, score, generator weights
    acceleration: Acceleration = field(default_factory=Acceleration)
    world: World = field(default_factory=World)
    step_generator: nn.Module | None = None
    step_discriminator: nn.Module | None = None
    ema: GeneratorEMA | None = None  # the moving average of G, sampled and published when on

    @property
    def published(self) -> nn.Module:
        """The generator that grids, quick FIDs and the stage's output use: the EMA when on."""
        return self.ema.module if self.ema is not None else self.generator

    def __post_init__(self) -> None:
        if self.step_generator is None:
            self.step_generator = self.generator
        if self.step_discriminator is None:
            self.step_discriminator = self.discriminator

    @classmethod
    def create(
        cls,
        spec: GeneratorSpec,
        cfg: TrainConfig,
        device: torch.device,
        world: World | None = None,
        spectral_norm: bool = False,
    ) -> GanState:
        """Freshly initialised networks and optimisers; weights depend only on `cfg.seed`.

        Under torchrun each rank draws its own noise stream, and DistributedDataParallel
        starts every rank from rank 0's weights.
        """
        world = world or World()
        acceleration = Acceleration.resolve(cfg, device)
        torch.manual_seed(derived_seed(cfg.seed, _WEIGHTS))
        generator = build_generator(spec).to(device)
        discriminator = build_discriminator(
            spec, spectral_norm=spectral_norm, classifier=cfg.class_loss > 0
        ).to(device)
        if acceleration.channels_last:
            generator.to(memory_format=torch.channels_last)
            discriminator.to(memory_format=torch.channels_last)
        adam: dict[str, Any] = {"betas": (cfg.beta1, cfg.beta2)}
        if acceleration.fused_adam:
            adam["fused"] = True
        noise_keys = (world.rank,) if world.distributed else ()
        step_generator = world.wrap(generator, device)
        step_discriminator = world.wrap(discriminator, device)
        if acceleration.compile:
            step_generator = torch.compile(step_generator)  # type: ignore[assignment]
            step_discriminator = torch.compile(step_discriminator)  # type: ignore[assignment]
        return cls(
            spec=spec,
            generator=generator,
            discriminator=discriminator,
            opt_g=torch.optim.Adam(generator.parameters(), lr=cfg.lr, **adam),
            opt_d=torch.optim.Adam(discriminator.parameters(), lr=cfg.lr_d or cfg.lr, **adam),
            noise=torch.Generator(device=device).manual_seed(
                derived_seed(cfg.seed, _NOISE, *noise_keys)
            ),
            acceleration=acceleration,
            world=world,
            step_generator=step_generator,
            step_discriminator=step_discriminator,
            ema=GeneratorEMA(generator, cfg.ema_decay) if cfg.ema_decay > 0 else None,
        )

    def state_dict(self) -> dict[str, Any]:
        ema = {"ema": self.ema.state_dict()} if self.ema is not None else {}
        return ema | {
            "generator": self.generator.state_dict(),
            "discriminator": self.discriminator.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "noise": self.noise.get_state(),
            "step": self.step,
            "best": self.best,
            "rng": global_rng_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.load_state_dict(state["generator"])
        self.discriminator.load_state_dict(state["discriminator"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        # under torchrun each rank continues its own stream (train.nproc is in the params hash,
        # so a checkpoint only ever resumes with the world size that wrote it)
        self.noise.set_state((state.get("noise_per_rank") or [state["noise"]])[self.world.rank])
        self.step = int(state["step"])
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"])
        self.best = dict(state.get("best", {}))
        if "rng" in state:
            set_global_rng_state(state["rng"])

    def check_finite(self) -> None:
        """Raise `TrainingDiverged` if any weight of either network is NaN or infinite."""
        for name, network in (("generator", self.generator), ("discriminator", self.discriminator)):
            finite = torch.stack([p.detach().isfinite().all() for p in network.parameters()])
            if not bool(finite.all()):
                raise TrainingDiverged(
                    f"training diverged at step {self.step}: {name} weights are not finite; "
                    "lower train.lr or change the model (the last checkpoint is kept)"
                )

    def remember_if_best(self, score: float) -> bool:
        """Keep a copy of the generator when `score` (lower is better) beats the best so far."""
        if self.best and score >= self.best["score"]:
            return False
        weights = {k: v.detach().cpu().clone() for k, v in self.published.state_dict().items()}
        self.best = {"step": self.step, "score": score, "generator": weights}
        return True


def global_rng_state() -> dict[str, Any]:
    """Every global random state (Python, NumPy, torch CPU and CUDA) as tensors and ints.

    The loop draws from its own seeded generators; these are saved so that code drawing
    from the global ones (a user's model, a library) also resumes exactly.
    """
    numpy_state = np.random.get_state(legacy=False)
    python_version, python_state, python_gauss = random.getstate()
    return {
        "python": (python_version, torch.tensor(python_state, dtype=torch.int64), python_gauss),
        "numpy_key": torch.from_numpy(numpy_state["state"]["key"].astype(np.int64)),
        "numpy_rest": (
            int(numpy_state["state"]["pos"]),
            int(numpy_state["has_gauss"]),
            float(numpy_state["gauss"]),
        ),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_global_rng_state(state: dict[str, Any]) -> None:
    """Restore what `global_rng_state` saved."""
    python_version, python_state, python_gauss = state["python"]
    random.setstate((python_version, tuple(int(v) for v in python_state.tolist()), python_gauss))
    pos, has_gauss, gauss = state["numpy_rest"]
    np.random.set_state(
        {
            "bit_generator": "MT19937",
            "state": {"key": state["numpy_key"].numpy().astype(np.uint32), "pos": pos},
            "has_gauss": has_gauss,
            "gauss": gauss,
        }
    )
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


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


def epoch_permutation(
    size: int, seed: int, epoch: int, device: torch.device, repeats: int = 1
) -> torch.Tensor:
    """The order of epoch `epoch`: `repeats` seeded permutations of `size` indices one after
    another, a function of (seed, epoch) only, so resume can rebuild it."""
    orders = []
    for repeat in range(repeats):
        keys = (epoch, repeat) if repeat else (epoch,)  # the first pass as without repeats
        rng = torch.Generator(device="cpu").manual_seed(derived_seed(seed, _PERMUTATION, *keys))
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
    classify = cfg.class_loss > 0
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
    # update G
    with _autocast(device, fast.autocast):
        fake_seen = _augmented(fake, cfg, state)
        scored, fake_classes = _discriminate(discriminator, fake_seen, fake_labels, classify)
        loss_g = g_loss_fn(scored)
        if fake_classes is not None and fake_labels is not None:
            loss_g = loss_g + cfg.class_loss * F.cross_entropy(fake_classes, fake_labels)
        if cfg.mode_seeking > 0:
            loss_g = loss_g + cfg.mode_seeking * mode_seeking_penalty(fake.float(), latents)
    state.opt_g.zero_grad(set_to_none=True)
    loss_g.backward()  # type: ignore[no-untyped-call]
    state.opt_g.step()
    # average G
    if state.ema is not None:
        state.ema.update(state.generator, state.step)
    with torch.no_grad():
        return torch.stack(
            [loss_d, loss_g, torch.sigmoid(real_logits).mean(), torch.sigmoid(fake_logits).mean()]
        ).detach()


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
    picture = make_grid(to_uint8(generator(*_inputs(latents, labels))))
    generator.train(was_training)
    return picture


def save_resume_state(checkpointing: Checkpointing, state: GanState, steps_per_epoch: int) -> None:
    """Write the full resume state (networks, optimisers, every random state, step and the
    position in the epoch's permutation) atomically; never one with non-finite weights."""
    state.check_finite()
    noise_per_rank = state.world.gather(state.noise.get_state())  # every rank takes part
    if not checkpointing.write:
        return
    epoch, batch = divmod(state.step, steps_per_epoch)
    payload = {"format": RESUME_FORMAT, **checkpointing.meta, **checkpointing.extra()}
    position = {"epoch": epoch, "batch_in_epoch": batch}
    resume_state = state.state_dict()
    if state.world.distributed:
        resume_state["noise_per_rank"] = noise_per_rank
    save_torch(checkpointing.path, {**payload, **position, "state": resume_state})


def read_resume_state(
    path: Path, params_hash: str, total_steps: int, world_size: int = 1
) -> dict[str, Any] | None:
    """The checkpoint at `path` if it can continue this run, else None (and the log says why).

    A checkpoint continues only with the number of processes that wrote it: each rank
    resumes its own noise stream.
    """
    if not path.exists():
        return None
    try:
        payload = load_torch(path, "checkpoint")
    except GanopsError as error:
        log.warning("not resuming: %s", error)
        return None
    if payload.get("format") != RESUME_FORMAT:
        log.warning("not resuming: %s is not a ganops resume checkpoint", path)
        return None
    if payload.get("params_hash") != params_hash:
        log.info(
            "not resuming from %s: it was written with other training params (hash %s, now %s)",
            path,
            payload.get("params_hash"),
            params_hash,
        )
        return None
    if payload.get("world_size", 1) != world_size:
        log.info(
            "not resuming from %s: it was written by %s processes, this run has %d",
            path,
            payload.get("world_size", 1),
            world_size,
        )
        return None
    step = int(payload["state"]["step"])
    if step >= total_steps:
        log.info("not resuming from %s: that run already finished; starting afresh", path)
        return None
    return payload


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
    return f"epoch {epoch + 1}/{cfg.epochs}  step {step}  kimg {kimg:.1f}  {values}"


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
) -> TrainResult:
    """Train from `state.step` to the end of `cfg.epochs` on `data` `(N, C, H, W)` in [-1, 1]
    (and its class `labels` `(N,)`, which a conditional GAN needs).

    Reports metrics every `cfg.log_every` steps and a fixed-latent grid every epoch; at each
    checkpoint the logger is flushed first, so what it delivered matches the saved state.
    When `stop` is requested (SIGINT/SIGTERM), it checkpoints after the current step and
    raises `TrainingStopped`.
    """
    steps_per_epoch = epoch_steps(data.shape[0], cfg)
    total_steps = steps_per_epoch * cfg.epochs
    grid_latents = latent_batch(
        cfg.grid_size, state.spec.latent_dim, derived_seed(cfg.seed, _GRID), data.device
    )
    grid_labels = cycled_labels(cfg.grid_size, state.spec.num_classes, data.device)
    if state.spec.num_classes and labels is None:
        raise ValueError("a conditional GAN trains on labelled data: pass labels")
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
            index = state.world.shard(order[batch * cfg.batch_size : (batch + 1) * cfg.batch_size])
            real_labels = labels[index] if state.spec.num_classes and labels is not None else None
            buffer.append(train_step(state, data[index], cfg, real_labels))
            state.step += 1
            bar.update(1)
            # log
            logging_now = state.step % cfg.log_every == 0 or batch == steps_per_epoch - 1
            if logging_now:
                metrics = _summarise(buffer, state.step)  # waits for the device
                now = time.perf_counter()
                metrics["images_per_s"] = (
                    len(buffer) * cfg.batch_size / max(now - interval_start, 1e-9)
                )
                logger.log_metrics(state.step, metrics)
                bar.set_postfix(
                    loss_d=f"{metrics['loss_d']:.3f}", loss_g=f"{metrics['loss_g']:.3f}"
                )
                buffer, interval_start = [], now
            # checkpoint (mid-epoch, when asked for or when stopping)
            every = checkpointing.every_steps if checkpointing else 0
            stopping = _stop_agreed(state, stop, sync_point=logging_now)
            mid_epoch = batch < steps_per_epoch - 1  # an epoch's last step saves below
            if checkpointing and mid_epoch and (stopping or (every and state.step % every == 0)):
                logger.flush()
                save_resume_state(checkpointing, state, steps_per_epoch)
            if stopping and mid_epoch:
                bar.close()
                raise TrainingStopped(_stopped(stop, state.step))
        # end of epoch: grid, probe, flush, checkpoint, one summary line
        logger.log_grid(state.step, render_grid(state.published, grid_latents, grid_labels))
        if probe and probe.due(epoch, cfg.epochs):
            scores = probe.measure(state.published)
            logger.log_metrics(state.step, scores)
            metrics = {**metrics, **scores}  # a new dict: loggers may keep the old one
            state.remember_if_best(scores[probe.key])
            if probe.watch is not None:
                probe.watch(state.step, scores)
        logger.flush()
        if checkpointing:
            save_resume_state(checkpointing, state, steps_per_epoch)
        log.info(_epoch_line(epoch, cfg, state.step, metrics))
        if _stop_agreed(state, stop, sync_point=True) and state.step < total_steps:
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

"""What changes during training (`GanState`) and the one factory that builds it.

Every random draw of a run comes from a stream derived from `train.seed` (`derived_seed`),
so adding a stream never shifts another and resume can rebuild each of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ganops.config import Params, RunConfig, TrainConfig
from ganops.device import Acceleration, adam, compiled
from ganops.errors import GanopsError
from ganops.gan.ema import GeneratorEMA
from ganops.models import GeneratorSpec, build_discriminator, build_generator
from ganops.models.semi import build_semi_supervised_discriminator
from ganops.runs.distributed import World
from ganops.runs.resume import Checkpointing
from ganops.runs.seeds import derived_seed

# Independent random streams derived from train.seed, so adding one never shifts another.
WEIGHTS, NOISE, PERMUTATION, GRID = range(4)
RESUME_FORMAT = "ganops-resume/1"  # the GAN's checkpoint (`save_checkpoint`)


class TrainingDiverged(GanopsError):
    """A loss or a weight became NaN or infinite."""


@dataclass
class GanState:
    """Everything that changes during training; its `state_dict` is the heart of the resume
    checkpoint (`ganops.runs.resume` adds the position and the global random states).

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
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.load_state_dict(state["generator"])
        self.discriminator.load_state_dict(state["discriminator"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        # under torchrun each rank continues its own stream (run.nproc is in the params hash,
        # so a checkpoint only ever resumes with the world size that wrote it)
        self.noise.set_state((state.get("noise_per_rank") or [state["noise"]])[self.world.rank])
        self.step = int(state["step"])
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"])
        self.best = dict(state.get("best", {}))

    @contextmanager
    def discriminator_frozen(self) -> Iterator[None]:
        """D's weights out of the graph for G's update: G's loss needs D's gradient with
        respect to its input, not the gradients of D's weights, which would be computed and
        then thrown away at D's next update (6% of the default step's FLOPs). G's gradients
        are the same to the bit either way. Under torchrun D is left as it is:
        DistributedDataParallel waits for a gradient of every weight in each backward."""
        if self.world.distributed:
            yield
            return
        self.discriminator.requires_grad_(False)
        try:
            yield
        finally:
            self.discriminator.requires_grad_(True)

    def update_generator(self, loss: torch.Tensor) -> None:
        """One optimiser step of G on `loss`, then the step of its moving average (when on)."""
        self.opt_g.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        self.opt_g.step()
        if self.ema is not None:
            self.ema.update(self.generator, self.step)

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


def build_state(
    spec: GeneratorSpec,
    cfg: TrainConfig,
    device: torch.device,
    world: World | None = None,
    spectral_norm: bool = False,
    width_d: int | None = None,
    classes: int = 0,
    run: RunConfig | None = None,
) -> GanState:
    """Freshly initialised networks and optimisers; weights depend only on `cfg.seed`.
    `spectral_norm` and `width_d` (None = the generator's width) shape the discriminator;
    with `train.semi_supervised` it is the semi-supervised one, of the data's `classes`.
    `run` (None = its defaults) says which of the step's switches the device gets.

    Under torchrun each rank draws its own noise stream, and DistributedDataParallel
    starts every rank from rank 0's weights.
    """
    world = world or World()
    acceleration = Acceleration.resolve(run or RunConfig(), device)
    torch.manual_seed(derived_seed(cfg.seed, WEIGHTS))
    generator = build_generator(spec).to(device)
    if cfg.semi_supervised:
        width = width_d or spec.width
        discriminator = build_semi_supervised_discriminator(
            spec.arch, width, spec.image_shape, classes
        ).to(device)
    else:
        discriminator = build_discriminator(
            spec,
            spectral_norm=spectral_norm,
            classifier=cfg.class_loss > 0 and spec.num_classes > 0,
            width=width_d,
        ).to(device)
    if acceleration.channels_last:
        generator.to(memory_format=torch.channels_last)
        discriminator.to(memory_format=torch.channels_last)
    betas = (cfg.beta1, cfg.beta2)
    noise_keys = (world.rank,) if world.distributed else ()
    step_generator = world.wrap(generator, device)
    step_discriminator = world.wrap(discriminator, device)
    if acceleration.compile:
        step_generator = compiled(step_generator, device)
        step_discriminator = compiled(step_discriminator, device)
    return GanState(
        spec=spec,
        generator=generator,
        discriminator=discriminator,
        opt_g=adam(generator.parameters(), cfg.lr, betas),
        opt_d=adam(discriminator.parameters(), cfg.lr_d or cfg.lr, betas),
        noise=torch.Generator(device=device).manual_seed(
            derived_seed(cfg.seed, NOISE, *noise_keys)
        ),
        acceleration=acceleration,
        world=world,
        step_generator=step_generator,
        step_discriminator=step_discriminator,
        ema=_average(generator, cfg),
    )


def build_state_for(
    params: Params,
    spec: GeneratorSpec,
    device: torch.device,
    world: World | None = None,
    classes: int = 0,
) -> GanState:
    """`build_state` with the discriminator `params.model` asks for (spectral norm, width;
    a semi-supervised one learns the data's `classes`)."""
    model = params.model
    return build_state(
        spec, params.train, device, world, model.spectral_norm, model.width_d, classes, params.run
    )


def _average(generator: nn.Module, cfg: TrainConfig) -> GeneratorEMA | None:
    """The moving average of G that `train.ema_decay` or `train.ema_kimg` asks for, or None."""
    if cfg.ema_kimg > 0:
        return GeneratorEMA(
            generator, half_life_images=cfg.ema_kimg * 1000, batch_size=cfg.batch_size
        )
    return GeneratorEMA(generator, cfg.ema_decay) if cfg.ema_decay > 0 else None


def learning_rate_scale(step: int, total_steps: int, decay_share: float) -> float:
    """The factor on both learning rates at `step` (from 0) of `total_steps`: 1, then over the
    last `decay_share` of the run a linear fall towards 0 (1 / its length at the last step).
    A function of the step alone, so resume continues the schedule exactly."""
    decay_steps = max(1, round(total_steps * decay_share)) if decay_share > 0 else 0
    start = total_steps - decay_steps
    return 1.0 if step < start else (total_steps - step) / decay_steps


def set_learning_rates(state: GanState, cfg: TrainConfig, total_steps: int) -> None:
    """Put the scheduled learning rates of `train.lr_decay` into both optimisers."""
    scale = learning_rate_scale(state.step, total_steps, cfg.lr_decay)
    for optimiser, base in ((state.opt_g, cfg.lr), (state.opt_d, cfg.lr_d or cfg.lr)):
        for group in optimiser.param_groups:
            group["lr"] = base * scale


def save_checkpoint(checkpointing: Checkpointing, state: GanState, steps_per_epoch: int) -> None:
    """Write the full resume state (networks, optimisers, every random state, step and the
    position in the epoch's permutation) atomically; never one with non-finite weights."""
    state.check_finite()
    noise_per_rank = state.world.gather(state.noise.get_state())  # every rank takes part
    if not checkpointing.write:
        return
    epoch, batch = divmod(state.step, steps_per_epoch)
    resume_state = state.state_dict()
    if state.world.distributed:
        resume_state["noise_per_rank"] = noise_per_rank
    checkpointing.save(RESUME_FORMAT, resume_state, epoch=epoch, batch_in_epoch=batch)

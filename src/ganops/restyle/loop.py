"""Training a restyler: the state (networks, optimisers, step), one step and the loop, which
resumes exactly from its checkpoint.

The losses are MUNIT's and StarGAN v2's (`trainer.py` of NVlabs/MUNIT, `core/solver.py` of
clovaai/stargan-v2), for one domain whose images carry a class: each step takes a batch of
content images `x` (classes `y`), a batch of style images `x1` drawn from the whole train
split and two batches of random style codes `r1`, `r2` ~ N(0, I) (MUNIT's prior), and with
`c = E_c(x)`, `s = E_s(x)`, `s1 = E_s(x1)`, `out = D(c, s1)`, `out_r = D(c, r1)`:

- adversarial (StarGAN v2: non-saturating, R1 on real images, weight `restyle.r1`): the
  discriminator's head of class `y` tells real images of `y` from `out` and `out_r`, drawn
  with `y`'s content, so an output must be a real-looking digit of its content's class;
- image reconstruction (MUNIT's `recon_x`): `|D(c, s) - x|`, weight `restyle.reconstruction`;
- style reconstruction (both): `|E_s(out) - s1|` and `|E_s(out_r) - r1|`, weight
  `restyle.style`. The random codes are what makes the style count: without them the style
  encoder can shrink its codes until the term is met by a decoder that ignores them (a first
  run did: two styles gave outputs 0.001 apart);
- content reconstruction (MUNIT's `recon_c`): `|E_c(out) - c|` and `|E_c(out_r) - c|`, weight
  `restyle.content`;
- cycle (StarGAN v2's `cyc`): `|D(E_c(out), s) - x|`, weight `restyle.cycle`;
- diversity-sensitive (StarGAN v2's `ds`): `-|out_r - D(c, r2)|`, the second output detached,
  weight `restyle.diversity` falling linearly to 0 over the run as StarGAN v2's does;
- geometry (this project's, `ganops.restyle.geometry`): |moments of `out` - those of `x1`|
  (shear, height, width, ink), weight `restyle.geometry`, 0 by default (then it is only
  measured, without its gradient);
- semantic (CyCADA's semantic consistency, Hoffman et al. 2018, with the true class): the
  cross-entropy of a frozen classifier of the style images on `out` and `out_r` against `y`,
  weight `restyle.semantic`, 0 by default (then no classifier is trained and the term is 0).

An epoch is a seeded permutation of the train split in batches; a step's style images and
random codes are seeded draws of the step's own, so a resumed run sees the very batches an
uninterrupted one does. One process: the task refuses `run.nproc` above 1 before it starts.

With two domains (`ganops.restyle.domains`) the content images are A's and the style images
B's, drawn from B's train split; the discriminator's real images are then the style batch, B's
images at their own classes (one head for all when the domains do not share their classes),
so an output must look like a real image of B of its content's class.

With `restyle.ema_kimg` above 0 the restyler that is published (the per-epoch grid and
score, the saved and logged model) is a moving average of the trained one's weights, as
StarGAN v2 evaluates `nets_ema` (`ganops.gan.ema`, its horizon in images as the generator's
`train.ema_kimg`); it is kept in the checkpoint, so a resumed run's average is the same.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from ganops.config import RestyleConfig
from ganops.device import adam
from ganops.errors import GanopsError
from ganops.gan.ema import GeneratorEMA
from ganops.restyle.geometry import geometry_loss
from ganops.restyle.networks import (
    ClassDiscriminator,
    Restyler,
    RestylerSpec,
    build_networks,
    style_grid,
)
from ganops.run_length import epoch_work_due
from ganops.runs.loggers import StepLogger
from ganops.runs.resume import Checkpointing, PartsState
from ganops.runs.seeds import derived_seed
from ganops.runs.signals import StopRequest, TrainingStopped

log = logging.getLogger(__name__)

METRICS = (
    "loss_d", "loss_g", "loss_g_adv", "loss_reconstruction", "loss_style", "loss_content",
    "loss_cycle", "loss_diversity", "loss_r1", "loss_geometry", "loss_semantic",
)  # fmt: skip
RESUME_FORMAT = "ganops-restyle-resume/1"
_PERMUTATION, _STYLE_DRAWS, _WEIGHTS, _STYLE_CODES, READER = 1, 2, 3, 4, 5  # seed streams


class RestylerDiverged(GanopsError):
    """A loss or a weight became NaN or infinite."""


@dataclass
class RestyleState(PartsState):
    """Everything a restyle run continues from: both networks, both optimisers, the step and
    (`restyle.ema_kimg`) the moving average of the restyler."""

    PARTS = ("restyler", "discriminator", "optimizer_g", "optimizer_d")
    WATCHED = ("restyler", "discriminator")
    DIVERGED = RestylerDiverged
    HINT = "lower restyle.lr"

    spec: RestylerSpec
    restyler: Restyler
    discriminator: ClassDiscriminator
    optimizer_g: torch.optim.Optimizer
    optimizer_d: torch.optim.Optimizer
    step: int = 0
    ema: GeneratorEMA | None = None

    @property
    def published(self) -> Restyler:
        """The restyler the run shows and saves: the moving average when there is one."""
        return self.restyler if self.ema is None else self.ema.module  # type: ignore[return-value]

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        return state if self.ema is None else state | {"ema": self.ema.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"])


def restyler_spec(cfg: RestyleConfig, channels: int, size: int, num_classes: int) -> RestylerSpec:
    """The networks `cfg` asks for, for images of `channels` x `size` px of `num_classes`."""
    return RestylerSpec(
        channels, size, cfg.width, cfg.style_dim, cfg.blocks, num_classes, int(cfg.warp),
        int(cfg.strokes),
    )  # fmt: skip


def build_restyler(
    cfg: RestyleConfig, spec: RestylerSpec, device: torch.device, channels_last: bool = False
) -> RestyleState:
    """Fresh, seeded networks and optimisers for a run (in NHWC with `channels_last`)."""
    restyler, discriminator = build_networks(spec, derived_seed(cfg.seed, _WEIGHTS, bits=32))
    layout = torch.channels_last if channels_last else torch.contiguous_format
    restyler.to(device).to(memory_format=layout).train()
    discriminator.to(device).to(memory_format=layout).train()
    betas = (cfg.beta1, cfg.beta2)
    half_life = cfg.ema_kimg * 1000
    return RestyleState(
        spec=spec,
        restyler=restyler,
        discriminator=discriminator,
        optimizer_g=adam(restyler.parameters(), cfg.lr, betas),
        optimizer_d=adam(discriminator.parameters(), cfg.lr, betas),
        ema=GeneratorEMA(restyler, 0.0, half_life, cfg.batch_size) if half_life > 0 else None,
    )


def _adversarial(logits: torch.Tensor, real: bool) -> torch.Tensor:
    """StarGAN v2's non-saturating loss: BCE of the logits against 1 (real) or 0."""
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, float(real)))


def r1_penalty(logits: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """Half the mean squared norm of D's gradient at the real `images` (Mescheder et al.
    2018); `images` must require grad."""
    (grad,) = torch.autograd.grad(logits.sum(), images, create_graph=True)
    return 0.5 * grad.pow(2).flatten(1).sum(1).mean()


def _update(optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> None:
    optimizer.zero_grad(set_to_none=True)
    loss.backward()  # type: ignore[no-untyped-call]
    optimizer.step()


def diversity_weight(cfg: RestyleConfig, step: int, total: int) -> float:
    """The diversity term's weight at `step` of `total`: `restyle.diversity` falling linearly
    to 0 at the end (StarGAN v2 decays it the same way)."""
    return cfg.diversity * max(0.0, 1.0 - step / max(total, 1))


def restyle_step(
    state: RestyleState,
    cfg: RestyleConfig,
    batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor],
    diversity: float,
    style_labels: torch.Tensor | None = None,
    reader: nn.Module | None = None,
) -> dict[str, float]:
    """One step on `(content, labels, style, codes)`: images `(B, C, H, W)` in [-1, 1], the
    content's classes `(B,)` and two batches of random style codes `(2, B, style_dim)`;
    `diversity` is this step's weight of the diversity term. With `style_labels` `(B,)` (two
    domains) D's real images are the style images at their classes, else the content's. With
    a frozen classifier `reader` (`restyle.semantic` above 0) the outputs must read as their
    content's class to it."""
    content, labels, style, codes = batch
    g, judge = state.restyler, state.discriminator
    twice = labels.repeat(2)  # (2B,): the reference-guided and the random-style outputs
    # the outputs, drawn once for both updates (D's update takes the ones G's loss goes
    # through, detached: D's update leaves G's weights as they were); one call of each network
    # on the batches stacked: at 28 px a step's time is in the number of calls, not their size
    code = g.content_encoder(content)  # (B, 2w, H/4, W/4)
    own, first = g.style_encoder(torch.cat([content, style])).chunk(2)  # (B, style_dim) each
    styles = torch.cat([own, first, codes[0], codes[1]])  # (4B, style_dim)
    drawn = g.decoder(code.repeat(4, 1, 1, 1), styles)  # (4B, C, H, W)
    recon, fakes, out_r2 = (
        drawn[: len(content)],
        drawn[len(content) : -len(content)],
        drawn[-len(content) :],
    )
    # update D: real images of each class against outputs drawn with that class's content
    judge.requires_grad_(True)
    real_images, real_labels = (content, labels) if style_labels is None else (style, style_labels)
    real = real_images.detach().requires_grad_(True)
    logits_real = judge(real, real_labels)
    r1 = r1_penalty(logits_real, real) if cfg.r1 > 0 else torch.zeros((), device=content.device)
    loss_d = (
        _adversarial(logits_real, True)
        + _adversarial(judge(fakes.detach(), twice), False)
        + cfg.r1 * r1
    )
    _update(state.optimizer_d, loss_d)
    # update G: fool D; reconstruct the image, the style, the content, the cycle; diversify
    judge.requires_grad_(False)
    adversarial = _adversarial(judge(fakes, twice), True)
    reconstruction = F.l1_loss(recon, content)
    style_loss = F.l1_loss(g.style_encoder(fakes), torch.cat([first, codes[0]]))
    code_out = g.content_encoder(fakes)  # (2B, 2w, H/4, W/4)
    content_loss = F.l1_loss(code_out, code.repeat(2, 1, 1, 1))
    cycle = F.l1_loss(g.decoder(code_out[: len(content)], own), content)
    spread = F.l1_loss(fakes[len(content) :], out_r2.detach())
    loss_g = (
        adversarial + cfg.reconstruction * reconstruction + cfg.style * style_loss
        + cfg.content * content_loss + cfg.cycle * cycle - diversity * spread
    )  # fmt: skip
    if cfg.geometry > 0:
        geometry = geometry_loss(fakes[: len(content)], style, cfg.strokes, cfg.geometry_slant)
        loss_g = loss_g + cfg.geometry * geometry
    else:  # measured only: the default's gradients (and bytes) stay as they were
        with torch.no_grad():
            geometry = geometry_loss(fakes[: len(content)], style, cfg.strokes)
    if reader is not None:
        semantic = F.cross_entropy(reader(fakes), twice)
        loss_g = loss_g + cfg.semantic * semantic
    else:
        semantic = torch.zeros((), device=content.device)
    _update(state.optimizer_g, loss_g)
    values = (loss_d, loss_g, adversarial, reconstruction, style_loss, content_loss, cycle,
              spread, r1, geometry, semantic)  # fmt: skip
    return {name: float(v.detach()) for name, v in zip(METRICS, values, strict=True)}


def batch_indices(
    seed: int, epoch: int, batch: int, batch_size: int, count: int, style_count: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices of batch `batch` of epoch `epoch`: the content's (among `count`) from the
    epoch's seeded permutation, the style images' (among `style_count`, or `count` when 0) a
    seeded draw of this step's own."""
    permutation = torch.randperm(
        count,
        generator=torch.Generator().manual_seed(derived_seed(seed, _PERMUTATION, epoch, bits=32)),
    )
    content = permutation[batch * batch_size : (batch + 1) * batch_size]
    draw = torch.Generator().manual_seed(derived_seed(seed, _STYLE_DRAWS, epoch, batch, bits=32))
    return content, torch.randint(style_count or count, (len(content),), generator=draw)


def style_codes(seed: int, epoch: int, batch: int, count: int, style_dim: int) -> torch.Tensor:
    """The step's two batches of random style codes `(2, count, style_dim)` ~ N(0, I)."""
    draw = torch.Generator().manual_seed(derived_seed(seed, _STYLE_CODES, epoch, batch, bits=32))
    return torch.randn((2, count, style_dim), generator=draw)


@dataclass(frozen=True)
class Training:
    """What the loop works on: the train images `(N, C, H, W)` in [-1, 1] and their classes
    (the content's; with two domains the style images' too, else they are the same), the
    fixed test images of the per-epoch grid, and how often to checkpoint."""

    images: torch.Tensor
    labels: torch.Tensor
    grid_contents: torch.Tensor
    grid_styles: torch.Tensor
    checkpointing: Checkpointing
    log_every: int = 1
    epoch_stride: int = 1  # epochs between grids and epoch-end checkpoints (run_length)
    channels_last: bool = False  # batches in NHWC, as the networks (`run.channels_last`)
    style_images: torch.Tensor | None = None  # two domains: B's train images (M, C, H, W)
    style_labels: torch.Tensor | None = None  # (M,): their classes, D's real images' classes
    reader: nn.Module | None = None  # the semantic term's frozen classifier (restyle.semantic)


@dataclass(frozen=True)
class LoopResult:
    steps: int
    seconds: float
    images_seen: int


def steps_per_epoch(count: int, batch_size: int) -> int:
    """Batches of an epoch of `count` images; a last batch of one image is left out (the
    instance normalisation and R1 want two)."""
    full, rest = divmod(count, batch_size)
    return full + (1 if rest >= 2 else 0)


def _laid_out(images: torch.Tensor, channels_last: bool) -> torch.Tensor:
    return images.contiguous(memory_format=torch.channels_last) if channels_last else images


def save_checkpoint(state: RestyleState, checkpointing: Checkpointing) -> None:
    """The full resume state, never one with non-finite weights."""
    state.check_finite()
    if checkpointing.write:
        checkpointing.save(RESUME_FORMAT, state.state_dict())


def train_restyler(
    state: RestyleState,
    cfg: RestyleConfig,
    work: Training,
    logger: StepLogger,
    stop: StopRequest | None = None,
    progress: bool = True,
) -> LoopResult:
    """Train from `state.step` to the end of `cfg.passes`, logging, drawing the grid at every
    `work.epoch_stride`-th epoch's end (and the last) and checkpointing (every
    `work.checkpointing.every_steps` and with each grid); a stop request checkpoints after
    the current step and stops."""
    per_epoch = steps_per_epoch(len(work.images), cfg.batch_size)
    total = per_epoch * cfg.passes
    started, first = time.perf_counter(), state.step
    hidden = None if progress else True  # None: shown on a terminal, hidden in logs
    bar = tqdm(total=total, initial=state.step, desc="train", unit="step", disable=hidden)
    styles = work.images if work.style_images is None else work.style_images
    while state.step < total:
        epoch, batch = divmod(state.step, per_epoch)
        index, index_style = batch_indices(
            cfg.seed, epoch, batch, cfg.batch_size, len(work.images), len(styles)
        )
        codes = style_codes(cfg.seed, epoch, batch, len(index), cfg.style_dim)
        batch_data = (
            _laid_out(work.images[index], work.channels_last), work.labels[index],
            _laid_out(styles[index_style], work.channels_last),
            codes.to(work.images.device),
        )  # fmt: skip
        real_labels = None if work.style_labels is None else work.style_labels[index_style]
        weight = diversity_weight(cfg, state.step, total)
        losses = restyle_step(state, cfg, batch_data, weight, real_labels, work.reader)
        if state.ema is not None:
            state.ema.update(state.restyler, state.step)
        state.step += 1
        bar.update()
        if not all(math.isfinite(v) for v in losses.values()):
            raise RestylerDiverged(
                f"a loss became non-finite at step {state.step} ({losses}); lower restyle.lr"
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
            logger.log_grid(state.step, style_grid(state.published, work.grid_contents,
                                                   work.grid_styles))  # fmt: skip
            log.info(
                "epoch %d/%d  %s", epoch + 1, cfg.passes,
                "  ".join(f"{k} {losses[k]:.4f}" for k in METRICS),
            )  # fmt: skip
        logger.flush()
        save_checkpoint(state, work.checkpointing)
        if stopping and state.step < total:
            bar.close()
            by = stop.signal_name if stop else "request"
            raise TrainingStopped(f"stopped by {by} at step {state.step}; the checkpoint holds it")
    bar.close()
    seconds = time.perf_counter() - started
    return LoopResult(state.step, seconds, (state.step - first) * cfg.batch_size)


def networks(state: RestyleState) -> dict[str, nn.Module]:
    """The networks by the names the log gives their weight digests."""
    return {"restyler": state.restyler, "discriminator": state.discriminator}

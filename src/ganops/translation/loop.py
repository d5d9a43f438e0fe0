"""Training a translator: the state (networks, optimisers, pools), one step of each family
and the loop, which resumes exactly from its checkpoint.

- paired (pix2pix, Isola et al. 2017): G maps A to B; D judges (A, B) pairs patch by patch;
  G's loss is the least-squares adversarial term plus `translate.l1` times the L1 distance to
  the true B image.
- unpaired (CycleGAN, Zhu et al. 2017): G_ab and G_ba, D_b and D_a; least-squares adversarial
  terms, cycle terms |G_ba(G_ab(a)) - a| and |G_ab(G_ba(b)) - b| weighted by `translate.cycle`,
  identity terms weighted by `translate.identity` x `translate.cycle`, and each D sees a pool
  of earlier fakes.
- unpaired with `translate.method: cut` (CUT, Park et al. 2020): G_ab and D_b alone, PatchNCE
  in place of the cycle (`ganops.translation.contrastive`).
- semantic consistency (CyCADA, Hoffman et al. 2018), either family, when `translate.semantic`
  is above 0: a frozen classifier of domain A, trained on A's labels only, must give each
  translation the class it gives the translation's input (cross-entropy against its own
  prediction on the input), so a translator cannot turn a 3 into an 8 to please D. With
  `translate.semantic_classifier: handmade` a second classifier, trained on A through the
  hand-made transform into B's style, reads the translations (the first still reads the
  inputs): a classifier of raw MNIST cannot read UCI-style digits. CyCADA
  also asks it of B's translations into A, against the classifier's labels for B's raw
  images: A's own classifier reads the other domain's raw images near chance (0.10 measured
  on MNIST <-> UCI digits), so those labels would be noise; with a reader of B (`handmade`,
  `handmade_fixmatch`) `translate.semantic_b` weighs that term (CycleGAN), A's classifier
  reading each G_ba(b) against the reader's class for b where the reader is sure of it.
- geometry consistency (GcGAN, Fu et al. 2019), unpaired, when `translate.geometry` is above
  0: each generator must commute with a quarter turn, |G(rot(x)) - rot(G(x))|
  (`terms.geometry_loss`); CUT's one generator too.

An epoch is a seeded permutation of A's train split in batches; B's batch of a step is the
same indices for a paired task and a seeded draw of its own (a function of the step) for an
unpaired one, so a resumed run sees the very batches an uninterrupted one does.

Under torchrun every rank draws the same global batches and trains on its equal slice
(`World.shard`); after each backward the ranks average their gradients (`terms.update`), so they
keep identical weights; each rank has a fake pool of its own, seeded by its rank.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from ganops.config import TranslateConfig
from ganops.device import adam
from ganops.errors import GanopsError
from ganops.run_length import epoch_work_due
from ganops.runs.distributed import World
from ganops.runs.loggers import StepLogger
from ganops.runs.resume import Checkpointing
from ganops.runs.seeds import derived_seed
from ganops.runs.signals import StopRequest, TrainingStopped
from ganops.sampling import READABLE_PX, make_grid, to_uint8
from ganops.translation.contrastive import CUT_METRICS, PatchHeads, build_heads, cut_step
from ganops.translation.networks import (
    ImagePool,
    PatchDiscriminator,
    TranslatorSpec,
    build_generator,
    init_weights,
    max_downsamplings,
    patch_layers,
    translate_images,
)
from ganops.translation.terms import (
    geometry_loss,
    if_weighted,
    lsgan,
    requires_grad,
    semantic_loss,
    sure_semantic_loss,
    update,
)

log = logging.getLogger(__name__)

PAIRED_METRICS = ("loss_d", "loss_g", "loss_g_adv", "loss_l1", "loss_semantic")
UNPAIRED_METRICS = (
    "loss_d", "loss_g", "loss_g_adv", "loss_cycle", "loss_identity", "loss_semantic",
    "loss_semantic_b", "loss_geometry",
)  # fmt: skip
RESUME_FORMAT = "ganops-translate-resume/1"
_PERMUTATION, _B_DRAWS, _POOL_A, _POOL_B, _WEIGHTS = 1, 2, 3, 4, 5  # seed streams


def family(cfg: TranslateConfig, paired: bool) -> str:
    """pix2pix for paired domains, else `translate.method` (cyclegan or cut)."""
    return "pix2pix" if paired else cfg.method


class TranslatorDiverged(GanopsError):
    """A loss or a weight became NaN or infinite."""


def translator_spec(cfg: TranslateConfig, paired: bool, channels: int, size: int) -> TranslatorSpec:
    """The generator `cfg` asks for, for images of `channels` x `size` px."""
    arch = cfg.generator if cfg.generator != "auto" else ("unet" if paired else "resnet")
    return TranslatorSpec(
        arch=arch,
        in_channels=channels,
        out_channels=channels,
        image_size=size,
        width=cfg.width,
        downsamplings=min(max_downsamplings(size), 2 if arch == "resnet" else 8),
        blocks=cfg.blocks,
    )


@dataclass
class TranslatorState:
    """Everything a translator run continues from: networks (`ab`, and `ba` for CycleGAN),
    discriminators (`b`, and `a`), CUT's patch heads, both optimisers (G's holds the heads),
    the fake pools and the step; the frozen
    classifier of domain A when the semantic term is on (rebuilt, not resumed: it is a
    seeded function of A's train split); and this process's place under torchrun."""

    spec: TranslatorSpec
    paired: bool
    generators: dict[str, nn.Module]
    discriminators: dict[str, nn.Module]
    optimizer_g: torch.optim.Optimizer
    optimizer_d: torch.optim.Optimizer
    pools: dict[str, ImagePool] = field(default_factory=dict)
    step: int = 0
    heads: dict[str, PatchHeads] = field(default_factory=dict)  # CUT's, under "nce"
    classifier: nn.Module | None = None
    translation_classifier: nn.Module | None = None  # None: `classifier` reads them too
    world: World = field(default_factory=World)

    @property
    def method(self) -> str:
        """pix2pix, cyclegan or cut: the step this state takes."""
        return "pix2pix" if self.paired else ("cut" if self.heads else "cyclegan")

    def state_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "generators": {k: m.state_dict() for k, m in self.generators.items()},
            "discriminators": {k: m.state_dict() for k, m in self.discriminators.items()},
            "optimizer_g": self.optimizer_g.state_dict(),
            "optimizer_d": self.optimizer_d.state_dict(),
            "pools": {k: pool.state_dict() for k, pool in self.pools.items()},
        } | ({"heads": {k: m.state_dict() for k, m in self.heads.items()}} if self.heads else {})

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step = int(state["step"])
        for key, module in self.generators.items():
            module.load_state_dict(state["generators"][key])
        for key, module in self.discriminators.items():
            module.load_state_dict(state["discriminators"][key])
        for key, module in self.heads.items():
            module.load_state_dict(state["heads"][key])
        self.optimizer_g.load_state_dict(state["optimizer_g"])
        self.optimizer_d.load_state_dict(state["optimizer_d"])
        # under torchrun each rank continues its own pools (a checkpoint resumes only with
        # the world size that wrote it)
        pools = (state.get("pools_per_rank") or [state["pools"]])[self.world.rank]
        for key, pool in self.pools.items():
            pool.load_state_dict(pools[key])

    def check_finite(self) -> None:
        networks = (*self.generators.items(), *self.discriminators.items(), *self.heads.items())
        for name, module in networks:
            for tensor in module.state_dict().values():
                if tensor.is_floating_point() and not torch.isfinite(tensor).all():
                    raise TranslatorDiverged(
                        f"the weights of network {name} are no longer finite at step "
                        f"{self.step}; lower translate.lr"
                    )


def build_translator(
    cfg: TranslateConfig,
    spec: TranslatorSpec,
    paired: bool,
    device: torch.device,
    world: World | None = None,
) -> TranslatorState:
    """Fresh, seeded networks and optimisers for a run: the same weights on every rank under
    torchrun, and fake pools seeded by the rank."""
    world = world or World()
    method = family(cfg, paired)
    one_way = method != "cyclegan"
    directions = ("ab",) if one_way else ("ab", "ba")
    judges = ("b",) if one_way else ("b", "a")
    d_channels = spec.in_channels + spec.out_channels if paired else spec.out_channels
    layers = patch_layers(spec.image_size)
    generators = {key: build_generator(spec) for key in directions}
    discriminators: dict[str, nn.Module] = {
        key: PatchDiscriminator(d_channels, cfg.width, layers) for key in judges
    }
    for index, module in enumerate((*generators.values(), *discriminators.values())):
        init_weights(module, derived_seed(cfg.seed, _WEIGHTS, index, bits=32))
        module.to(device).train()
    heads: dict[str, PatchHeads] = {}
    if method == "cut":  # sized by the generator's layers, seeded after every other network
        heads["nce"] = build_heads(generators["ab"], spec.in_channels, spec.image_size)
        init_weights(
            heads["nce"], derived_seed(cfg.seed, _WEIGHTS, len(generators) + len(judges), bits=32)
        )
        heads["nce"].to(device).train()
    betas = (cfg.beta1, 0.999)
    g_params = [
        p for module in (*generators.values(), *heads.values()) for p in module.parameters()
    ]
    d_params = [p for module in discriminators.values() for p in module.parameters()]
    rank = (world.rank,) if world.distributed else ()  # one process: the seeds it always had
    pools = {} if one_way else {
        "a": ImagePool(cfg.pool_size, derived_seed(cfg.seed, _POOL_A, *rank, bits=32)),
        "b": ImagePool(cfg.pool_size, derived_seed(cfg.seed, _POOL_B, *rank, bits=32)),
    }  # fmt: skip
    return TranslatorState(
        spec=spec,
        paired=paired,
        generators=generators,
        discriminators=discriminators,
        optimizer_g=adam(g_params, cfg.lr, betas),
        optimizer_d=adam(d_params, cfg.lr, betas),
        pools=pools,
        heads=heads,
        world=world,
    )


def paired_step(
    state: TranslatorState, cfg: TranslateConfig, a: torch.Tensor, b: torch.Tensor
) -> dict[str, float]:
    """One pix2pix step on aligned batches `a`, `b` `(B, C, H, W)` in [-1, 1]."""
    generator, judge = state.generators["ab"], state.discriminators["b"]
    fake = generator(a)  # (B, C, H, W)
    # update D: real pairs (a, b) against generated pairs (a, G(a))
    requires_grad(state.discriminators, True)
    loss_d = 0.5 * (
        lsgan(judge(torch.cat([a, b], 1)), True)
        + lsgan(judge(torch.cat([a, fake.detach()], 1)), False)
    )
    update(state.optimizer_d, loss_d, state.world)
    # update G: fool D, and stay close to the true b
    requires_grad(state.discriminators, False)
    adversarial = lsgan(judge(torch.cat([a, fake], 1)), True)
    l1 = F.l1_loss(fake, b)
    semantic = semantic_loss(state.classifier, a, fake, state.translation_classifier)
    loss_g = adversarial + cfg.l1 * l1 + cfg.semantic * semantic
    update(state.optimizer_g, loss_g, state.world)
    values = (loss_d, loss_g, adversarial, l1, semantic)
    return {name: float(v.detach()) for name, v in zip(PAIRED_METRICS, values, strict=True)}


def unpaired_step(
    state: TranslatorState, cfg: TranslateConfig, a: torch.Tensor, b: torch.Tensor
) -> dict[str, float]:
    """One CycleGAN step on independent batches `a`, `b` `(B, C, H, W)` in [-1, 1]."""
    g_ab, g_ba = state.generators["ab"], state.generators["ba"]
    d_a, d_b = state.discriminators["a"], state.discriminators["b"]
    # update G: both directions, their cycles and identities, D frozen
    requires_grad(state.discriminators, False)
    fake_b, fake_a = g_ab(a), g_ba(b)  # (B, C, H, W)
    adversarial = lsgan(d_b(fake_b), True) + lsgan(d_a(fake_a), True)
    cycle = F.l1_loss(g_ba(fake_b), a) + F.l1_loss(g_ab(fake_a), b)
    identity = if_weighted(cfg.identity, lambda: F.l1_loss(g_ab(b), b) + F.l1_loss(g_ba(a), a))
    # semantic: A's translation keeps the class A's classifier sees in it
    semantic = semantic_loss(state.classifier, a, fake_b, state.translation_classifier)

    # and B's translation keeps the class the reader of B is sure of in it
    def b_keeps_its_class() -> torch.Tensor:
        assert state.classifier is not None and state.translation_classifier is not None
        return sure_semantic_loss(state.translation_classifier, b, state.classifier, fake_a)

    semantic_b = if_weighted(cfg.semantic_b, b_keeps_its_class)
    # geometry: each generator commutes with a quarter turn
    geometry = if_weighted(
        cfg.geometry, lambda: geometry_loss(g_ab, a, fake_b) + geometry_loss(g_ba, b, fake_a)
    )
    loss_g = (
        adversarial + cfg.cycle * cycle + cfg.identity * cfg.cycle * identity
        + cfg.semantic * semantic + cfg.semantic_b * semantic_b + cfg.geometry * geometry
    )  # fmt: skip
    update(state.optimizer_g, loss_g, state.world)
    # update D: real images against the pools' mix of new and earlier fakes
    requires_grad(state.discriminators, True)
    pooled_b = state.pools["b"].query(fake_b.detach())
    pooled_a = state.pools["a"].query(fake_a.detach())
    loss_d = 0.5 * (
        lsgan(d_b(b), True) + lsgan(d_b(pooled_b), False)
        + lsgan(d_a(a), True) + lsgan(d_a(pooled_a), False)
    )  # fmt: skip
    update(state.optimizer_d, loss_d, state.world)
    values = (loss_d, loss_g, adversarial, cycle, identity, semantic, semantic_b, geometry)
    return {name: float(v.detach()) for name, v in zip(UNPAIRED_METRICS, values, strict=True)}


STEPS = {"pix2pix": paired_step, "cyclegan": unpaired_step, "cut": cut_step}
METRICS = {"pix2pix": PAIRED_METRICS, "cyclegan": UNPAIRED_METRICS, "cut": CUT_METRICS}


def batch_indices(
    seed: int, epoch: int, batch: int, batch_size: int, count_a: int, count_b: int, paired: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices into A and B of batch `batch` of epoch `epoch`: A's from the epoch's seeded
    permutation; B's the same (paired) or a seeded draw of this step's own (unpaired)."""
    permutation = torch.randperm(
        count_a,
        generator=torch.Generator().manual_seed(derived_seed(seed, _PERMUTATION, epoch, bits=32)),
    )
    index_a = permutation[batch * batch_size : (batch + 1) * batch_size]
    if paired:
        return index_a, index_a
    draw = torch.Generator().manual_seed(derived_seed(seed, _B_DRAWS, epoch, batch, bits=32))
    return index_a, torch.randperm(count_b, generator=draw)[: len(index_a)]


def triplet_grid(state: TranslatorState, inputs: torch.Tensor, targets: torch.Tensor) -> np.ndarray:
    """Rows of input | translation | target (paired), input | A->B | A->B->A (CycleGAN) or
    input | A->B | a test image of B (CUT, which has no way back)."""
    translated = translate_images(state.generators["ab"], inputs)
    back = state.generators.get("ba")
    third = targets if back is None else translate_images(back, translated)
    rows = torch.stack([inputs, translated, third], 1).flatten(0, 1)  # (3N, C, H, W)
    return make_grid(to_uint8(rows), columns=6, min_side=READABLE_PX)


@dataclass(frozen=True)
class Training:
    """What the loop works on: both domains' train tensors `(N, C, H, W)` in [-1, 1], the
    fixed test inputs (and targets) of the per-epoch grid, and how often to checkpoint."""

    a: torch.Tensor
    b: torch.Tensor
    grid_inputs: torch.Tensor
    grid_targets: torch.Tensor
    checkpointing: Checkpointing
    log_every: int = 1
    epoch_stride: int = 1  # epochs between grids and epoch-end checkpoints (run_length)


@dataclass(frozen=True)
class LoopResult:
    steps: int
    seconds: float
    images_seen: int


def steps_per_epoch(count_a: int, batch_size: int, processes: int = 1) -> int:
    """Batches of an epoch of `count_a` images: the last, short one too, when it has an image
    for each of the `processes` (which take equal slices, leaving its remainder out)."""
    full, rest = divmod(count_a, batch_size)
    return full + (1 if rest >= processes else 0)


def save_checkpoint(state: TranslatorState, checkpointing: Checkpointing) -> None:
    """The full resume state, never one with non-finite weights; under torchrun every rank
    takes part (each rank's pools are gathered) and the rank with `write` set writes it."""
    state.check_finite()
    pools = {key: pool.state_dict() for key, pool in state.pools.items()}
    pools_per_rank = state.world.gather(pools)
    if not checkpointing.write:
        return
    resume = state.state_dict()
    if state.world.distributed:
        resume["pools_per_rank"] = pools_per_rank
    checkpointing.save(RESUME_FORMAT, resume)


def train_translator(
    state: TranslatorState,
    cfg: TranslateConfig,
    work: Training,
    logger: StepLogger,
    stop: StopRequest | None = None,
    progress: bool = True,
) -> LoopResult:
    """Train from `state.step` to the end of `cfg.epochs`, logging, drawing the grid at every
    `work.epoch_stride`-th epoch's end (and the last) and checkpointing (every `every_steps`
    and with each grid). Under
    torchrun the ranks agree at every step whether to stop, so they checkpoint together."""
    world = state.world
    per_epoch = steps_per_epoch(len(work.a), cfg.batch_size, world.size)
    total = per_epoch * cfg.passes
    step_fn = STEPS[state.method]
    names = METRICS[state.method]
    started, first = time.perf_counter(), state.step
    hidden = None if progress else True  # None: shown on a terminal, hidden in logs
    bar = tqdm(total=total, initial=state.step, desc="train", unit="step", disable=hidden)
    while state.step < total:
        epoch, batch = divmod(state.step, per_epoch)
        index_a, index_b = batch_indices(
            cfg.seed, epoch, batch, cfg.batch_size, len(work.a), len(work.b), state.paired
        )
        index_a, index_b = world.shard(index_a), world.shard(index_b)  # this rank's slice
        losses = step_fn(state, cfg, work.a[index_a], work.b[index_b])  # update D and G
        state.step += 1
        bar.update()
        if not all(math.isfinite(v) for v in losses.values()):
            raise TranslatorDiverged(
                f"a loss became non-finite at step {state.step} ({losses}); lower translate.lr"
            )
        if state.step % work.log_every == 0 or state.step == total:
            logger.log_metrics(state.step, losses)
        epoch_done = epoch_work_due(state.step, per_epoch, work.epoch_stride, total)
        every = work.checkpointing.every_steps
        stopping = world.agree(stop is not None and stop.requested, work.a.device)
        if not (epoch_done or (every and state.step % every == 0) or stopping):
            continue
        # maintenance: the epoch line and grid, then the checkpoint
        if epoch_done:
            picture = triplet_grid(state, work.grid_inputs, work.grid_targets)
            logger.log_grid(state.step, picture)
            log.info(
                "epoch %d/%d  %s", epoch + 1, cfg.passes,
                "  ".join(f"{k} {losses[k]:.4f}" for k in names),
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

"""What every translator's step shares: the least-squares adversarial term, CyCADA's
semantic terms, GcGAN's geometry term, and one optimiser update (averaged over torchrun's
ranks)."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ganops.config import DownstreamConfig
from ganops.runs.distributed import World

SURE = DownstreamConfig().pseudo_label_threshold  # FixMatch's threshold at its default


def lsgan(logits: torch.Tensor, real: bool) -> torch.Tensor:
    """The least-squares GAN term (Mao et al. 2017): logits pulled to 1 (real) or 0 (fake)."""
    return F.mse_loss(logits, torch.full_like(logits, 1.0 if real else 0.0))


def update(optimizer: torch.optim.Optimizer, loss: torch.Tensor, world: World) -> None:
    """One step of `optimizer` on `loss`; under torchrun on the gradients averaged over the
    ranks. Averaged here, after the whole backward, rather than by DDP during it: the result
    does not depend on how often a step calls a network (a CycleGAN step calls each generator
    three times before one backward) or on which frozen networks a loss goes through, and the
    networks stay plain modules, the ones the grid, the checkpoint and the published file use."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()  # type: ignore[no-untyped-call]
    world.average_gradients(p for group in optimizer.param_groups for p in group["params"])
    optimizer.step()


def requires_grad(modules: dict[str, nn.Module], flag: bool) -> None:
    for module in modules.values():
        module.requires_grad_(flag)


def semantic_loss(
    classifier: nn.Module | None,
    inputs: torch.Tensor,
    translations: torch.Tensor,
    reader: nn.Module | None = None,
) -> torch.Tensor:
    """CyCADA's semantic consistency: cross-entropy of the frozen `reader` (by default
    `classifier`) on the `translations` against the class `classifier` gives their `inputs`;
    0 without a classifier."""
    if classifier is None:
        return torch.zeros((), device=translations.device)
    with torch.no_grad():
        target = classifier(inputs).argmax(1)  # (B,)
    return F.cross_entropy((reader or classifier)(translations), target)


def sure_semantic_loss(
    reader: nn.Module, inputs: torch.Tensor, classifier: nn.Module, translations: torch.Tensor
) -> torch.Tensor:
    """CyCADA's semantic consistency the other way: the frozen `classifier` must read in
    each of the `translations` the class the frozen `reader` gives its input, counted only
    where the reader is at least `SURE` of it (FixMatch's mask: the mean over the whole
    batch, so a batch with no sure input adds nothing)."""
    with torch.no_grad():
        confidence, target = F.softmax(reader(inputs), dim=1).max(1)  # (B,), (B,)
    losses = F.cross_entropy(classifier(translations), target, reduction="none")
    return (losses * (confidence >= SURE)).mean()


def if_weighted(weight: float, term: Callable[[], torch.Tensor]) -> torch.Tensor:
    """`term()` when its `weight` is above 0, else 0 without computing it: an optional term
    of a step (its value is logged either way, its weight applied by the caller)."""
    return term() if weight > 0 else torch.zeros(())


def quarter_turn(images: torch.Tensor) -> torch.Tensor:
    """`images` `(B, C, H, W)` turned a quarter anticlockwise: GcGAN's `rot` transform."""
    return torch.rot90(images, 1, dims=(2, 3))


def geometry_loss(
    generator: nn.Module, inputs: torch.Tensor, translations: torch.Tensor
) -> torch.Tensor:
    """GcGAN's geometry consistency (Fu et al. 2019) for a quarter turn f: the translation of
    the turned inputs is the turned translation, |G(f(x)) - f(G(x))| (L1, both sides
    trained). The paper's second term, |f^-1(G(f(x))) - G(x)|, is the same number for a turn,
    so it is counted once. `inputs` `(B, C, S, S)` and their `translations` are square."""
    return F.l1_loss(generator(quarter_turn(inputs)), quarter_turn(translations))

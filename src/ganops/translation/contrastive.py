"""CUT (Park et al. 2020; after taesungp/contrastive-unpaired-translation, `models/cut_model.py`,
`models/patchnce.py` and `PatchSampleF`): one generator from A to B and no way back; what
keeps the content is PatchNCE, not a cycle.

The generator's own encoder reads the input and its translation; at a few of its layers
(`nce_layers`) the same positions are sampled from both, a small MLP head per layer maps each
to 256 numbers on the unit sphere, and a patch of the translation must pick out the input's
patch at its own place against the input's other sampled patches of the same image
(cross-entropy over cosine similarities / 0.07). CUT's identity term asks the same of B's
images through the generator, so it leaves B alone. The positions are a seeded function of
the step, so a resumed run samples the very patches an uninterrupted one does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from ganops.config import TranslateConfig
from ganops.runs.seeds import derived_seed
from ganops.translation.networks import ResnetGenerator, _ResidualBlock
from ganops.translation.terms import (
    geometry_loss,
    if_weighted,
    lsgan,
    requires_grad,
    semantic_loss,
    update,
)

if TYPE_CHECKING:
    from ganops.translation.loop import TranslatorState

CUT_METRICS = (
    "loss_d", "loss_g", "loss_g_adv", "loss_nce", "loss_nce_identity", "loss_semantic",
    "loss_geometry",
)  # fmt: skip
TEMPERATURE = 0.07  # CUT's nce_T
HEAD_CHANNELS = 256  # CUT's netF_nc
_PATCHES = 6  # seed stream of the sampled positions (the loop's are 1-5)


def _body(generator: nn.Module) -> nn.Sequential:
    """The layers of a ResNet generator, the one network whose encoder PatchNCE reads."""
    if not isinstance(generator, ResnetGenerator):
        raise TypeError(f"CUT reads a ResnetGenerator's layers, not a {type(generator).__name__}")
    return generator.net


def nce_layers(generator: nn.Module) -> tuple[int, ...]:
    """Indices into `generator.net` whose outputs PatchNCE compares: the padded input, each
    down-sampling convolution, the first residual block and the middle one (CUT's layers
    0, 4, 8, 12, 16 of its 9-block generator: the same places in this one)."""
    layers = list(_body(generator))
    downs = [i for i, m in enumerate(layers) if isinstance(m, nn.Conv2d) and m.stride == (2, 2)]
    blocks = [i for i, m in enumerate(layers) if isinstance(m, _ResidualBlock)]
    chosen = {0, *downs, *blocks[:1], *blocks[len(blocks) // 2 : len(blocks) // 2 + 1]}
    return tuple(sorted(chosen))


def encode(generator: nn.Module, images: torch.Tensor, layers: Sequence[int]) -> list[torch.Tensor]:
    """The outputs of `generator.net`'s `layers` for `images`, each `(B, C_l, H_l, W_l)`; the
    layers after the last one asked are not run."""
    features, x, last = [], images, max(layers)
    for index, layer in enumerate(_body(generator)):
        x = layer(x)
        if index in layers:
            features.append(x)
        if index == last:
            break
    return features


class PatchHeads(nn.Module):
    """CUT's netF (`mlp_sample`): per layer a two-layer MLP from its channels onto
    `HEAD_CHANNELS`, applied to the sampled positions, then L2-normalised."""

    def __init__(
        self, channels: Sequence[int], layers: Sequence[int], out: int = HEAD_CHANNELS
    ) -> None:
        super().__init__()
        self.layers = tuple(layers)  # the generator's `nce_layers`, one head each
        self.mlps = nn.ModuleList(
            nn.Sequential(nn.Linear(c, out), nn.ReLU(), nn.Linear(out, out)) for c in channels
        )

    def forward(
        self, features: Sequence[torch.Tensor], positions: Sequence[torch.Tensor]
    ) -> list[torch.Tensor]:
        out = []
        for mlp, feature, where in zip(self.mlps, features, positions, strict=True):
            flat = feature.permute(0, 2, 3, 1).flatten(1, 2)  # (B, H*W, C)
            picked = flat[:, where, :].flatten(0, 1)  # (B*P, C)
            out.append(F.normalize(mlp(picked), dim=1))  # (B*P, HEAD_CHANNELS)
        return out


def build_heads(generator: nn.Module, channels: int, size: int) -> PatchHeads:
    """The heads for `generator`'s `nce_layers`, sized by running one blank image through it."""
    layers = nce_layers(generator)
    with torch.no_grad():
        blank = torch.zeros(1, channels, size, size, device=next(generator.parameters()).device)
        shapes = [f.shape[1] for f in encode(generator, blank, layers)]
    return PatchHeads(shapes, layers)


def sample_positions(features: Sequence[torch.Tensor], count: int, seed: int) -> list[torch.Tensor]:
    """`count` distinct positions of each feature map (all of a smaller one), drawn from a
    generator of `seed`: the same for every image of the batch, as in CUT."""
    rng = torch.Generator().manual_seed(seed)
    positions = []
    for feature in features:
        places = feature.shape[2] * feature.shape[3]
        picked = torch.randperm(places, generator=rng)[: min(count, places)]
        positions.append(picked.to(feature.device))
    return positions


def patch_nce(query: torch.Tensor, key: torch.Tensor, batch: int) -> torch.Tensor:
    """PatchNCE of `query` patches `(B*P, D)` against `key` patches at the same places: the
    positive is the key at a query's own place, the negatives the other places of the same
    image (CUT's default; never another image's); the mean cross-entropy."""
    query, key = query.view(batch, -1, query.shape[1]), key.detach().view(batch, -1, key.shape[1])
    places = query.shape[1]
    positive = (query * key).sum(2, keepdim=True)  # (B, P, 1)
    negative = query @ key.transpose(1, 2)  # (B, P, P)
    own = torch.eye(places, dtype=torch.bool, device=query.device)[None]
    negative = negative.masked_fill(own, -10.0)  # a patch is not its own negative
    logits = torch.cat([positive, negative], 2).flatten(0, 1) / TEMPERATURE  # (B*P, 1+P)
    return F.cross_entropy(logits, torch.zeros(len(logits), dtype=torch.long, device=query.device))


def nce_loss(
    generator: nn.Module, heads: PatchHeads, inputs: torch.Tensor, outputs: torch.Tensor,
    count: int, seed: int,
) -> torch.Tensor:  # fmt: skip
    """PatchNCE between `inputs` and the generator's `outputs` for them, averaged over the
    layers; only the outputs' side carries gradients (CUT detaches the keys, so neither the
    encoder nor the heads need a graph of them)."""
    queries = encode(generator, outputs, heads.layers)
    with torch.no_grad():
        keys = encode(generator, inputs, heads.layers)
        positions = sample_positions(keys, count, seed)
        pooled_k = heads(keys, positions)
    pooled_q = heads(queries, positions)
    batch = len(inputs)
    return torch.stack(
        [patch_nce(q, k, batch) for q, k in zip(pooled_q, pooled_k, strict=True)]
    ).mean()


def cut_step(
    state: TranslatorState, cfg: TranslateConfig, a: torch.Tensor, b: torch.Tensor
) -> dict[str, float]:
    """One CUT step on independent batches `a`, `b` `(B, C, H, W)` in [-1, 1]."""
    generator, judge = state.generators["ab"], state.discriminators["b"]
    heads = state.heads["nce"]
    both = generator(torch.cat([a, b]))  # A's translations and B's identities in one pass
    fake_b, same_b = both[: len(a)], both[len(a) :]
    # update D: B's real images against A's translations
    requires_grad(state.discriminators, True)
    loss_d = 0.5 * (lsgan(judge(b), True) + lsgan(judge(fake_b.detach()), False))
    update(state.optimizer_d, loss_d, state.world)
    # update G and the heads: fool D, keep each patch's content, leave B as it is
    requires_grad(state.discriminators, False)
    adversarial = lsgan(judge(fake_b), True)
    seeds = [derived_seed(cfg.seed, _PATCHES, state.step, which, bits=32) for which in (0, 1)]
    nce = nce_loss(generator, heads, a, fake_b, cfg.nce_patches, seeds[0])
    nce_identity = nce_loss(generator, heads, b, same_b, cfg.nce_patches, seeds[1])
    semantic = semantic_loss(state.classifier, a, fake_b, state.translation_classifier)
    # the generator commutes with a quarter turn (GcGAN)
    geometry = if_weighted(cfg.geometry, lambda: geometry_loss(generator, a, fake_b))
    loss_g = (
        adversarial + cfg.nce * 0.5 * (nce + nce_identity) + cfg.semantic * semantic
        + cfg.geometry * geometry
    )  # fmt: skip
    update(state.optimizer_g, loss_g, state.world)
    values = (loss_d, loss_g, adversarial, nce, nce_identity, semantic, geometry)
    return {name: float(v.detach()) for name, v in zip(CUT_METRICS, values, strict=True)}

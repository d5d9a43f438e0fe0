"""Adaptation beside translation: the downstream stage's alignment arms (`downstream.alignment`).

The fair comparison for a translator: what a classifier gains on B without one, from the same
unlabelled B train images, and what feature alignment adds after the pixel alignment of
translation (CyCADA's second half). Each arm trains a classifier of the evaluator's
architecture and recipe for `downstream.steps` steps, seeded as every other arm:

- `self_training`: the `source` arm's classifier labels B's train images; those it gives
  at least `downstream.pseudo_label_threshold` probability join the source images, and a
  classifier is trained afresh on both (pseudo-labels, confidence-thresholded);
- `translated_self_training`: the same from the `translated` arm's classifier and images;
- `source_dann`, `translated_dann`: DANN (Ganin et al. 2016): each step a batch of the
  source (raw or translated) and one of B's train images; the class loss on the source, and
  a domain classifier on the features (128 → 100 → 1, as the paper's digit experiments)
  whose gradient reaches the features reversed, scaled by the paper's schedule
  2 / (1 + exp(-10 p)) - 1 over the run's progress p;
- `fixmatch`, `translated_fixmatch`, `handmade_fixmatch`: self-training online, in the
  manner of FixMatch (Sohn et al. 2020; `ganops.few_labels.train_pseudo_label`): each step a
  batch of the source (raw, translated or through the hand-made transform where the task has
  one), weakly augmented, and one of B's train images, each labelled by the classifier's own
  prediction on a weak view when it is at least `downstream.pseudo_label_threshold` sure and
  trained on a strong view against that label.

B's labels are never read here: no checkpoint or hyper-parameter is chosen on B. The
threshold and the DANN schedule are fixed values (the paper's), the classifier is the one
after the last step, as in every other arm.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ganops.classifier_arms import Labelled, _Batches, train_arm
from ganops.config import DownstreamConfig, EvaluatorConfig
from ganops.data.dataset import to_training_tensor
from ganops.device import adam
from ganops.few_labels import train_pseudo_label
from ganops.metrics.evaluator import FEATURE_DIM, Evaluator, EvaluatorSpec, extract

# arm -> (the arm whose classifier and images it starts from, how it adapts)
ALIGNMENT_ARMS = {
    "self_training": ("source", "self_training"),
    "source_dann": ("source", "dann"),
    "translated_self_training": ("translated", "self_training"),
    "translated_dann": ("translated", "dann"),
    "fixmatch": ("source", "fixmatch"),
    "translated_fixmatch": ("translated", "fixmatch"),
    "handmade_fixmatch": ("handmade", "fixmatch"),
}
ALIGNMENT_GAINS = (
    ("gain_self_training_vs_source", "self_training", "source"),
    ("gain_source_dann_vs_source", "source_dann", "source"),
    ("gain_translated_self_training_vs_translated", "translated_self_training", "translated"),
    ("gain_translated_dann_vs_translated", "translated_dann", "translated"),
    ("gain_translated_dann_vs_source_dann", "translated_dann", "source_dann"),
    ("gain_translated_vs_self_training", "translated", "self_training"),
    ("gain_fixmatch_vs_source", "fixmatch", "source"),
    ("gain_translated_fixmatch_vs_translated", "translated_fixmatch", "translated"),
    ("gain_translated_fixmatch_vs_fixmatch", "translated_fixmatch", "fixmatch"),
    ("gain_handmade_fixmatch_vs_handmade", "handmade_fixmatch", "handmade"),
    ("gain_translated_fixmatch_vs_handmade_fixmatch", "translated_fixmatch", "handmade_fixmatch"),
    # FixMatch against the other two alignments, from the same start
    ("gain_fixmatch_vs_self_training", "fixmatch", "self_training"),
    ("gain_fixmatch_vs_source_dann", "fixmatch", "source_dann"),
    ("gain_translated_fixmatch_vs_translated_self_training", "translated_fixmatch",
     "translated_self_training"),
    ("gain_translated_fixmatch_vs_translated_dann", "translated_fixmatch", "translated_dann"),
)  # fmt: skip
DOMAIN_HIDDEN = 100  # the domain classifier's hidden units (Ganin et al. 2016, digits)


class _Reverse(torch.autograd.Function):
    """The identity forward; the gradient times `-weight` backward."""

    @staticmethod
    def forward(ctx: Any, features: torch.Tensor, weight: float) -> torch.Tensor:
        ctx.weight = weight
        return features.view_as(features)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return -ctx.weight * grad, None


def reverse_gradient(features: torch.Tensor, weight: float) -> torch.Tensor:
    """`features` unchanged; their gradient reversed and scaled by `weight` on the way back."""
    return _Reverse.apply(features, weight)  # type: ignore[no-any-return, no-untyped-call]


def dann_weight(progress: float) -> float:
    """The reversal's weight at `progress` in [0, 1] of the run: 2 / (1 + exp(-10 p)) - 1,
    0 at the start (the features are still noise) rising to 1 (Ganin et al. 2016)."""
    return 2.0 / (1.0 + math.exp(-10.0 * progress)) - 1.0


def train_dann(
    recipe: EvaluatorConfig,
    spec: EvaluatorSpec,
    source: Labelled,
    target: np.ndarray,
    cfg: DownstreamConfig,
    seed: int,
    device: torch.device,
) -> Evaluator:
    """A classifier trained `cfg.steps` steps on `recipe.batch_size` labelled `source` images
    and as many unlabelled uint8 `target` images `(M, C, H, W)`, its features aligned by a
    domain classifier through a reversed gradient."""
    torch.manual_seed(seed)  # the same initial weights as the other arms of this seed
    network = Evaluator(spec).to(device).to(memory_format=torch.channels_last)
    domain = nn.Sequential(
        nn.Linear(FEATURE_DIM, DOMAIN_HIDDEN), nn.ReLU(), nn.Linear(DOMAIN_HIDDEN, 1)
    ).to(device)
    optimizer = adam([*network.parameters(), *domain.parameters()], recipe.lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=recipe.lr, total_steps=cfg.steps
    )
    rng = torch.Generator().manual_seed(seed)
    images, labels = to_training_tensor(source.images, device), torch.from_numpy(source.labels)
    pool = to_training_tensor(target, device)
    source_batches, target_batches = _Batches(len(images), rng), _Batches(len(pool), rng)
    half = recipe.batch_size
    # the domain classifier's answers: 1 for the source half of each batch, 0 for the target's
    sides = torch.cat([torch.ones(half, 1), torch.zeros(half, 1)]).to(device)
    network.train()
    for step in range(cfg.steps):
        index = source_batches.take(half)
        batch = torch.cat([images[index], pool[target_batches.take(half)]])  # (2B, C, H, W)
        features, logits = network.features_and_logits(
            batch.contiguous(memory_format=torch.channels_last)
        )
        weight = dann_weight(step / max(1, cfg.steps - 1))
        class_loss = F.cross_entropy(logits[:half], labels[index].to(device))
        domain_loss = F.binary_cross_entropy_with_logits(
            domain(reverse_gradient(features, weight)), sides
        )
        optimizer.zero_grad(set_to_none=True)
        (class_loss + domain_loss).backward()  # type: ignore[no-untyped-call]
        optimizer.step()
        schedule.step()
    return network.eval()


def pseudo_labelled(
    network: Evaluator, target: np.ndarray, threshold: float, batch_size: int, device: torch.device
) -> Labelled:
    """The `target` images `network` gives at least `threshold` probability, labelled with its
    guess (none: an empty set)."""
    _, logits = extract(network, target, batch_size, device)
    confidence, guess = logits.softmax(1).max(1)  # (M,), (M,)
    keep = (confidence >= threshold).numpy()
    return Labelled(target[keep], guess.numpy()[keep].astype(np.int64))


def train_self_training(
    recipe: EvaluatorConfig,
    spec: EvaluatorSpec,
    source: Labelled,
    target: np.ndarray,
    teacher: Evaluator,
    cfg: DownstreamConfig,
    seed: int,
    device: torch.device,
) -> tuple[Evaluator, int]:
    """A classifier trained afresh on `source` plus the `target` images `teacher` labels
    confidently (`cfg.pseudo_label_threshold`), and how many of those there were."""
    chosen = pseudo_labelled(teacher, target, cfg.pseudo_label_threshold, recipe.batch_size, device)
    both = Labelled(
        np.concatenate([source.images, chosen.images]),
        np.concatenate([source.labels, chosen.labels]),
    )
    return train_arm("real", recipe, spec, both, both, cfg, seed, device), len(chosen.labels)


def train_alignment_arm(
    arm: str,
    recipe: EvaluatorConfig,
    spec: EvaluatorSpec,
    start: tuple[Labelled, Evaluator],
    target: np.ndarray,
    cfg: DownstreamConfig,
    seed: int,
    device: torch.device,
) -> tuple[Evaluator, int | None]:
    """The alignment `arm`'s classifier, from `start` (its base arm's images and this seed's
    classifier), and its pseudo-label count (None for DANN)."""
    images, teacher = start
    if ALIGNMENT_ARMS[arm][1] == "dann":
        return train_dann(recipe, spec, images, target, cfg, seed, device), None
    if ALIGNMENT_ARMS[arm][1] == "fixmatch":
        return train_pseudo_label(recipe, spec, images, target, cfg, seed, device), None
    return train_self_training(recipe, spec, images, target, teacher, cfg, seed, device)

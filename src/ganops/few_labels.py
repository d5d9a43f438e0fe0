"""The downstream experiment when most training images have no label (`data.labelled_per_class`):
what the unlabelled pool is worth to a classifier, with a GAN and without one.

Every arm trains the same number of optimiser steps (`downstream.steps`) on the same labelled
images and is tested on the full test split; the classifiers (all but the GAN's) have the
evaluator's architecture and recipe, one seed each, shared by the arms:

- `labelled`: the labelled images alone;
- `labelled_affine`: the same, under classical augmentation (random rotation, shift, zoom);
- `pseudo_label`: the non-GAN semi-supervised baseline on the same unlabelled pool, in the
  manner of FixMatch (Sohn et al. 2020): each step also takes `downstream.unlabelled_ratio`
  unlabelled images per labelled one, labels each by the classifier's own prediction on a
  weakly augmented view when it is at least `downstream.pseudo_label_threshold` sure (a
  forward pass without gradients), and trains on a strongly augmented view (larger affine,
  and a cutout) against that label;
- `semi_supervised_gan`: the discriminator of a semi-supervised GAN (`train.semi_supervised`),
  trained by the train stage on the same labelled images and pool: one classifier a GAN run,
  its spread is that of the GAN's seed (`train.seed`), measured across runs.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from ganops.classifier_arms import Labelled, _Batches, random_affine, train_arm
from ganops.config import DownstreamConfig, EvaluatorConfig
from ganops.data.dataset import Split, to_training_tensor
from ganops.device import adam
from ganops.metrics.evaluator import Evaluator, EvaluatorSpec, accuracy, extract
from ganops.models.semi import classifier_logits

SEMI_ARMS = ("labelled", "labelled_affine", "pseudo_label")
GAN_ARM = "semi_supervised_gan"
# the comparisons reported: (name, arm, baseline arm); those naming the GAN's need one
SEMI_GAINS = (
    ("gain_gan_vs_labelled_affine", GAN_ARM, "labelled_affine"),
    ("gain_gan_vs_pseudo_label", GAN_ARM, "pseudo_label"),
    ("gain_pseudo_label_vs_labelled_affine", "pseudo_label", "labelled_affine"),
)
STRONG = 2.0  # the strong view's affine ranges, as a multiple of the weak view's
CUTOUT = 3  # the strong view's cutout: a square a third of the side, set to the background


def cutout(images: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
    """Each image `(B, C, H, W)` in [-1, 1] with a square of a third of its side, at a random
    place (it may overhang the edge), set to the background value -1."""
    batch, _, height, width = images.shape
    side = max(1, height // CUTOUT)
    top = torch.randint(-side // 2, height - side // 2, (batch, 1, 1), generator=rng)
    left = torch.randint(-side // 2, width - side // 2, (batch, 1, 1), generator=rng)
    rows = torch.arange(height).view(1, height, 1)
    columns = torch.arange(width).view(1, 1, width)
    inside = (rows >= top) & (rows < top + side) & (columns >= left) & (columns < left + side)
    return images.masked_fill(inside.unsqueeze(1).to(images.device), -1.0)


def train_pseudo_label(
    recipe: EvaluatorConfig,
    spec: EvaluatorSpec,
    labelled: Labelled,
    unlabelled: np.ndarray,
    cfg: DownstreamConfig,
    seed: int,
    device: torch.device,
) -> Evaluator:
    """The `pseudo_label` arm: a classifier trained `cfg.steps` steps on `recipe.batch_size`
    labelled images (weakly augmented) and `cfg.unlabelled_ratio` times as many of the
    uint8 `unlabelled` images `(U, C, H, W)`, each against the classifier's own confident
    label of its weak view, seen through a strong view."""
    torch.manual_seed(seed)  # the same initial weights as the other arms of this seed
    network = Evaluator(spec).to(device).to(memory_format=torch.channels_last)
    optimizer = adam(network.parameters(), recipe.lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=recipe.lr, total_steps=cfg.steps
    )
    rng = torch.Generator().manual_seed(seed)
    strong = cfg.model_copy(
        update={
            "affine_degrees": min(180.0, STRONG * cfg.affine_degrees),
            "affine_translate": min(0.5, STRONG * cfg.affine_translate),
            "affine_scale": min(0.9, STRONG * cfg.affine_scale),
        }
    )
    images, labels = to_training_tensor(labelled.images, device), torch.from_numpy(labelled.labels)
    pool = to_training_tensor(unlabelled, device)
    labelled_batches, pool_batches = _Batches(len(images), rng), _Batches(len(pool), rng)
    network.train()
    for _ in range(cfg.steps):
        index = labelled_batches.take(recipe.batch_size)
        seen = random_affine(images[index], cfg, rng)
        pooled = pool[pool_batches.take(recipe.batch_size * cfg.unlabelled_ratio)]
        weak = random_affine(pooled, cfg, rng).contiguous(memory_format=torch.channels_last)
        hard = cutout(random_affine(pooled, strong, rng), rng)
        with torch.no_grad():  # the guess: no gradient flows through it, so no backward
            confidence, guess = network(weak).softmax(1).max(1)  # (U,)
        sure = (confidence >= cfg.pseudo_label_threshold).float()
        # two passes of a batch each, their gradients summed: faster on a CPU than one
        # double batch (its activations no longer fit the caches)
        optimizer.zero_grad(set_to_none=True)
        supervised = network(seen.contiguous(memory_format=torch.channels_last))
        F.cross_entropy(supervised, labels[index].to(device)).backward()  # type: ignore[no-untyped-call]
        strong_logits = network(hard.contiguous(memory_format=torch.channels_last))
        unsupervised = (F.cross_entropy(strong_logits, guess, reduction="none") * sure).mean()
        unsupervised.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
        schedule.step()
    return network.eval()


def run_semi_arms(
    recipe: EvaluatorConfig,
    spec: EvaluatorSpec,
    train: Split,
    test: Split,
    cfg: DownstreamConfig,
    device: torch.device,
) -> dict[str, list[float]]:
    """Test accuracy of every arm of `SEMI_ARMS` for seeds `cfg.seed`, `cfg.seed + 1`, ...,
    on `train`'s labelled images (and, for `pseudo_label`, its unlabelled ones)."""
    known = train.labelled()
    labelled = Labelled(known.images, known.labels)
    unlabelled = train.images[train.unlabelled]
    nothing = Labelled(known.images[:0], known.labels[:0])
    results: dict[str, list[float]] = {arm: [] for arm in SEMI_ARMS}
    runs = [(seed, arm) for seed in range(cfg.seed, cfg.seed + cfg.seeds) for arm in SEMI_ARMS]
    for seed, arm in tqdm(runs, desc="downstream", unit="classifier", disable=None):
        if arm == "pseudo_label":
            network = train_pseudo_label(recipe, spec, labelled, unlabelled, cfg, seed, device)
        else:  # the downstream experiment's real arms, on the labelled images
            same = "real" if arm == "labelled" else "real_affine"
            network = train_arm(same, recipe, spec, labelled, nothing, cfg, seed, device)
        _, logits = extract(network, test.images, recipe.batch_size, device)
        results[arm].append(accuracy(logits, test.labels))
    return results


def gan_accuracy(classifier: nn.Module, test: Split, device: torch.device) -> float:
    """The semi-supervised GAN's discriminator's test accuracy (eval mode: no noise)."""
    return accuracy(classifier_logits(classifier.to(device), test.images, device), test.labels)

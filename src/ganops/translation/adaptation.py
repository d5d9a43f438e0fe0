"""Does translation help a classifier on the target domain? The downstream stage of a
translator (domain adaptation).

The classifier of the evaluator's architecture and recipe is trained, over paired seeds and
for equal steps (`downstream.*`), on domain A's labelled train split

- `source`: as it is;
- `source_affine`: under classical augmentation (rotation, shift, zoom);
- `translated`: translated into B by the trained translator;
- `handmade`: through the hand-made transform, where the task has one;

and tested on domain B's test split. B's labels are used for that test only. With
`downstream.alignment`, the arms of `ganops.translation.alignment` too (self-training and
DANN, from the raw and from the translated source, and FixMatch's online self-training from
each source arm), on B's unlabelled train images.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from tqdm import tqdm

from ganops.classifier_arms import Labelled, train_arm
from ganops.config import DownstreamConfig, EvaluatorConfig
from ganops.data.dataset import Split
from ganops.metrics.evaluator import Evaluator, EvaluatorSpec, accuracy, extract
from ganops.translation.alignment import ALIGNMENT_ARMS, train_alignment_arm

# the comparisons reported (`ganops.classifier_arms.summarise`): (name, arm, baseline arm), those
# whose arms ran
GAINS = (
    ("gain_translated_vs_source", "translated", "source"),
    ("gain_translated_vs_affine", "translated", "source_affine"),
    ("gain_handmade_vs_source", "handmade", "source"),
    ("gain_translated_vs_handmade", "translated", "handmade"),
)


def arm_data(
    source: Labelled, translated: np.ndarray, handmade: Callable[[np.ndarray], np.ndarray] | None
) -> dict[str, tuple[str, Labelled]]:
    """Each arm's training images, and how `train_arm` treats them (`real`: as they are)."""
    arms = {
        "source": ("real", source),
        "source_affine": ("real_affine", source),
        "translated": ("real", Labelled(translated, source.labels)),
    }
    if handmade is not None:
        arms["handmade"] = ("real", Labelled(handmade(source.images), source.labels))
    return arms


def run_adaptation(
    recipe: EvaluatorConfig, spec: EvaluatorSpec, arms: dict[str, tuple[str, Labelled]],
    target: tuple[np.ndarray, Split], cfg: DownstreamConfig, device: torch.device,
) -> tuple[dict[str, list[float]], dict[str, list[int]]]:  # fmt: skip
    """Test accuracy on B of every arm for seeds `cfg.seed`, `cfg.seed + 1`, ...: `{arm: [acc]}`,
    and the pseudo-label counts of the self-training arms. `target`: B's unlabelled train
    images `(M, C, H, W)` (read by the alignment arms only) and B's test split."""
    unlabelled, target_test = target
    # the alignment arms whose base arm runs (`handmade` only where the task has a transform)
    extra = tuple(a for a, (base, _) in ALIGNMENT_ARMS.items() if cfg.alignment and base in arms)
    results: dict[str, list[float]] = {arm: [] for arm in (*arms, *extra)}
    pseudo_labels: dict[str, list[int]] = {}
    runs = [(seed, arm) for seed in range(cfg.seed, cfg.seed + cfg.seeds) for arm in results]
    trained: dict[str, Evaluator] = {}  # this seed's classifiers of the arms alignment starts from
    for seed, arm in tqdm(runs, desc="downstream", unit="classifier", disable=None):
        if arm in arms:
            kind, images = arms[arm]
            network = train_arm(kind, recipe, spec, images, images, cfg, seed, device)
            trained[arm] = network
        else:
            base = ALIGNMENT_ARMS[arm][0]
            start = (arms[base][1], trained[base])
            network, count = train_alignment_arm(
                arm, recipe, spec, start, unlabelled, cfg, seed, device
            )
            if count is not None:
                pseudo_labels.setdefault(arm, []).append(count)
        _, logits = extract(network, target_test.images, recipe.batch_size, device)
        results[arm].append(accuracy(logits, target_test.labels))
    return results, pseudo_labels

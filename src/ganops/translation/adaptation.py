"""Does translation help a classifier on the target domain? The downstream stage of a
translator (domain adaptation).

The classifier of the evaluator's architecture and recipe is trained, over paired seeds and
for equal steps (`downstream.*`), on domain A's labelled train split

- `source`: as it is;
- `source_affine`: under classical augmentation (rotation, shift, zoom);
- `translated`: translated into B by the trained translator;
- `handmade`: through the hand-made transform, where the task has one;

and tested on domain B's test split. B's labels are used for that test only.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from tqdm import tqdm

from ganops.classifier_arms import Labelled, train_arm
from ganops.config import DownstreamConfig, EvaluatorConfig
from ganops.data.dataset import Split
from ganops.metrics.evaluator import EvaluatorSpec, accuracy, extract

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
    target_test: Split, cfg: DownstreamConfig, device: torch.device,
) -> dict[str, list[float]]:  # fmt: skip
    """Test accuracy on B of every arm for seeds `cfg.seed`, `cfg.seed + 1`, ...: `{arm: [acc]}`."""
    results: dict[str, list[float]] = {arm: [] for arm in arms}
    runs = [(seed, arm) for seed in range(cfg.seed, cfg.seed + cfg.seeds) for arm in arms]
    for seed, arm in tqdm(runs, desc="downstream", unit="classifier", disable=None):
        kind, images = arms[arm]
        network = train_arm(kind, recipe, spec, images, images, cfg, seed, device)
        _, logits = extract(network, target_test.images, recipe.batch_size, device)
        results[arm].append(accuracy(logits, target_test.labels))
    return results

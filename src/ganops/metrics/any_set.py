"""Scoring any set of images (`ganops score`): every score that is defined for the set's size,
and, when the images carry classes (a folder of class sub-folders), the conditional ones.

The evaluate stage refuses a set too small for a score (`scores.check_sizes`): its sizes come
from params.yaml. A set made by hand or by `ganops sample -n 64` is what it is, so here a
score that needs more images than given is reported as not defined, with the reason, and KID
draws subsets of the smaller set's size when `eval.kid_subset_size` is larger (a note says so).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ganops.config import EvalConfig, EvaluatorConfig
from ganops.data.dataset import Split
from ganops.errors import DataError
from ganops.metrics.evaluator import LoadedEvaluator, accuracy
from ganops.metrics.scores import SCORES, FeatureSet

# the keys each registered score returns
SCORE_KEYS: dict[str, tuple[str, ...]] = {
    "fid": ("fid",),
    "kid": ("kid_mean", "kid_std"),
    "precision_recall": ("precision", "recall"),
    "inception_score": ("isc_mean", "isc_std"),
    "mode_coverage": ("classes_covered", "class_kl"),
}
CONDITIONAL_KEYS = ("conditional_accuracy", "cas", "cas_real")


@dataclass
class SetScores:
    """What `ganops score` reports: values, the scores not defined for this set (key ->
    why), notes on how a score was computed, and per class (name -> key -> value)."""

    scores: dict[str, float] = field(default_factory=dict)
    not_defined: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    per_class: dict[str, dict[str, float]] = field(default_factory=dict)

    def as_json(self) -> dict[str, object]:
        """Scores (None where not defined), then `not_defined`, `notes` and `per_class`
        when they hold anything."""
        out: dict[str, object] = {key: round(value, 6) for key, value in self.scores.items()}
        out |= {key: None for key in self.not_defined}
        extra = {"not_defined": self.not_defined, "notes": self.notes, "per_class": self.per_class}
        return out | {name: value for name, value in extra.items() if value}


def undefined_scores(generated: int, reference: int, cfg: EvalConfig) -> dict[str, str]:
    """Why each registered score (by name) is not defined for sets of these sizes."""
    sizes = f"{generated} generated, {reference} reference images"
    smallest = min(generated, reference)
    reasons = {}
    if smallest < 2:
        reasons["fid"] = f"needs at least 2 images per set ({sizes})"
        reasons["kid"] = f"needs at least 2 images per set ({sizes})"
    if smallest <= cfg.prc_neighborhood:
        reasons["precision_recall"] = (
            f"needs more than eval.prc_neighborhood = {cfg.prc_neighborhood} images per set "
            f"({sizes})"
        )
    if generated < cfg.isc_splits:
        reasons["inception_score"] = (
            f"needs at least eval.isc_splits = {cfg.isc_splits} images ({generated} generated)"
        )
    return reasons


def score_defined(generated: FeatureSet, reference: FeatureSet, cfg: EvalConfig) -> SetScores:
    """Every registered score that is defined for these sets' sizes; KID's subsets are
    clipped to the smaller set (with a note)."""
    out = SetScores()
    smallest = min(len(generated), len(reference))
    if 2 <= smallest < cfg.kid_subset_size:
        out.notes.append(
            f"KID drew subsets of {smallest} images: the kid subset size {cfg.kid_subset_size} "
            f"is more than the {smallest} images of the smaller set"
        )
        cfg = cfg.model_copy(update={"kid_subset_size": smallest})
    reasons = undefined_scores(len(generated), len(reference), cfg)
    for name, compute in SCORES.items():
        if name in reasons:
            out.not_defined |= {key: reasons[name] for key in SCORE_KEYS[name]}
        else:
            out.scores |= compute(generated, reference, cfg)
    return out


def class_indices(
    folders: tuple[str, ...], labels: np.ndarray, evaluator: LoadedEvaluator, what: str
) -> np.ndarray:
    """The evaluator's class index `(N,)` of each image whose class is the sub-folder
    `folders[labels[i]]`: a folder is named by the class name (as `ganops sample` names
    them), or by the class index where no class bears that name."""
    names = evaluator.network.spec.class_names
    mapping = []
    for folder in folders:
        if folder in names:
            mapping.append(names.index(folder))
        elif folder.isdecimal() and int(folder) < len(names):
            mapping.append(int(folder))
        else:
            shown = ", ".join(names)
            raise DataError(
                f"{what}/{folder}/: not a class of the evaluator (its classes: {shown}; "
                f"or their indices 0 to {len(names) - 1})"
            )
    indices: np.ndarray = np.asarray(mapping, dtype=np.int64)[labels]
    return indices


def conditional_figures(
    out: SetScores,
    evaluator: LoadedEvaluator,
    images: np.ndarray,
    labels: np.ndarray,
    logits: torch.Tensor,
    splits: tuple[Split, Split] | str,
    recipe: EvaluatorConfig,
    device: torch.device,
) -> None:
    """Add to `out` the conditional accuracy of uint8 `images` `(N, C, H, W)` of evaluator
    classes `labels` `(N,)` (evaluator `logits` `(N, K)`), overall and per class, and CAS
    and `cas_real` trained with `recipe` when the real (train, test) `splits` are given
    (else `splits` says why they are not)."""
    from ganops.metrics.conditional import Conditioning, conditional_scores

    names = evaluator.network.spec.class_names
    out.scores["conditional_accuracy"] = accuracy(logits, labels)
    for label in np.unique(labels):
        chosen = labels == label
        out.per_class[names[label]] = {
            "images": float(chosen.sum()),
            "conditional_accuracy": accuracy(logits[torch.from_numpy(chosen)], labels[chosen]),
        }
    if isinstance(splits, str):
        out.not_defined |= {key: splits for key in ("cas", "cas_real")}
        return
    train, test = splits
    conditioning = Conditioning(labels, test, recipe)
    spec = evaluator.network.spec
    out.scores |= conditional_scores(spec, logits, images, train, conditioning, device)

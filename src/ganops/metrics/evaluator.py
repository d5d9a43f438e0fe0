"""The evaluator: a small CNN classifier trained on the real train split.

Its penultimate layer (128 values after a ReLU) is the feature space in which FID, KID and
precision/recall are measured, and its logits give class probabilities (the Inception
Score analogue and mode coverage). Trained once per dataset, it makes scores comparable
across every run on that dataset, offline, where Inception features would mean little for
28 x 28 grey digits and need weights from the internet.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from ganops.config import EvaluatorConfig
from ganops.data.dataset import Split, to_training_tensor
from ganops.device import adam
from ganops.errors import DataError, first_line
from ganops.io import load_torch, save_torch
from ganops.run_length import EVALUATOR, in_whole_epochs, say_length

log = logging.getLogger(__name__)

EVALUATOR_FORMAT = "ganops-evaluator/1"
FEATURE_DIM = 128


@dataclass(frozen=True)
class EvaluatorSpec:
    """What the evaluator was built for."""

    image_shape: tuple[int, int, int]  # (C, H, W)
    class_names: tuple[str, ...]
    width: int

    def to_dict(self) -> dict[str, Any]:
        spec = asdict(self)
        spec["image_shape"], spec["class_names"] = list(self.image_shape), list(self.class_names)
        return spec

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> EvaluatorSpec:
        shape = tuple(int(side) for side in raw["image_shape"])
        return cls(shape, tuple(str(n) for n in raw["class_names"]), int(raw["width"]))  # type: ignore[arg-type]


class Evaluator(nn.Module):
    """images `(B, C, H, W)` in [-1, 1] -> features `(B, 128)` and logits `(B, classes)`."""

    def __init__(self, spec: EvaluatorSpec) -> None:
        super().__init__()
        channels, width = spec.image_shape[0], spec.width

        def block(inner: int, outer: int) -> list[nn.Module]:
            return [
                nn.Conv2d(inner, outer, 3, padding=1, bias=False),
                nn.BatchNorm2d(outer),
                nn.ReLU(),
            ]

        self.body = nn.Sequential(
            *block(channels, width),
            *block(width, width),
            nn.MaxPool2d(2),
            *block(width, 2 * width),
            *block(2 * width, 2 * width),
            nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(3),  # any input size -> (B, 2w, 3, 3)
            nn.Flatten(),
            nn.Linear(2 * width * 9, FEATURE_DIM),
            nn.ReLU(),
        )
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(FEATURE_DIM, len(spec.class_names))
        self.spec = spec

    def features_and_logits(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.body(images)  # (B, 128)
        return features, self.head(self.dropout(features))  # (B, 128), (B, K)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.features_and_logits(images)[1]


def shift_augment(images: torch.Tensor, max_shift_px: int, rng: torch.Generator) -> torch.Tensor:
    """Translate each image by up to `max_shift_px` pixels, vectorised (zero-padded)."""
    if max_shift_px == 0:
        return images
    batch, _, height, width = images.shape
    shifts = torch.randint(-max_shift_px, max_shift_px + 1, (batch, 2), generator=rng).float()
    theta = torch.zeros(batch, 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = 1.0
    theta[:, 0, 2] = -2 * shifts[:, 0] / width
    theta[:, 1, 2] = -2 * shifts[:, 1] / height
    grid = F.affine_grid(theta.to(images.device), list(images.shape), align_corners=False)
    # pad with -1, the background value, by shifting to [0, 2] around zero padding
    return F.grid_sample(images + 1, grid, mode="nearest", align_corners=False) - 1


@torch.no_grad()
def extract(
    evaluator: Evaluator, images: np.ndarray, batch_size: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Features `(N, 128)` and logits `(N, K)` (float32, CPU) of uint8 `(N, C, H, W)` images."""
    evaluator.eval().to(device)
    features, logits = [], []
    for start in range(0, len(images), batch_size):
        chunk = torch.from_numpy(images[start : start + batch_size]).to(device)
        feats, logs = evaluator.features_and_logits(chunk.float().div(127.5).sub(1.0))
        features.append(feats.float().cpu())
        logits.append(logs.float().cpu())
    return torch.cat(features), torch.cat(logits)


def accuracy(logits: torch.Tensor, labels: np.ndarray) -> float:
    """Share of argmax predictions equal to `labels`."""
    return float((logits.argmax(1).numpy() == labels).mean())


def train_evaluator(
    cfg: EvaluatorConfig,
    spec: EvaluatorSpec,
    train: tuple[np.ndarray, np.ndarray],
    device: torch.device,
) -> Evaluator:
    """Train the classifier on `(images uint8 (N, C, H, W), labels (N,))`, seeded."""
    torch.manual_seed(cfg.seed)
    evaluator = Evaluator(spec).to(device)
    optimizer = adam(evaluator.parameters(), cfg.lr)
    steps_per_epoch = math.ceil(len(train[0]) / cfg.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=cfg.lr, total_steps=cfg.passes * steps_per_epoch
    )
    images = to_training_tensor(train[0], device)  # (N, C, H, W)
    labels = torch.from_numpy(train[1]).to(device)
    rng = torch.Generator().manual_seed(cfg.seed)
    evaluator.train()
    for _ in tqdm(range(cfg.passes), desc="evaluator", unit="epoch", disable=None):
        order = torch.randperm(len(images), generator=rng).to(device)
        for start in range(0, len(images), cfg.batch_size):
            index = order[start : start + cfg.batch_size]
            batch = shift_augment(images[index], cfg.shift_px, rng)
            classifier_step(evaluator, optimizer, schedule, batch, labels[index])
    return evaluator.eval()


def classifier_step(
    network: nn.Module,
    optimizer: torch.optim.Optimizer,
    schedule: torch.optim.lr_scheduler.LRScheduler,
    images: torch.Tensor,
    labels: torch.Tensor,
) -> None:
    """One step of a classifier on `images` `(B, C, H, W)` and their `labels` `(B,)`: cross
    entropy, the optimiser's step, then the schedule's (the evaluator's and every arm's)."""
    loss = F.cross_entropy(network(images), labels)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()  # type: ignore[no-untyped-call]
    optimizer.step()
    schedule.step()


def fit_evaluator(
    cfg: EvaluatorConfig, train: Split, test: Split, device: torch.device
) -> tuple[Evaluator, float, dict[str, torch.Tensor]]:
    """What the train_evaluator stage does: train on `train`'s labelled images (all of them
    unless data.labelled_per_class kept only some labels), then measure on `test`.

    Returns the network, its test accuracy and the test split's reference (features,
    logits, labels) that every score compares with; a `DataError` when the accuracy is below
    `cfg.min_accuracy`, since scores from such an evaluator would mean little.
    """
    spec = EvaluatorSpec(tuple(train.images.shape[1:]), train.class_names, cfg.width)  # type: ignore[arg-type]
    if not train.fully_labelled:  # no stage learns from a label the data does not have
        log.info("evaluator trained on the %d labelled of %d training images",
                 int((~train.unlabelled).sum()), len(train.labels))  # fmt: skip
        train = train.labelled()
    count = len(train.images)
    longer = "evaluator.steps" if cfg.epochs is None else "evaluator.epochs"  # the one read
    cfg = in_whole_epochs(cfg, EVALUATOR, math.ceil(count / cfg.batch_size))
    passes = cfg.passes * math.ceil(count / cfg.batch_size)  # the last batch of each is short
    say_length(EVALUATOR, cfg.passes, count, cfg.batch_size, passes)
    network = train_evaluator(cfg, spec, (train.images, train.labels), device)
    features, logits = extract(network, test.images, 500, device)
    test_accuracy = accuracy(logits, test.labels)
    log.info("evaluator test accuracy %.4f on %d images", test_accuracy, len(test.labels))
    if test_accuracy < cfg.min_accuracy:
        raise DataError(
            f"the evaluator reached test accuracy {test_accuracy:.4f}, below "
            f"evaluator.min_accuracy {cfg.min_accuracy}; scores from it would mean little "
            f"(raise {longer} or lower evaluator.min_accuracy)"
        )
    reference = {"features": features, "logits": logits, "labels": torch.from_numpy(test.labels)}
    return network, test_accuracy, reference


def frozen_classifier(
    cfg: EvaluatorConfig, train: Split, test: Split, device: torch.device, seed: int | None = None
) -> tuple[Evaluator, float]:
    """The evaluator's network and recipe (`cfg`, its seed or `seed`) trained on `train`'s
    images and labels, frozen, and its accuracy on `test`: the classifier a training term asks
    (never the evaluator itself, which scores the run)."""
    channels, height, width = train.images.shape[1:]
    spec = EvaluatorSpec((channels, height, width), train.class_names, cfg.width)
    cfg = in_whole_epochs(cfg, EVALUATOR, math.ceil(len(train.images) / cfg.batch_size))
    if seed is not None:
        cfg = cfg.model_copy(update={"seed": seed})
    classifier = train_evaluator(cfg, spec, (train.images, train.labels), device)
    _, logits = extract(classifier.requires_grad_(False), test.images, 500, device)
    return classifier.to(device).eval(), round(accuracy(logits, test.labels), 6)


def save_evaluator(
    path: Path,
    evaluator: Evaluator,
    test_accuracy: float,
    reference: dict[str, torch.Tensor],
) -> None:
    """The evaluator artifact: weights, spec, test accuracy and the test split's features and
    logits, so every later score reuses them instead of recomputing."""
    state = {name: tensor.detach().cpu() for name, tensor in evaluator.state_dict().items()}
    save_torch(
        path,
        {
            "format": EVALUATOR_FORMAT,
            "spec": evaluator.spec.to_dict(),
            "state_dict": state,
            "test_accuracy": test_accuracy,
            "reference": reference,
        },
    )


@dataclass(frozen=True)
class LoadedEvaluator:
    """An evaluator with the cached features of the split it was tested on."""

    network: Evaluator
    test_accuracy: float
    reference_features: torch.Tensor  # (N, 128)
    reference_logits: torch.Tensor  # (N, K)
    reference_labels: np.ndarray  # (N,)


def load_evaluator(path: Path) -> LoadedEvaluator:
    """Load `evaluator.pt` (weights_only); a one-line `DataError` when it is not one."""
    payload = load_torch(path, "evaluator")
    if payload.get("format") != EVALUATOR_FORMAT:
        raise DataError(f"{path}: not a ganops evaluator (format {payload.get('format')!r})")
    try:
        network = Evaluator(EvaluatorSpec.from_dict(payload["spec"]))
        network.load_state_dict(payload["state_dict"])
        reference = payload["reference"]
        return LoadedEvaluator(
            network=network.eval(),
            test_accuracy=float(payload["test_accuracy"]),
            reference_features=reference["features"].float(),
            reference_logits=reference["logits"].float(),
            reference_labels=reference["labels"].numpy(),
        )
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        reason = first_line(error, 160)
        raise DataError(f"{path}: evaluator does not match its spec ({reason})") from None

"""The quick scores a training run measures every few epochs (quick FID and intra-class
diversity), from one pass of the evaluator over a fixed latent batch."""

from __future__ import annotations

import torch
from torch import nn

from ganops.metrics.diversity import intra_class_diversity
from ganops.metrics.evaluator import LoadedEvaluator, extract
from ganops.metrics.scores import fid_from_statistics, fid_statistics
from ganops.sampling import generate


class QuickProbe:
    """The quick scores during training: a fixed latent batch (and, for a conditional
    generator, fixed class `labels` `(N,)`) against the cached test split. Returns
    `quick_fid` and the intra-class diversity (`quick_intra_class_diversity`, `_min`), both
    from one pass of the evaluator."""

    def __init__(
        self,
        evaluator: LoadedEvaluator,
        latents: torch.Tensor,
        batch_size: int,
        device: torch.device,
        labels: torch.Tensor | None = None,
    ) -> None:
        self.evaluator = evaluator
        self.latents = latents
        self.labels = labels
        self.batch_size = batch_size
        self.device = device
        self.reference = fid_statistics(evaluator.reference_features)

    def __call__(self, generator: nn.Module) -> dict[str, float]:
        # (N, C, H, W) uint8
        images = generate(generator, self.latents, self.batch_size, labels=self.labels)
        features, logits = extract(self.evaluator.network, images, self.batch_size, self.device)
        labels = None if self.labels is None else self.labels.cpu().numpy()
        diversity = intra_class_diversity(
            features,
            logits,
            self.evaluator.reference_features,
            self.evaluator.reference_labels,
            labels,
        )
        fid = fid_from_statistics(fid_statistics(features), self.reference)
        return {"quick_fid": fid} | {f"quick_{key}": value for key, value in diversity.items()}

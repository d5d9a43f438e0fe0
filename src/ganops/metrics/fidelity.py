"""The evaluator as a torch-fidelity feature extractor, `ganops-evaluator`.

`ganops.metrics.scores` calls torch-fidelity's metric functions on features it extracted
itself (so the test split's features are computed once and cached in evaluator.pt). This
extractor lets `torch_fidelity.calculate_metrics` do the whole pass on its own, which the
tests use to check that both paths agree:

    register()
    torch_fidelity.calculate_metrics(input1=..., input2=..., feature_extractor="ganops-evaluator",
        feature_extractor_weights_path="data/models/evaluator.pt", feature_layer_isc="logits", ...)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch_fidelity import register_feature_extractor
from torch_fidelity.feature_extractor_base import FeatureExtractorBase
from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY

from ganops.metrics.evaluator import load_evaluator

NAME = "ganops-evaluator"


class EvaluatorExtractor(FeatureExtractorBase):  # type: ignore[misc]
    """uint8 `(B, C, H, W)` -> ("features" `(B, 128)`, "logits" `(B, K)`)."""

    def __init__(self, name: str, features_list: list[str], **kwargs: Any) -> None:
        super().__init__(name, features_list)
        path = kwargs.get("feature_extractor_weights_path")
        if not path:
            raise ValueError(f"{NAME} needs feature_extractor_weights_path=<evaluator.pt>")
        self.evaluator = load_evaluator(Path(path)).network

    @staticmethod
    def get_provided_features_list() -> tuple[str, ...]:
        return ("features", "logits")

    @staticmethod
    def get_default_feature_layer_for_metric(metric: str) -> str:
        return "logits" if metric == "isc" else "features"

    @staticmethod
    def can_be_compiled() -> bool:
        return False

    @staticmethod
    def get_dummy_input_for_compile() -> None:
        return None

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        features, logits = self.evaluator.features_and_logits(images.float().div(127.5).sub(1.0))
        provided = {"features": features, "logits": logits}
        return tuple(provided[name] for name in self.features_list)


def register() -> None:
    """Make `ganops-evaluator` known to torch-fidelity (idempotent)."""
    if NAME not in FEATURE_EXTRACTORS_REGISTRY:
        register_feature_extractor(NAME, EvaluatorExtractor)

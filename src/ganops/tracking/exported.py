"""Exported graphs (`torch.export`, as MLflow logs them) behind the usual module interface."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ganops.models.layers import check_labels


class _Exported(nn.Module):
    """A torch.export graph logged by MLflow behind the module interface. Exported graphs are
    frozen in eval mode and refuse `.eval()`/`.train()`, so the graph is held outside the
    module tree and those calls only flip this wrapper's flag. It runs on the CPU, where it
    was exported."""

    def __init__(self, exported: Any) -> None:
        super().__init__()
        object.__setattr__(self, "_exported", exported)

    def train(self, mode: bool = True) -> _Exported:
        self.training = mode
        return self


class ExportedGenerator(_Exported):
    """An MLflow-logged generator: called with z, or with z and labels when it was logged
    conditional; outputs return to the latents' device."""

    def __init__(self, exported: Any, num_classes: int) -> None:
        super().__init__(exported)
        self.num_classes = num_classes

    def forward(self, latents: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        check_labels(labels, self.num_classes, latents.shape[0])
        exported: Any = self._exported
        conditioning = () if labels is None else (labels.cpu(),)
        images: torch.Tensor = exported(latents.cpu(), *conditioning)
        return images.to(latents.device)


class ExportedTranslator(_Exported):
    """An MLflow-logged translator: images in, images out (on the inputs' device)."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        exported: Any = self._exported
        translated: torch.Tensor = exported(images.cpu())
        return translated.to(images.device)

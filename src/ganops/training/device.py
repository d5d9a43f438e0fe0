"""Device placement: `auto` picks the GPU when there is one."""

from __future__ import annotations

import torch

from ganops.errors import ConfigError


def resolve_device(name: str, key: str = "train.device") -> torch.device:
    """`auto` -> cuda if available else cpu; `cuda` without a GPU is a `ConfigError` on `key`."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            f"{key}: cuda was asked for but PyTorch sees no CUDA GPU "
            f"(torch {torch.__version__}); use auto or cpu"
        )
    return torch.device(name)

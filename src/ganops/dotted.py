"""The dotted form of nested params (`train.lr`) that DVC, MLflow and the reports show.

A base module: it imports nothing of the package.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


def flatten_mapping(nested: dict[str, Any]) -> dict[str, Any]:
    """`{"a": {"b": 1}}` -> `{"a.b": 1}`: the dotted keys DVC and MLflow show."""
    flat: dict[str, Any] = {}

    def walk(value: Any, prefix: str) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(item, f"{prefix}.{key}" if prefix else str(key))
        else:
            flat[prefix] = value

    walk(nested, "")
    return flat


def flatten(params: BaseModel) -> dict[str, Any]:
    """`{"train.lr": 0.0002, ...}`: the dotted form MLflow and `dvc params diff` show."""
    return flatten_mapping(params.model_dump(mode="json"))

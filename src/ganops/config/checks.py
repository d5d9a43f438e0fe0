"""The checks several params sections share: a data source's name against the registry
(which the caller passes as pydantic's validation context), and a folder that holds both
domains."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypedDict

from pydantic import ValidationInfo


class Registries(TypedDict):
    """What the registry checks need, passed as pydantic's validation context."""

    source_problem: Callable[[str], str | None]  # why a name is not a data source, or None
    parse_policy: Callable[[str], tuple[str, ...]]  # augmentation names; ValueError if unknown


def registries_of(info: ValidationInfo) -> Registries | None:
    """The registries of this validation; None when a section is built directly in code."""
    return info.context if isinstance(info.context, dict) else None  # type: ignore[return-value]


def known_source(value: str | None, info: ValidationInfo) -> str | None:
    """A source key (`data.source`, `translate.source`, `restyle.content_source`): a
    registered source, or null where the key takes null."""
    registries = registries_of(info)
    problem = registries["source_problem"](value) if registries and value is not None else None
    if problem:
        raise ValueError(problem)
    return value


def folder_alone(field: str, key: str) -> Callable[[str | None, ValidationInfo], str | None]:
    """A section's `folder` validator: a folder holds both domains, so `field` (declared
    before it, naming domain A's source; `key` in params.yaml) must then be null."""

    def check(value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and info.data.get(field) is not None:
            raise ValueError(f"holds both domains, so {key} must be null")
        return value

    return check

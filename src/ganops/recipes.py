"""Named recipes: a configuration the guide measured, kept as one file instead of a wall of
`-S` flags that drifts from the tables it sits under.

A recipe is `recipes/<name>.yaml` at the project root: the params that differ from
`params.yaml`, nested by section as in that file, and a first comment line saying what it
is. `ganops recipe run NAME` runs `dvc exp run` with one `-S` per value (further `-S` and
`dvc exp run` options after it win over the recipe's), so an experiment is a recipe plus a
visible change to it; `ganops recipe show NAME` prints that command.
"""

from __future__ import annotations

import itertools
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from ganops.config import Params
from ganops.dotted import flatten_mapping
from ganops.errors import ConfigError
from ganops.params import parse_params, read_yaml

RECIPES = Path("recipes")


@dataclass(frozen=True)
class Recipe:
    """A named set of params overrides, and what it is."""

    name: str
    summary: str  # the file's first comment line
    overrides: dict[str, Any]  # dotted key -> value

    def flags(self, except_keys: frozenset[str] = frozenset()) -> list[str]:
        """`-S key=value` for each override but `except_keys`, as `dvc exp run` takes them."""
        flags = []
        for key, value in self.overrides.items():
            if key not in except_keys:
                flags += ["-S", f"{key}={_override_value(value)}"]
        return flags

    def command(self, extra: list[str] | None = None) -> list[str]:
        """The `dvc exp run` command of this recipe, with `extra` arguments after its own; a
        key `extra` sets with `-S` is left out of the recipe's flags (the later value wins
        in `dvc exp run` too, but the line shows each key once)."""
        extra = extra or []
        overridden = frozenset(
            value.split("=", 1)[0]
            for flag, value in itertools.pairwise(extra)
            if flag in ("-S", "--set-param")
        )
        return ["dvc", "exp", "run", *self.flags(overridden), *extra]

    def params(self, base: dict[str, Any]) -> Params:
        """`base` (params.yaml as parsed) with the recipe applied, validated."""
        merged = _deep_merge(base, _nest(self.overrides))
        return parse_params(merged, origin=f"recipe {self.name}")


def _override_value(value: Any) -> str:
    """A value as Hydra's override grammar (which `dvc exp run -S` uses) reads it back."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return "''" if value == "" else value
    return repr(value)


def _nest(flat: dict[str, Any]) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for key, value in flat.items():
        *sections, leaf = key.split(".")
        node = nested
        for section in sections:
            node = node.setdefault(section, {})
        node[leaf] = value
    return nested


def _deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def recipe_names(root: Path) -> list[str]:
    """The recipes the project holds, by name."""
    return sorted(path.stem for path in (root / RECIPES).glob("*.yaml"))


def load_recipe(root: Path, name: str) -> Recipe:
    """The recipe `name`, validated against `root`'s params.yaml; a one-line `ConfigError`
    naming the recipe otherwise."""
    path = root / RECIPES / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(recipe_names(root)) or "none"
        raise ConfigError(f"recipe {name!r}: no {path} (recipes: {known})")
    text = path.read_text(encoding="utf-8")
    try:
        raw = YAML(typ="safe", pure=True).load(text)
    except YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML ({type(error).__name__})") from None
    if not isinstance(raw, dict) or not raw:
        raise ConfigError(f"{path}: a recipe is a mapping of params sections")
    first = text.lstrip().splitlines()[0] if text.strip() else ""
    summary = first.lstrip("#").strip() if first.startswith("#") else ""
    recipe = Recipe(name, summary, flatten_mapping(raw))
    recipe.params(read_yaml(root / "params.yaml"))  # validates, naming the recipe
    return recipe


def show(recipe: Recipe, extra: list[str] | None = None) -> str:
    """The recipe's command as a shell line."""
    return shlex.join(recipe.command(extra))

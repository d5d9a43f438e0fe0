"""The model registry: what each registered version says about itself, and the alias that
names the version to serve.

Every train stage registers a version; without more, the registry is a list of numbers. Each
version gets tags (the params hash, the git commit, the quick FID of its published step) and a
description that is its model card: what it was trained on, how long, how it scored and what
the scores do not say. The alias `champion` names the version to serve
(`models:/ganops-generator@champion`); `ganops promote` moves it only to a version the report
judges better than its baseline, beyond the seed-to-seed noise.
"""

from __future__ import annotations

from typing import Any

from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from ganops.errors import DataError

CHAMPION = "champion"


def version_of_run(client: MlflowClient, name: str, run_id: str) -> ModelVersion | None:
    """The version of registered model `name` that run `run_id` logged, or None."""
    found = client.search_model_versions(f"name = '{name}' and run_id = '{run_id}'")
    return max(found, key=lambda version: int(version.version)) if found else None


def describe_version(
    client: MlflowClient, name: str, run_id: str, card: str, tags: dict[str, Any]
) -> str | None:
    """Give the version `run_id` registered its model card and tags; its number, or None when
    the run registered none."""
    version = version_of_run(client, name, run_id)
    if version is None:
        return None
    client.update_model_version(name, version.version, description=card)
    for key, value in tags.items():
        client.set_model_version_tag(name, version.version, key, str(value))
    return str(version.version)


def champion(client: MlflowClient, name: str) -> str | None:
    """The version the `champion` alias names, or None."""
    try:
        return str(client.get_model_version_by_alias(name, CHAMPION).version)
    except MlflowException:
        return None


def crown(client: MlflowClient, name: str, version: str) -> None:
    """Point the `champion` alias at `version`."""
    client.set_registered_model_alias(name, CHAMPION, version)


def model_card(facts: dict[str, Any]) -> str:
    """A registered version's description: what, on what, how long, how it scored, limits."""
    lines = [
        f"{facts['what']} trained on {facts['data']} ({facts['images']:,} training images, "
        f"{facts['size']} px), {facts['steps']:,} steps on {facts['hardware']}.",
        f"Params hash {facts['params_hash']} (commit {facts['commit']}).",
    ]
    if facts.get("quick_fid") is not None:
        lines.append(
            f"Quick FID {facts['quick_fid']:.3f} at its published step; the full scores "
            "are its run's eval/ metrics, once the evaluate stage has run."
        )
    lines.append(
        "Limits: every score is measured with an evaluator trained here on the same data "
        "source, so it says how close the model comes to that data, nothing more."
    )
    return "\n".join(lines)


def promote(uri: str, name: str, run_id: str, better: bool, why: str) -> str:
    """Point `champion` at the version run `run_id` registered as `name` in the store at
    `uri` when `better` (the report's verdict, said in `why`) or when there is no champion
    yet; one line saying what happened."""
    client = MlflowClient(uri)
    version = version_of_run(client, name, run_id)
    if version is None:
        raise DataError(f"run {run_id} registered no version of {name}; run dvc repro first")
    number, current = str(version.version), champion(client, name)
    if current == number:
        return f"{name} version {number} is the champion already"
    if current is not None and not better:
        return f"{name}@{CHAMPION} stays version {current}: {why}"
    crown(client, name, number)
    before = f"was version {current}" if current else "had none"
    return f"{name}@{CHAMPION} is now version {number} ({before}): {why}"

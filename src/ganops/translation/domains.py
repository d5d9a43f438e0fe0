"""The two domains of a translation task: A (the inputs) and B (the targets, `data.source`).

B is fetched and preprocessed exactly as for generation, so the evaluator of B is the one the
generation task would train. A lives beside it, in `A/` of the raw and processed directories:
an unpaired task's A is its own source (`translate.source`) with its own seeded split; a paired
task's A is made from B image by image (`translate.degradation`), so A's image i is B's image
i degraded, in both splits. A user's own data set (`translate.folder`) holds both domains and
is read by `ganops.translation.folders`, which writes them through `write_domains` as here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ganops.config import DataConfig, Params
from ganops.data.dataset import MANIFEST, Split, load_split, read_manifest
from ganops.data.processing import Prepared, prepare, write_processed
from ganops.data.sources import fetch_source
from ganops.errors import DataError
from ganops.io import atomic_dir
from ganops.translation.baselines import uci_acquisition

DOMAIN_A = "A"  # the sub-directory of domain A inside the raw and processed directories
DEGRADATIONS = {"uci": uci_acquisition}


def config_of(data: DataConfig, source: str) -> DataConfig:
    """Another domain's data settings: `data.*` with `source` as the source."""
    return data.model_copy(update={"source": source, "folder": None})


def source_config(params: Params) -> DataConfig:
    """Domain A's data settings: `data.*` with `translate.source` as the source."""
    assert params.translate.source is not None  # an unpaired task
    return config_of(params.data, params.translate.source)


def paired(params: Params) -> bool:
    """Whether A is made from B image by image (no `translate.source`)."""
    return params.translate.source is None


def fetch_domains(params: Params, raw: Path) -> None:
    """B's raw files into `raw`, and for an unpaired task A's into `raw/A/`."""
    if paired(params):
        fetch_source(params.data, raw)
    else:
        fetch_two_sources(params.data, source_config(params), raw)


def fetch_two_sources(b: DataConfig, a: DataConfig, raw: Path) -> None:
    """B's raw files (source `b`) into `raw`, A's (source `a`) into `raw/A/`."""
    fetch_source(b, raw)
    fetch_source(a, raw / DOMAIN_A)


def _check_domains(b: Prepared, a: Prepared) -> None:
    for name, dataset in (("B", b), ("A", a)):
        for split, images in dataset.images.items():
            if len(images) < 2:
                raise DataError(
                    f"domain {name} ({dataset.source}): its {split} split has {len(images)} "
                    "image(s); a translator needs at least 2 in each split"
                )
    channels_a, channels_b = a.images["train"].shape[1], b.images["train"].shape[1]
    if channels_a != channels_b:
        raise DataError(
            f"domain A ({a.source}) has {channels_a} channel(s) and domain B ({b.source}) "
            f"{channels_b}: a translator or a restyler maps images of one channel count"
        )


def degraded(b: Prepared, degradation: str) -> Prepared:
    """Domain A of a paired task: B's images degraded one by one, B's labels, the same order."""
    transform = DEGRADATIONS[degradation]
    return Prepared(
        source=f"{b.source}:{degradation}",
        images={split: transform(images) for split, images in b.images.items()},
        labels=dict(b.labels),
        class_names=b.class_names,
        extra=b.extra | {"degradation": degradation, "paired_with": b.source},
    )


def write_domains(processed: Path, a: Prepared, b: Prepared) -> dict[str, Prepared]:
    """B into `processed` (as generation does), A into `processed/A/`; both checked before
    either is written."""
    _check_domains(b, a)
    with atomic_dir(processed) as staging:
        write_processed(staging, b)
        (staging / DOMAIN_A).mkdir()
        write_processed(staging / DOMAIN_A, a)
    return {"A": a, "B": b}


def preprocess_domains(params: Params, raw: Path, processed: Path) -> dict[str, Prepared]:
    """B prepared from `data.source`, A from its own source or degraded from B; then written
    (`write_domains`)."""
    if not paired(params):
        return preprocess_two_sources(params.data, source_config(params), raw, processed)
    b = prepare(raw, params.data)
    return write_domains(processed, degraded(b, params.translate.degradation), b)


def preprocess_two_sources(
    b: DataConfig, a: DataConfig, raw: Path, processed: Path
) -> dict[str, Prepared]:
    """B prepared from `raw` by `b`, A from `raw/A/` by `a`, each with its own seeded split;
    then written (`write_domains`)."""
    domain_b = prepare(raw, b)
    return write_domains(processed, prepare(raw / DOMAIN_A, a), domain_b)


@dataclass(frozen=True)
class Domains:
    """One split of both domains, as stored; `aligned` when A's image i is B's image i."""

    a: Split
    b: Split
    aligned: bool


def load_domains(processed: Path, split: str) -> Domains:
    """`split` of both domains, verified against their manifests."""
    folder_a = processed / DOMAIN_A
    if not (folder_a / MANIFEST).is_file():
        raise DataError(
            f"{processed} holds no domain A ({DOMAIN_A}/{MANIFEST}): it was preprocessed for "
            "task generate; rerun the preprocess stage with task: translate"
        )
    a, b = load_split(folder_a, split), load_split(processed, split)
    aligned = "paired_with" in read_manifest(folder_a)
    if aligned and (len(a.images) != len(b.images) or not np.array_equal(a.labels, b.labels)):
        raise DataError(
            f"{folder_a}: a paired domain A that is not aligned with B; rerun preprocess"
        )
    return Domains(a, b, aligned)


def domain_names(processed: Path) -> tuple[str, str]:
    """The sources of A and B as their manifests record them."""
    return str(read_manifest(processed / DOMAIN_A)["source"]), str(
        read_manifest(processed)["source"]
    )

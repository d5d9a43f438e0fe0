"""The fetch stage, per task: the raw files of the task's data sources."""

from __future__ import annotations

import logging
from pathlib import Path

from ganops.config import Params
from ganops.data.sources import fetch_source
from ganops.restyle.domains import FOLDER_KEY
from ganops.tasks.base import StageTable
from ganops.text.layouts import fetch_captioned
from ganops.translation.domains import config_of, fetch_domains, fetch_two_sources
from ganops.translation.folders import fetch_folder

log = logging.getLogger("fetch")


def fetch_generate(params: Params, raw: Path) -> None:
    """fetch: the raw files of `data.source`."""
    fetch_source(params.data, raw)
    log.info("fetched %s into %s", params.data.source, raw)


def fetch_translate(params: Params, raw: Path) -> None:
    """fetch: domain B's source, and domain A's when it has one of its own; or the user's own
    data set of both domains (`translate.folder`)."""
    if params.translate.folder is not None:
        layout = fetch_folder(params.translate.folder, raw)
        log.info("fetched %s, %s, into %s", params.translate.folder, layout.describe(), raw)
        return
    fetch_domains(params, raw)
    a = params.translate.source or f"{params.data.source} degraded ({params.translate.degradation})"
    log.info("fetched %s (B) and %s (A) into %s", params.data.source, a, raw)


def fetch_restyled(params: Params, raw: Path) -> None:
    """fetch: `data.source`, the content's and the style's images alike; or, with two domains,
    the style images' source (B) and the content's (`restyle.content_source`, A), or the
    user's own folder of both (`restyle.folder`), checked whole before anything is copied."""
    cfg, data = params.restyle, params.data
    if cfg.folder is not None:
        layout = fetch_folder(cfg.folder, raw, FOLDER_KEY)
        log.info("fetched %s, %s, into %s", cfg.folder, layout.describe(), raw)
    elif cfg.content_source is not None:
        fetch_two_sources(data, config_of(data, cfg.content_source), raw)
        log.info("fetched %s (content, A) and %s (style, B) into %s", cfg.content_source,
                 data.source, raw)  # fmt: skip
    else:
        fetch_generate(params, raw)


def fetch_text(params: Params, raw: Path) -> None:
    """fetch: the digits of `data.source` (preprocess makes their captions), or the user's
    own folder of captioned images (`data.folder`), checked whole before anything is copied."""
    if params.data.folder is None:
        fetch_generate(params, raw)
        return
    captioned = fetch_captioned(params.data.folder, raw)
    log.info("fetched %s: %d images, %d captions (%s) into %s", params.data.folder,
             len(captioned.files), len(captioned.pairs()), captioned.layout, raw)  # fmt: skip


FETCH: StageTable[Path] = {
    "generate": fetch_generate,
    "translate": fetch_translate,
    "restyle": fetch_restyled,
    "text": fetch_text,
}

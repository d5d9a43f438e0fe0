"""The preprocess stage, per task: split, resize and record the data."""

from __future__ import annotations

import logging

from ganops.config import Params
from ganops.data.processing import Prepared, preprocess
from ganops.restyle.domains import FOLDER_KEY
from ganops.tasks.base import PreprocessPaths, StageTable
from ganops.text.corpus import preprocess_text
from ganops.text.folder import preprocess_captioned_folder
from ganops.translation.domains import config_of, preprocess_domains, preprocess_two_sources
from ganops.translation.folders import preprocess_folder

log = logging.getLogger("preprocess")


def preprocess_generate(params: Params, paths: PreprocessPaths) -> None:
    """preprocess: the seeded, stratified split as uint8 arrays and a manifest."""
    manifest = preprocess(paths.raw, paths.processed, params.data)
    splits = manifest["splits"]
    log.info(
        "%s: %d train / %d test images of shape %s",
        manifest["source"],
        splits["train"]["count"],
        splits["test"]["count"],
        tuple(manifest["image_shape"]),
    )


def preprocess_translate(params: Params, paths: PreprocessPaths) -> None:
    """preprocess: both domains split, resized and checked against each other."""
    if params.translate.folder is not None:  # the user's own data set of both domains
        domains = preprocess_folder(params, paths.raw, paths.processed)
    else:
        domains = preprocess_domains(params, paths.raw, paths.processed)
    _say_domains(domains)


def preprocess_restyle(params: Params, paths: PreprocessPaths) -> None:
    """preprocess: one split of `data.source`, content and style images alike; or, with two
    domains, the style images (B) where generation writes its data and the content images (A)
    in `A/`, as for translation."""
    cfg, data = params.restyle, params.data
    if cfg.folder is not None:
        domains = preprocess_folder(params, paths.raw, paths.processed, FOLDER_KEY, cfg.folder)
    elif cfg.content_source is not None:
        a = config_of(data, cfg.content_source)
        domains = preprocess_two_sources(data, a, paths.raw, paths.processed)
    else:
        preprocess_generate(params, paths)
        return
    _say_domains(domains)


def _say_domains(domains: dict[str, Prepared]) -> None:
    for name, dataset in domains.items():
        log.info(
            "domain %s (%s): %d train / %d test images of shape %s", name, dataset.source,
            len(dataset.labels["train"]), len(dataset.labels["test"]),
            tuple(dataset.images["train"].shape[1:]),
        )  # fmt: skip


def preprocess_captioned(params: Params, paths: PreprocessPaths) -> None:
    """preprocess: the split, and each digit's measurements and made caption, the caption
    bins and the vocabulary beside it (`ganops.text.corpus`); or the user's own captioned
    images (`data.folder`), split by image, and the vocabulary (`ganops.text.folder`)."""
    if params.data.folder is not None:
        corpus = preprocess_captioned_folder(params, paths.raw, paths.processed)
        what, source = "captions", params.data.folder
    else:
        corpus = preprocess_text(params, paths.raw, paths.processed)
        what, source = "digits captioned", params.data.source
    log.info(
        "%s: %d train / %d test %s; vocabulary of %d words; e.g. %r", source,
        len(corpus.train.captions), len(corpus.test.captions), what,
        len(corpus.vocabulary.words), corpus.train.captions[0].text,
    )  # fmt: skip


PREPROCESS: StageTable[PreprocessPaths] = {
    "generate": preprocess_generate,
    "translate": preprocess_translate,
    "restyle": preprocess_restyle,
    "text": preprocess_captioned,
}

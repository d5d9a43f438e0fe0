"""The sample stage, per task: what the trained model makes."""

from __future__ import annotations

import logging

from ganops.artifacts import load_generator
from ganops.config import Params
from ganops.device import resolve_device
from ganops.restyle.artifact import load_restyler
from ganops.restyle.domains import load_restyle_split
from ganops.restyle.outputs import GRID_FILE as RESTYLE_GRID
from ganops.restyle.outputs import write_restyled
from ganops.run_record import RunRecord
from ganops.sampling import write_samples
from ganops.tasks.base import SamplePaths, StageTable
from ganops.text.artifact import load_text_model
from ganops.text.corpus import load_corpus
from ganops.text.outputs import GRID_FILE as TEXT_GRID
from ganops.text.outputs import write_text_samples
from ganops.tracking.train_run import open_train_run
from ganops.translation.artifact import load_translator
from ganops.translation.domains import load_domains
from ganops.translation.outputs import GRID_FILE, GRID_ROWS, write_translations

log = logging.getLogger("sample")


def sample_generate(params: Params, paths: SamplePaths) -> None:
    """sample: samples, a grid and an interpolation sheet (and each sample's class)."""
    device = resolve_device(params.sample.device, key="sample.device")
    generator, spec = load_generator(paths.model, device)
    record = RunRecord.read(paths.run_record)

    with open_train_run(params, record) as run:
        files = write_samples(generator, spec, params.sample, paths.out, device)
        for name in ("grid.png", "interpolation.png"):
            run.log_artifact(files[name], "samples")
    kind = (
        f"a conditional generator ({spec.num_classes} classes, uniform labels)"
        if (spec.num_classes)
        else "an unconditional generator"
    )
    log.info("%d samples of %s written to %s", params.sample.num_samples, kind, paths.out)


def sample_translate(params: Params, paths: SamplePaths) -> None:
    """sample: A's test split (to score) and train split (for downstream) translated."""
    device = resolve_device(params.sample.device, key="sample.device")
    generators, _ = load_translator(paths.model, device)
    train, test = load_domains(paths.data, "train"), load_domains(paths.data, "test")
    record = RunRecord.read(paths.run_record)
    with open_train_run(params, record) as run:
        files = write_translations(generators, train, test, paths.out, GRID_ROWS, device)
        run.log_artifact(files[GRID_FILE], "samples")
    log.info("%d test and %d train images of A translated into %s", len(test.a.images),
             len(train.a.images), paths.out)  # fmt: skip


def sample_restyle(params: Params, paths: SamplePaths) -> None:
    """sample: every test image drawn in the style of a seeded test image of another class;
    with two domains every A test image in the style of a B test image (of another class
    where they share their classes); `ganops.restyle.outputs` names the files."""
    cfg = params.sample
    device = resolve_device(cfg.device, key="sample.device")
    restyler = load_restyler(paths.model, device)
    test = load_restyle_split(params, paths.data, "test")
    record = RunRecord.read(paths.run_record)
    with open_train_run(params, record) as run:
        files = write_restyled(restyler, test, cfg.seed, paths.out, device, cfg.batch_size)
        run.log_artifact(files[RESTYLE_GRID], "samples")
    if test.two_domains:
        log.info("%d test images of domain A restyled, each in the style of a test image of B "
                 "(%s), into %s", len(test.content.images),
                 "of another class" if test.by_class else "of any class", paths.out)  # fmt: skip
    else:
        log.info("%d test images restyled (each in the style of another class's) into %s",
                 len(test.content.images), paths.out)  # fmt: skip


def sample_text(params: Params, paths: SamplePaths) -> None:
    """sample: one image per test caption, and the fixed prompts' grid
    (`ganops.text.outputs` names the files)."""
    cfg = params.sample
    device = resolve_device(cfg.device, key="sample.device")
    model = load_text_model(paths.model, device)
    corpus = load_corpus(paths.data)
    record = RunRecord.read(paths.run_record)
    with open_train_run(params, record) as run:
        files = write_text_samples(model, corpus, cfg.seed, paths.out, cfg.batch_size)
        run.log_artifact(files[TEXT_GRID], "samples")
    log.info("%d test captions drawn into %s", len(corpus.test.captions), paths.out)


SAMPLE: StageTable[SamplePaths] = {
    "generate": sample_generate,
    "translate": sample_translate,
    "restyle": sample_restyle,
    "text": sample_text,
}

"""The evaluate stage, per task: what the model made, scored against domain B's real test
split with the evaluator (for a translator, beside the baselines that need no training)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from ganops.config import Params
from ganops.data.dataset import Split, load_split
from ganops.device import resolve_device
from ganops.dotted import flatten_mapping
from ganops.io import atomic_dir, write_bytes, write_json, write_text
from ganops.metrics.conditional import Conditioning, cas_recipe
from ganops.metrics.evaluation import Evaluation, as_metrics, evaluate, weakest
from ganops.metrics.evaluator import load_evaluator
from ganops.metrics.features import check_image_shape, check_sample_labels
from ganops.metrics.scores import check_sizes
from ganops.plots import class_histogram_png, neighbour_sheet, per_class_png
from ganops.restyle.domains import load_restyle_split
from ganops.restyle.outputs import load_restyled
from ganops.restyle.scoring import RETRIEVAL_CHANCE, not_defined, scored_ways
from ganops.run_record import RunRecord
from ganops.sampling import load_samples, png_bytes
from ganops.tasks.base import ScorePaths, StageTable
from ganops.text.corpus import load_corpus
from ganops.text.outputs import load_text_samples
from ganops.text.scoring import scored_ways as scored_text_ways
from ganops.tracking import Run
from ganops.tracking.train_run import open_train_run
from ganops.translation.domains import domain_names, load_domains
from ganops.translation.scoring import score_methods, scores_table

log = logging.getLogger("evaluate")


def per_class_table(class_names: tuple[str, ...], per_class: dict[str, np.ndarray]) -> str:
    """`per_class.tsv`: a row per class, a column per score (empty where it has none)."""
    header = "\t".join(["class", *per_class]) + "\n"
    rows = (
        "\t".join([name, *("" if np.isnan(v[k]) else f"{v[k]:.6f}" for v in per_class.values())])
        for k, name in enumerate(class_names)
    )
    return header + "".join(f"{row}\n" for row in rows)


def write_evaluation_plots(
    folder: Path, result: Evaluation, train: Split, shown: np.ndarray
) -> None:
    """The class histogram (TSV for `dvc plots`, PNG for MLflow), the per-class scores
    (likewise) and the neighbour sheet."""
    rows = zip(train.class_names, result.generated_share, result.real_share, strict=True)
    table = "class\tgenerated\treal\n" + "".join(
        f"{name}\t{ours:.6f}\t{real:.6f}\n" for name, ours, real in rows
    )
    histogram = class_histogram_png(train.class_names, result.generated_share, result.real_share)
    sheet = neighbour_sheet(shown, train.images[result.neighbours])  # top: samples
    with atomic_dir(folder) as staging:
        write_text(staging / "class_histogram.tsv", table)
        write_bytes(staging / "class_histogram.png", histogram)
        write_text(staging / "per_class.tsv", per_class_table(train.class_names, result.per_class))
        write_bytes(staging / "per_class.png", per_class_png(train.class_names, result.per_class))
        write_bytes(staging / "nearest_neighbours.png", png_bytes(sheet))


def weakest_classes(class_names: tuple[str, ...], per_class: dict[str, np.ndarray]) -> str:
    """Each per-class score's weakest class, for the log: `accuracy: 8 (0.912), ...`."""
    named = []
    for score, values in per_class.items():
        lowest = weakest(values)
        if lowest >= 0:
            named.append(f"{score}: {class_names[lowest]} ({values[lowest]:.3f})")
    return ", ".join(named) or "none measured"


def evaluate_generate(params: Params, paths: ScorePaths) -> None:
    """evaluate: the samples against the real test split (and, with labels, accuracy and CAS)."""
    cfg = params.eval
    device = resolve_device(cfg.device, key="eval.device")
    evaluator = load_evaluator(paths.evaluator)
    samples, labels = load_samples(paths.samples)  # (N, C, H, W) uint8, (N,) or None
    check_image_shape(samples, evaluator, str(paths.samples))
    train = load_split(paths.data, "train")
    reference_count = len(evaluator.reference_features)
    check_sizes(len(samples), reference_count, cfg)
    check_sizes(len(train.images), reference_count, cfg)  # the real floor
    conditioning = None
    if labels is not None:
        check_sample_labels(labels, evaluator, str(paths.samples))
        test = load_split(paths.data, "test")
        conditioning = Conditioning(labels, test, cas_recipe(params.evaluator, cfg))
    record = RunRecord.read(paths.run_record)
    log.info(
        "scoring %d samples of %s", len(samples),
        "a conditional generator: per class too (accuracy, CAS)" if conditioning
        else "an unconditional generator (no labels: no per-class scores)",
    )  # fmt: skip

    with open_train_run(params, record) as run:
        result = evaluate(evaluator, samples, train, cfg, device, conditioning)
        metrics = as_metrics(result, len(samples))
        write_evaluation_plots(paths.plots, result, train, samples[: cfg.nn_samples])
        write_json(paths.metrics, metrics)
        run.log_summary(flatten_mapping(metrics), step=record.steps)
        run.log_artifact(paths.plots, "eval")
    log.info(
        "fid %.3f (real floor %.3f)  precision %.3f  recall %.3f  classes %d",
        result.scores["fid"],
        result.real_floor["fid"],
        result.scores["precision"],
        result.scores["recall"],
        int(result.scores["classes_covered"]),
    )
    log.info("weakest class by %s", weakest_classes(train.class_names, result.per_class))
    if conditioning is not None:
        log.info(
            "conditional accuracy %.3f  cas %.3f (real %.3f)",
            result.scores["conditional_accuracy"],
            result.scores["cas"],
            result.scores["cas_real"],
        )


def evaluate_translate(params: Params, paths: ScorePaths) -> None:
    """evaluate: the translations and the baselines, scored alike against B's test split."""
    cfg = params.eval
    device = resolve_device(cfg.device, key="eval.device")
    evaluator = load_evaluator(paths.evaluator)
    translated, _ = load_samples(paths.samples)  # (N, C, H, W) uint8: A's test split translated
    check_image_shape(translated, evaluator, str(paths.samples))
    test, names = load_domains(paths.data, "test"), domain_names(paths.data)
    record = RunRecord.read(paths.run_record)
    with open_train_run(params, record) as run:
        results = score_methods(translated, test, names, evaluator, cfg, device)
        _record_table(run, results, paths, record.steps)
    for method, scores in results.items():
        extra = "".join(f"  {k} {scores[k]:.3f}" for k in ("psnr", "ssim") if k in scores)
        log.info("%-11s fid %8.3f  label preservation %.3f%s", method, scores["fid"],
                 scores["label_preservation"], extra)  # fmt: skip


def _record_table(run: Run, results: dict[str, Any], paths: ScorePaths,
                  step: int) -> None:  # fmt: skip
    """A table of ways scored alike (one row each): `plots/scores.tsv`, `metrics.json` and
    the run's summary (without the scores a way has not) and artifacts."""
    with atomic_dir(paths.plots) as staging:
        write_text(staging / "scores.tsv", scores_table(results))
    write_json(paths.metrics, results)
    defined = {key: value for key, value in flatten_mapping(results).items() if value is not None}
    run.log_summary(defined, step=step)  # a score a way has not (None) is left out
    run.log_artifact(paths.plots, "eval")


def evaluate_restyle(params: Params, paths: ScorePaths) -> None:
    """evaluate: the restyled test split, whether each output keeps its content's class and
    how real the outputs look against the (style images') test split, how far the style
    moved, whether each style image finds its own output and how far one content's outputs
    spread over styles, beside the four ways that need no GAN (`ganops.restyle.scoring`); a
    score the data does not define is null, and the log says why."""
    cfg = params.eval
    device = resolve_device(cfg.device, key="eval.device")
    evaluator = load_evaluator(paths.evaluator)
    arrays = load_restyled(paths.samples)
    outputs, labels = arrays["samples.npy"], arrays["labels.npy"]  # (N, C, H, W) uint8, (N,)
    check_image_shape(outputs, evaluator, str(paths.samples))
    test = load_restyle_split(params, paths.data, "test")
    if test.by_class:
        check_sample_labels(labels, evaluator, str(paths.samples))
    train = load_restyle_split(params, paths.data, "train").style
    record = RunRecord.read(paths.run_record)
    with open_train_run(params, record) as run:
        results = scored_ways(arrays, test, train, evaluator, cfg, device)
        _record_table(run, results, paths, record.steps)
    for what, why in not_defined(test).items():
        log.info("not defined for this data (null in %s): %s, as %s", paths.metrics.name, what,
                 why)  # fmt: skip
    for way, scores in results.items():
        moved = "  ".join(f"{m} {_r(scores, f'style_r_{m}')}/{_r(scores, f'content_r_{m}')}"
                          for m in ("slant", "thickness", "width", "height"))  # fmt: skip
        log.info("%-9s content kept %s  fid %s  style retrieval %s, in class %s (chance %.2f)  "
                 "spread over styles %s (real %s)  style/content r: %s", way,
                 _r(scores, "content_kept", 3), _r(scores, "fid", 3),
                 _r(scores, "style_retrieval", 3), _r(scores, "style_retrieval_in_class", 3),
                 RETRIEVAL_CHANCE, _r(scores, "style_spread", 3),
                 _r(scores, "style_spread_real", 3), moved)  # fmt: skip


def _r(scores: dict[str, float | None], key: str, digits: int = 2) -> str:
    value = scores.get(key)
    return "n/a" if value is None else f"{value:.{digits}f}"


def evaluate_text(params: Params, paths: ScorePaths) -> None:
    """evaluate: the images of the test captions, whether they show the digit and the shape
    their caption names, how well a matching model finds their caption, how real they look,
    beside the ways that need no GAN (`ganops.text.scoring`)."""
    cfg = params.eval
    device = resolve_device(cfg.device, key="eval.device")
    evaluator = load_evaluator(paths.evaluator)
    corpus = load_corpus(paths.data)
    images, prompted = load_text_samples(paths.samples, corpus)  # (N, C, H, W) uint8 each
    check_image_shape(images, evaluator, str(paths.samples))
    record = RunRecord.read(paths.run_record)
    with open_train_run(params, record) as run:
        results = scored_text_ways(
            images, prompted, corpus, evaluator, cfg, device, params.text.matching_epochs
        )
        _record_table(run, results, paths, record.steps)
    shown = ("digit_accuracy", "thickness_accuracy", "slant_accuracy", "width_accuracy",
             "r_precision", "fid", "prompt_diversity")  # fmt: skip
    for way, s in results.items():
        log.info("%-11s %s", way, "  ".join(
            f"{key.removesuffix('_accuracy').replace('_', ' ')} "
            + ("n/a" if s[key] is None else f"{s[key]:.3f}")
            for key in shown if key in s
        ))  # fmt: skip


EVALUATE: StageTable[ScorePaths] = {
    "generate": evaluate_generate,
    "translate": evaluate_translate,
    "restyle": evaluate_restyle,
    "text": evaluate_text,
}

"""The downstream stage, per task: what the model's labelled images are worth to a classifier
(for a translator: whether translation helps a classifier on domain B)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from ganops.artifacts import load_classifier
from ganops.classifier_arms import (
    ARMS,
    GAINS,
    Labelled,
    Trial,
    confident,
    per_seed,
    run_arms,
    summarise,
)
from ganops.config import Params
from ganops.data.dataset import Split, load_split
from ganops.device import resolve_device
from ganops.dotted import flatten_mapping
from ganops.few_labels import GAN_ARM, SEMI_GAINS, gan_accuracy, run_semi_arms
from ganops.io import atomic_dir, write_bytes, write_json, write_text
from ganops.metrics.evaluator import extract, load_evaluator
from ganops.metrics.features import check_image_shape, check_sample_labels
from ganops.plots import arms_png
from ganops.restyle import downstream as restyle_arms
from ganops.restyle.artifact import load_restyler
from ganops.restyle.domains import load_restyle_split
from ganops.run_record import RunRecord
from ganops.sampling import load_samples
from ganops.tasks.base import ScorePaths, StageTable
from ganops.tracking.train_run import open_train_run
from ganops.translation import adaptation
from ganops.translation.alignment import ALIGNMENT_GAINS
from ganops.translation.baselines import handmade_for
from ganops.translation.domains import domain_names, load_domains
from ganops.translation.outputs import load_train_translations

log = logging.getLogger("downstream")


def write_arm_plots(
    folder: Path, accuracies: dict[str, list[float]], summary: dict[str, Any]
) -> None:
    """`accuracy.tsv` (one row per arm, for `dvc plots`) and `arms.png` (every seed)."""
    rows = "".join(
        f"{arm}\t{summary[arm]['accuracy_mean']:.6f}\t{summary[arm]['accuracy_std']:.6f}\n"
        for arm in accuracies
    )
    seeds = max(len(values) for values in accuracies.values())
    with atomic_dir(folder) as staging:
        write_text(staging / "accuracy.tsv", "arm\taccuracy_mean\taccuracy_std\n" + rows)
        picture = arms_png(accuracies, f"Classifier test accuracy by training data ({seeds} seeds)")
        write_bytes(staging / "arms.png", picture)


def write_no_numbers(paths: ScorePaths) -> None:
    """The stage's outputs where there is nothing to measure: an empty plots folder and `{}`
    (DVC needs both; the caller has said why in one line)."""
    with atomic_dir(paths.plots):
        pass
    write_json(paths.metrics, {})


def as_mlflow(summary: dict[str, Any]) -> dict[str, float]:
    """The summary as MLflow metrics under `downstream.`: numbers only, true/false as 1/0."""
    flat = flatten_mapping({"downstream": summary})
    return {key: float(value) for key, value in flat.items() if value is not None}


def log_gains(summary: dict[str, Any], arms: tuple[str, ...], gains: tuple[str, ...]) -> None:
    """One line per arm (mean ± sd) and per gain (with its standard error and the verdict of
    the paired t-test, `ganops.significance`)."""
    for arm in arms:
        mean, std = summary[arm]["accuracy_mean"], summary[arm]["accuracy_std"]
        log.info("%-15s accuracy %.2f%% ± %.2f", arm, 100 * mean, 100 * std)
    for name in gains:
        gain = summary[name]
        stderr = "n/a" if gain["stderr"] is None else f"{100 * gain['stderr']:.2f}"
        verdict = "significant (paired t-test, 95%)" if gain["significant"] else "within noise"
        log.info("%s %+.2f points (standard error %s): %s", name, 100 * gain["mean"],
                 stderr, verdict)  # fmt: skip


def downstream_few_labels(
    params: Params, paths: ScorePaths, train: Split, device: torch.device
) -> None:
    """downstream when most training images have no label: a classifier on the labelled
    images, with augmentation, with pseudo-labels on the unlabelled pool, and the
    semi-supervised GAN's discriminator when the run trained one (`ganops.few_labels`)."""
    cfg = params.downstream
    evaluator = load_evaluator(paths.evaluator)
    test = load_split(paths.data, "test")
    record = RunRecord.read(paths.run_record)
    assert paths.model is not None  # the downstream stage passes it
    classifier = load_classifier(paths.model, device)
    with open_train_run(params, record) as run:
        spec = evaluator.network.spec
        accuracies = run_semi_arms(params.evaluator, spec, train, test, cfg, device)
        extra: dict[str, Any] = {"steps": cfg.steps}
        if classifier is not None:
            accuracies[GAN_ARM] = [gan_accuracy(classifier[0], test, device)]
            extra["gan_steps"] = record.steps  # equal steps: the recipe sets downstream.steps so
        summary = (
            summarise(accuracies, len(test.labels), SEMI_GAINS)
            | extra
            | {
                "labelled_images": int((~train.unlabelled).sum()),
                "unlabelled_images": int(train.unlabelled.sum()),
            }
        )
        write_arm_plots(paths.plots, accuracies, summary)
        write_json(paths.metrics, summary)
        run.log_summary(as_mlflow(summary), step=record.steps)
        run.log_artifact(paths.plots, "downstream")
    if classifier is not None and cfg.steps != record.steps:
        log.info("downstream.steps %d against the GAN's %d: the arms are not trained as long",
                 cfg.steps, record.steps)  # fmt: skip
    log_gains(summary, tuple(accuracies), tuple(n for n, _, _ in SEMI_GAINS if n in summary))


def downstream_generate(params: Params, paths: ScorePaths) -> None:
    """downstream: a classifier on real data, real + synthetic, real + affine (conditional
    generators; an unconditional one's samples carry no labels: one line, no numbers); on
    data whose images are not all labelled, the few-labels experiment instead."""
    cfg = params.downstream
    device = resolve_device(cfg.device, key="downstream.device")
    train = load_split(paths.data, "train")
    if not train.fully_labelled:
        downstream_few_labels(params, paths, train, device)
        return
    samples, labels = load_samples(paths.samples)  # (N, C, H, W) uint8, (N,) or None
    if labels is None:
        log.info(
            "%s holds no class labels (an unconditional generator): no classifier to "
            "train on them; set model.conditional: true (or auto, on data of two or more "
            "classes) to measure them",
            paths.samples,
        )
        write_no_numbers(paths)
        return
    evaluator = load_evaluator(paths.evaluator)
    check_image_shape(samples, evaluator, str(paths.samples))
    check_sample_labels(labels, evaluator, str(paths.samples))
    test = load_split(paths.data, "test")
    record = RunRecord.read(paths.run_record)

    with open_train_run(params, record) as run:
        _, logits = extract(evaluator.network, samples, 500, device)
        synthetic, dropped = confident(Labelled(samples, labels), logits, cfg.min_confidence)
        real = Labelled(train.images, train.labels)
        spec = evaluator.network.spec  # the evaluator's architecture
        trial = Trial(params.evaluator, spec, {"test": test})
        arms = {arm: (arm, real, synthetic) for arm in ARMS}
        accuracies = run_arms(trial, arms, cfg, device)["test"]
        summary = summarise(accuracies, len(test.labels)) | {
            "real_images": len(real.labels),
            "synthetic_images": len(synthetic.labels),
            "synthetic_dropped": dropped,
        }
        write_arm_plots(paths.plots, accuracies, summary)
        write_json(paths.metrics, summary)
        run.log_summary(as_mlflow(summary), step=record.steps)
        run.log_artifact(paths.plots, "downstream")
    log_gains(summary, ARMS, tuple(name for name, _, _ in GAINS))


def downstream_translate(params: Params, paths: ScorePaths) -> None:
    """downstream: a classifier on A, A + affine, A translated, A hand-made, tested on B; with
    `downstream.alignment`, self-training, DANN and FixMatch from A and from A translated (and
    FixMatch from A hand-made) too."""
    cfg = params.downstream
    device = resolve_device(cfg.device, key="downstream.device")
    evaluator = load_evaluator(paths.evaluator)
    translated, labels = load_train_translations(paths.samples)
    check_image_shape(translated, evaluator, str(paths.samples))
    train = load_domains(paths.data, "train")
    target_test = load_split(paths.data, "test")  # domain B
    record = RunRecord.read(paths.run_record)
    arms = adaptation.arm_data(
        Labelled(train.a.images, labels), translated, handmade_for(*domain_names(paths.data))
    )
    gains = adaptation.GAINS + (ALIGNMENT_GAINS if cfg.alignment else ())
    with open_train_run(params, record) as run:
        spec = evaluator.network.spec
        accuracies, pseudo_labels = adaptation.run_adaptation(
            params.evaluator, spec, arms, (train.b.images, target_test), cfg, device
        )
        summary: dict[str, Any] = summarise(accuracies, len(target_test.labels), gains) | {
            "source_images": len(labels),
            "per_seed": per_seed(accuracies, cfg.seed),  # the pairs every gain is computed from
        }
        # how many of B's train images each self-training arm took, mean over the seeds
        summary |= {
            f"{arm}_pseudo_labels": round(sum(counts) / len(counts), 1)
            for arm, counts in pseudo_labels.items()
        }
        write_arm_plots(paths.plots, accuracies, summary)
        write_json(paths.metrics, summary)
        run.log_summary(as_mlflow(summary), step=record.steps)
        run.log_artifact(paths.plots, "downstream")
    log_gains(summary, tuple(accuracies), tuple(name for name, _, _ in gains if name in summary))


def downstream_restyle(params: Params, paths: ScorePaths) -> None:
    """downstream: a classifier on the train digits as they are, with affine augmentation, with
    them hand-made and restyled in other digits' hands, tested on the test split and on UCI's
    unseen writers (`ganops.restyle.downstream`); one line, no numbers, where the data are not
    digits."""
    cfg = params.downstream
    train = load_restyle_split(params, paths.data, "train")
    why = restyle_arms.not_defined(params, train)
    if why is not None:
        log.info("task restyle: no downstream arms (%s); %s holds no numbers", why, paths.metrics)
        write_no_numbers(paths)
        return
    device = resolve_device(cfg.device, key="downstream.device")
    evaluator = load_evaluator(paths.evaluator)
    check_image_shape(train.content.images, evaluator, str(paths.data))
    assert paths.model is not None  # the downstream stage passes it
    restyler = load_restyler(paths.model, device)
    tests = restyle_arms.test_sets(params, load_split(paths.data, "test"))
    for name, test in tests.items():
        check_image_shape(test.images, evaluator, f"{paths.data} ({name})")
    record = RunRecord.read(paths.run_record)
    content = train.content
    added = restyle_arms.transformed(
        restyler, content, train.style, cfg.seed, device, cfg.transformed_per_class
    )
    arms = restyle_arms.training_arms(Labelled(content.images, content.labels), added)
    with open_train_run(params, record) as run:
        trial = Trial(params.evaluator, evaluator.network.spec, tests)
        accuracies = run_arms(trial, arms, cfg, device)
        summary = restyle_arms.summary_of(accuracies, tests, cfg.seed) | {
            "train_images": len(content.labels),
            "transformed_images": len(added.chosen),
            "steps": cfg.steps,
        }
        write_arm_plots(paths.plots, *restyle_arms.flat_rows(accuracies, summary))
        write_json(paths.metrics, summary)
        run.log_summary(as_mlflow(summary), step=record.steps)
        run.log_artifact(paths.plots, "downstream")
    if restyle_arms.UNSEEN not in tests:
        log.info("UCI digits' writers wrote training images: tested on the test split only")
    for name, test in tests.items():
        log.info("tested on %s (%d images):", name, len(test.labels))
        log_gains(
            summary[name], tuple(restyle_arms.ARMS), tuple(n for n, _, _ in restyle_arms.GAINS)
        )


def downstream_text(params: Params, paths: ScorePaths) -> None:
    """downstream: not measured for a text-to-image model (its images as a classifier's
    training data is the generate task's question): one line, no numbers."""
    log.info("task text: no downstream arms; %s holds no numbers", paths.metrics)
    write_no_numbers(paths)


DOWNSTREAM: StageTable[ScorePaths] = {
    "generate": downstream_generate,
    "translate": downstream_translate,
    "restyle": downstream_restyle,
    "text": downstream_text,
}

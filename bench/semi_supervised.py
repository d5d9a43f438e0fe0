"""Few labels, many images: the semi-supervised GAN against the arms that need no GAN, on
mnist-5k (4,000 training images) at 10 and 50 labels a class, over GAN seeds, through the
seven stages; and the cost of its training against the default's, in the same session.

Each label count runs fetch .. downstream once in a scratch workspace with the project's
params plus the recipe of docs/semi-supervised.md (GAN seed 0); every further GAN seed
copies that workspace and reruns train .. evaluate with `train.seed` changed, and takes the
downstream arms of seed 0: they train on the same labelled images with the same seeds and
do not read the GAN, so they would come out the same bytes. The reference is the default
train stage (the conditional DCGAN on all labels) on the same machine, once. A JSON record
and a markdown table (arms; the GAN per seed; gains with their standard errors) are
written for docs/benchmarks.md.

    python bench/semi_supervised.py --seeds 2 --out docs/semi_supervised.json  # ~1.5 h, 2 cores
    python bench/semi_supervised.py --labels 10 --seeds 1 --no-reference       # one setting
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import sys
import tempfile
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.translation import run_stages  # noqa: E402
from ganops.device import cpu_model  # noqa: E402
from ganops.params import load_params  # noqa: E402
from ganops.run_record import RunRecord  # noqa: E402
from ganops.significance import mean_band  # noqa: E402
from tests.helpers import STAGE_NAMES  # noqa: E402

# the recipe of docs/semi-supervised.md; per label count, what the evaluator needs to learn
# from so few (about as many steps either way) and the steps every downstream arm takes
RECIPE: dict[str, Any] = {
    "model": {"arch": "mlp", "width": 64, "latent_dim": 64},
    "train": {
        "semi_supervised": True,
        "augment": "affine",
        "epochs": 90,
        "batch_size": 100,
        "lr": 0.003,
        "lr_d": None,
        "beta2": 0.999,  # measured so, before the default took 0.99
        "eval_every": 5,  # the quick scores; the classifier is scored every epoch
    },
    # under a third of the GAN's 3,600 steps: a pseudo-label step costs about twice a GAN
    # step (0.18 s against 0.095 s on 2 cores), and fewer steps for the arms can only favour
    # the GAN
    "downstream": {"steps": 1000, "seeds": 2},
}
LABELS: dict[int, dict[str, Any]] = {
    10: {"data": {"labelled_per_class": 10}, "evaluator": {"epochs": 300, "min_accuracy": 0.5}},
    50: {"data": {"labelled_per_class": 50}, "evaluator": {"epochs": 75, "min_accuracy": 0.5}},
}
ARMS = ("labelled", "labelled_affine", "pseudo_label")
AFTER_DATA = STAGE_NAMES[STAGE_NAMES.index("train") :]


def recipe(labels: int, seed: int = 0) -> dict[str, Any]:
    """The project's overrides for `labels` a class and GAN seed `seed`."""
    overrides = {section: dict(values) for section, values in RECIPE.items()}
    for section, values in LABELS[labels].items():
        overrides.setdefault(section, {}).update(values)
    overrides["train"]["seed"] = seed
    return overrides


def read(workspace: Path, name: str) -> dict[str, Any]:
    metrics: dict[str, Any] = json.loads((workspace / "data" / name / "metrics.json").read_text())
    return metrics


def measure(labels: int, seeds: int, scratch: Path) -> dict[str, Any]:
    """Every stage for GAN seed 0, train .. evaluate for the others; their numbers."""
    first = scratch / f"labels{labels}_seed0"
    first.mkdir()
    print(f"{labels} labels a class, GAN seed 0: the seven stages", flush=True)
    seconds = run_stages(first, recipe(labels), STAGE_NAMES)
    downstream = read(first, "downstream")
    runs = [{"seed": 0, "seconds": round(seconds, 1), "train": read(first, "train"),
             "eval": read(first, "eval"), "run": _run(first)}]  # fmt: skip
    for seed in range(1, seeds):
        workspace = scratch / f"labels{labels}_seed{seed}"
        shutil.copytree(first, workspace, ignore=shutil.ignore_patterns("mlflow.db", "mlartifacts"))
        print(f"{labels} labels a class, GAN seed {seed}: train .. evaluate", flush=True)
        seconds = run_stages(workspace, recipe(labels, seed), AFTER_DATA[:-1])
        runs.append({"seed": seed, "seconds": round(seconds, 1), "train": read(workspace, "train"),
                     "eval": read(workspace, "eval"), "run": _run(workspace)})  # fmt: skip
    return {"labels_per_class": labels, "downstream": downstream, "gans": runs,
            "evaluator": read(first, "evaluator")}  # fmt: skip


def _run(workspace: Path) -> dict[str, Any]:
    record = RunRecord.read(workspace / "data" / "train" / "run.json")
    return {"train_time_s": record.train_time_s, "steps": record.steps}


def reference(scratch: Path) -> dict[str, Any]:
    """The default's train stage (all labels, the conditional DCGAN) timed here."""
    workspace = scratch / "default"
    workspace.mkdir()
    print("the default, for the cost: fetch .. train", flush=True)
    run_stages(workspace, {}, STAGE_NAMES[: STAGE_NAMES.index("train") + 1])
    return _run(workspace)


def table(results: list[dict[str, Any]], default: dict[str, Any] | None) -> str:
    """Markdown: per label count, the arms (mean ± sd over classifier seeds) and the GAN's
    classifier per seed with its gains over the arms; then its cost."""
    test_images = load_params(ROOT / "params.yaml").data.test_size  # the recipe keeps it
    lines = [
        "| labels a class | labelled | labelled + affine | pseudo-label | semi-supervised GAN "
        "(seed) | GAN - (labelled + affine) | GAN - pseudo-label |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for result in results:
        arms = result["downstream"]
        shown = [
            f"{100 * arms[a]['accuracy_mean']:.2f} ± {100 * arms[a]['accuracy_std']:.2f}"
            for a in ARMS
        ]
        for gan in result["gans"]:
            accuracy = gan["train"]["classifier_accuracy"]
            gains = [
                _gain(accuracy, arms, a, test_images) for a in ("labelled_affine", "pseudo_label")
            ]
            lines.append(
                f"| {result['labels_per_class']} | {' | '.join(shown)} | "
                f"{100 * accuracy:.2f} ({gan['seed']}) | {' | '.join(gains)} |"
            )
        values = [gan["train"]["classifier_accuracy"] for gan in result["gans"]]
        if len(values) > 1:
            lines.append(
                f"| {result['labels_per_class']}: GAN over seeds | | | | "
                f"{100 * statistics.mean(values):.2f} ± {100 * statistics.stdev(values):.2f} | | |"
            )
    if default is not None:
        lines.append("")
        lines.append(f"The default's training here: {default['train_time_s']:.0f} s.")
        for result in results:
            times = [gan["run"]["train_time_s"] for gan in result["gans"]]
            mean = statistics.mean(times)
            ratio = mean / default["train_time_s"]
            lines.append(
                f"{result['labels_per_class']} labels a class: the semi-supervised GAN's "
                f"training {mean:.0f} s, {ratio:.2f}x."
            )
    return "\n".join(lines)


def _gain(accuracy: float, arms: dict[str, Any], arm: str, test_images: int) -> str:
    """The GAN's accuracy minus the arm's mean, with the standard error of that mean (the
    GAN is one classifier); bold where the project's t-test calls it significant (the arm's
    spread floored at one test image: `ganops.significance`)."""
    mean, spread = arms[arm]["accuracy_mean"], arms[arm]["accuracy_std"]
    judged = mean_band(spread, RECIPE["downstream"]["seeds"], floor=1 / test_images)
    if judged is None:
        return f"{100 * (accuracy - mean):+.2f}"
    stderr, band = judged
    text = f"{100 * (accuracy - mean):+.2f} ± {100 * stderr:.2f}"
    return f"**{text}**" if abs(accuracy - mean) > band else text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--labels", type=int, nargs="*", default=sorted(LABELS))
    parser.add_argument("--seeds", type=int, default=2, help="GAN seeds (train.seed 0, 1, ...)")
    parser.add_argument("--no-reference", action="store_true", help="skip the default's timing")
    parser.add_argument("--out", type=Path, help="JSON record to write")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ganops-semi-") as scratch:
        default = None if args.no_reference else reference(Path(scratch))
        results = [measure(labels, args.seeds, Path(scratch)) for labels in args.labels]
    record = {
        "date": date.today().isoformat(),
        "machine": f"{cpu_model()}, {platform.system()}",
        "recipe": RECIPE,
        "labels": {str(n): LABELS[n] for n in args.labels},
        "default": default,
        "results": results,
    }
    if args.out:
        args.out.write_text(json.dumps(record, indent=2) + "\n")
    print(table(results, default))


if __name__ == "__main__":
    main()

"""The `ganops` command: work outside the pipeline.

ganops sample --model data/models/model.pt -n 64 --out grid.png
ganops sample --model models:/ganops-generator/1 -n 5000 --out samples.npy
ganops sample --model data/models/model.pt --class 3 7 --out grid.png   # conditional
ganops sample --model data/models/model.pt -n 5000 --out synthetic/     # labelled folder
ganops score samples.npy                      # against the real test split
ganops score synthetic/                       # class sub-folders: + conditional accuracy, CAS
ganops score my_pngs/ --reference other.npz --json
ganops report --baseline main                 # workspace vs a revision, as Markdown
ganops translate --model data/models/model.pt my_digits/ translated/   # task: translate
ganops restyle --model data/models/model.pt my_digits/ style.png out/  # task: restyle
ganops exps                                   # the experiments: scores, params that differ
ganops promote --baseline main                # champion alias to the workspace's model if better
ganops recipe list                            # named configurations (recipes/)
ganops recipe run few-labels -S train.seed=1  # dvc exp run with a recipe's values
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from ganops.artifacts import load_generator
from ganops.cli_project import add_project_commands
from ganops.config import EvalConfig, EvaluatorConfig, Params
from ganops.data.dataset import Split, read_manifest
from ganops.data.images import read_image_set, read_images
from ganops.device import resolve_device
from ganops.errors import ConfigError
from ganops.io import is_model_file, save_npy, sha256_file, write_bytes
from ganops.models import GeneratorSpec
from ganops.params import load_params
from ganops.restyle.cli import add_restyle_command
from ganops.run_record import RunRecord
from ganops.runner import run_stage
from ganops.sampling import (
    READABLE_PX,
    class_labels,
    class_rows_grid,
    generate,
    latent_batch,
    make_grid,
    save_png,
    write_image_folder,
)
from ganops.text.cli import add_text_option, sample_text

if TYPE_CHECKING:
    from ganops.metrics.any_set import SetScores

log = logging.getLogger("ganops")
OUTPUT_SUFFIXES = (".npy", ".npz", ".png")
# the train stage's model file and run record (dvc.yaml): a folder export of that generator
# names its MLflow run
PIPELINE_MODEL = Path("data/models/model.pt")
PIPELINE_RUN_RECORD = Path("data/train/run.json")


def _at_least(low: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = int(text)
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low} (got {value})")
        return value

    return parse


_positive = _at_least(1)


def load_any_generator(model: str, device: torch.device) -> tuple[nn.Module, GeneratorSpec]:
    """A generator and its spec from a generator file or an MLflow model URI."""
    path = Path(model)
    if is_model_file(model):
        return load_generator(path, device)
    from ganops.tracking import load_logged_generator

    return load_logged_generator(model, device)


def write_images(out: Path, images: np.ndarray, labels: np.ndarray | None = None) -> None:
    """Save uint8 `(N, C, H, W)` images as .npy, .npz (key `images`) or a .png grid; with
    their class `labels` `(N,)`, the grid holds one class a row."""
    if out.suffix == ".npy":
        save_npy(out, images)
    elif out.suffix == ".npz":
        buffer = io.BytesIO()
        np.savez_compressed(buffer, images=images)
        write_bytes(out, buffer.getvalue())
    elif labels is not None:
        save_png(out, class_rows_grid(images, labels, min_side=READABLE_PX))
    else:
        save_png(out, make_grid(images, min_side=READABLE_PX))


def _is_folder(out: str) -> bool:
    """`--out` names a folder: it ends with a separator, is one, or has no file suffix."""
    path = Path(out)
    return out.endswith(("/", "\\")) or path.is_dir() or not path.suffix


def _class_names(data: Path, spec: GeneratorSpec) -> tuple[str, ...]:
    """The class names of the processed manifest in `data`, or "0", "1", ... without one."""
    if not (data / "manifest.json").is_file():
        log.info("no %s: the class folders are named by index", data / "manifest.json")
        return tuple(str(label) for label in range(spec.num_classes))
    names = tuple(str(name) for name in read_manifest(data)["class_names"])
    if len(names) != spec.num_classes:
        raise ConfigError(
            f"--data: {data} names {len(names)} classes but the generator has {spec.num_classes}"
        )
    return names


def _provenance(args: argparse.Namespace) -> dict[str, object]:
    """What made the samples: the model, its file's sha256, its MLflow run id, the seed."""
    about: dict[str, object] = {"generator": args.model, "seed": args.seed, "run_id": None}
    path = Path(args.model)
    if path.is_file():
        about["generator_sha256"] = sha256_file(path)
        record = args.run_record
        if record is None and path.resolve() == PIPELINE_MODEL.resolve():
            record = PIPELINE_RUN_RECORD if PIPELINE_RUN_RECORD.is_file() else None
        if record is not None:
            about["run_id"] = RunRecord.read(record).run_id
    else:
        from ganops.tracking import logged_model_run_id

        about["run_id"] = logged_model_run_id(args.model)
    return about


def cmd_sample(args: argparse.Namespace) -> None:
    if args.text:  # a text-to-image model: ganops.text.cli
        sample_text(args)
        return
    folder = _is_folder(args.out)
    out = Path(args.out)
    if not folder and out.suffix not in OUTPUT_SUFFIXES:
        raise ConfigError(
            f"--out: use one of {', '.join(OUTPUT_SUFFIXES)} or a folder DIR/ (got {out.name})"
        )
    device = resolve_device(args.device, key="--device")
    generator, spec = load_any_generator(args.model, device)
    labels = class_labels(args.n, args.classes, spec, device, option="--class")
    names = _class_names(args.data, spec) if folder and spec.num_classes else ()
    latents = latent_batch(args.n, spec.latent_dim, args.seed, device)
    images = generate(generator, latents, args.batch_size, progress=True, labels=labels)
    if not folder:
        write_images(out, images, None if labels is None else labels.cpu().numpy())
        log.info("%d samples of shape %s written to %s", len(images), images.shape[1:], out)
        return
    chosen = None if labels is None else labels.cpu().numpy()
    counts = write_image_folder(out, images, chosen, names, _provenance(args))
    shown = ", ".join(f"{name} {count}" for name, count in counts.items() if name)
    log.info("%d samples written to %s/%s", len(images), out, f" ({shown})" if shown else "")


def _params(path: Path) -> Params | None:
    """params.yaml when there is one (its `eval` and `evaluator` sections), else None."""
    return load_params(path) if path.exists() else None


def _real_splits(data: Path) -> tuple[Split, Split] | str:
    """The processed train and test splits in `data`, which CAS trains and tests on, or
    why there are none."""
    from ganops.data.dataset import load_split

    if not (data / "manifest.json").is_file():
        return f"needs the real train and test splits: --data {data} holds no processed data"
    return load_split(data, "train"), load_split(data, "test")


def _print_table(args: argparse.Namespace, count: int, results: SetScores) -> None:
    against = args.reference or "the real test split"
    print(f"{count} images from {args.samples} against {against}")
    for key, value in results.scores.items():
        print(f"  {key:<22}{value:>12.4f}")
    for key, why in results.not_defined.items():
        print(f"  {key:<22}{'not defined':>12}  ({why})")
    if results.per_class:
        print(f"  {'per class':<22}{'images':>12}{'cond. acc.':>12}")
        for name, figures in results.per_class.items():
            print(f"  {name:<22}{figures['images']:>12.0f}{figures['conditional_accuracy']:>12.4f}")
    for note in results.notes:
        print(f"note: {note}")


def cmd_score(args: argparse.Namespace) -> None:
    from ganops.metrics.any_set import class_indices, conditional_figures, score_defined
    from ganops.metrics.conditional import cas_recipe
    from ganops.metrics.evaluator import load_evaluator
    from ganops.metrics.features import check_image_shape, evaluator_reference, feature_set

    params = _params(args.params)
    cfg = params.eval if params else EvalConfig()
    if args.kid_subset_size is not None:
        cfg = cfg.model_copy(update={"kid_subset_size": args.kid_subset_size})
    device = resolve_device(args.device, key="--device")
    evaluator = load_evaluator(args.evaluator)
    samples = read_image_set(args.samples)
    check_image_shape(samples.images, evaluator, str(args.samples))
    if args.reference is None:
        reference = evaluator_reference(evaluator)
    else:
        reference_images = read_images(args.reference)
        check_image_shape(reference_images, evaluator, str(args.reference))
        reference = feature_set(evaluator, reference_images, cfg.batch_size, device)
    generated = feature_set(evaluator, samples.images, cfg.batch_size, device)
    results = score_defined(generated, reference, cfg)
    if samples.labels is not None:  # class sub-folders
        labels = class_indices(samples.classes, samples.labels, evaluator, str(args.samples))
        splits = _real_splits(args.data)
        if not isinstance(splits, str):
            check_image_shape(splits[1].images, evaluator, str(args.data))
        recipe = cas_recipe(params.evaluator if params else EvaluatorConfig(), cfg)
        conditional_figures(
            results, evaluator, samples.images, labels, generated.logits, splits, recipe, device
        )
    if args.json:
        print(json.dumps(results.as_json(), indent=2))
    else:
        _print_table(args, len(samples.images), results)


def cmd_translate(args: argparse.Namespace) -> None:
    from ganops.translation.apply import (
        DIRECTIONS,
        load_any_translator,
        provenance,
        translate_source,
        write_folder,
    )

    folder = args.input.is_dir()
    out = Path(args.out)
    if not folder and out.suffix not in OUTPUT_SUFFIXES:
        raise ConfigError(f"OUT: use one of {', '.join(OUTPUT_SUFFIXES)} (got {out.name})")
    if out.resolve() == args.input.resolve():
        raise ConfigError(f"OUT: {out} is the input itself; name another place")
    device = resolve_device(args.device, key="--device")
    generator, spec = load_any_translator(args.model, args.direction, device)
    images, translated, files = translate_source(
        generator, spec, args.input, args.direction, args.batch_size, device
    )
    if files is not None:
        write_folder(out, translated, files, args.input, provenance(args.model, args.direction))
    elif out.suffix == ".png":
        pairs = np.stack([images, translated], 1).reshape(-1, *images.shape[1:])
        save_png(out, make_grid(pairs, columns=8, min_side=READABLE_PX))
    else:
        write_images(out, translated)
    log.info("%d images translated %s into %s", len(images), DIRECTIONS[args.direction], out)


def cmd_report(args: argparse.Namespace) -> None:
    from ganops.report import write_report
    from ganops.tracking import project_root

    write_report(project_root(), args.baseline, args.out)
    if not args.quiet:
        print(args.out.read_text())
    log.info("report written to %s", args.out)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ganops", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command", required=True)
    sample = commands.add_parser("sample", help="draw samples from a trained generator")
    sample.add_argument(
        "--model",
        default="data/models/model.pt",
        help="MLflow model URI (models:/NAME/VERSION, models:/<id>, runs:/) or model file "
        "(default: the workspace's data/models/model.pt)",
    )
    sample.add_argument("-n", type=_positive, default=64, help="number of samples (64)")
    sample.add_argument(
        "--out",
        default="samples.png",
        help="FILE .npy, .npz or .png grid (default: samples.png); or a folder DIR/ of PNGs, "
        "one sub-folder per class for a conditional generator (torchvision ImageFolder), with "
        "a manifest.json",
    )
    sample.add_argument("--seed", type=int, default=0, help="latent seed (0)")
    sample.add_argument(
        "--class",
        dest="classes",
        type=int,
        nargs="+",
        action="extend",
        metavar="K",
        help="conditional generators: the class(es) to draw, e.g. --class 3 7 (repeatable); "
        "the samples are split evenly among them, in order (default: every class)",
    )
    sample.add_argument(
        "--data",
        type=Path,
        default=Path("data/processed"),
        help="folder export: processed data whose manifest names the classes (data/processed)",
    )
    sample.add_argument(
        "--run-record",
        type=Path,
        help="folder export: run.json naming the generator's MLflow run (default: "
        "data/train/run.json when --model is data/models/model.pt)",
    )
    sample.add_argument("--batch-size", type=_positive, default=500, help="images per forward")
    sample.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    add_text_option(sample)
    sample.set_defaults(handler=cmd_sample)

    scorer = commands.add_parser("score", help="FID, KID, precision/recall, IS, mode coverage")
    scorer.add_argument(
        "samples",
        type=Path,
        help="folder of PNG/JPEG images (in one sub-folder per class: the class of each, for "
        "conditional accuracy and CAS), or .npy/.npz",
    )
    scorer.add_argument(
        "--reference", type=Path, help="another set to compare with (default: the test split)"
    )
    scorer.add_argument(
        "--evaluator", type=Path, default=Path("data/models/evaluator.pt"), help="evaluator.pt"
    )
    scorer.add_argument(
        "--params", type=Path, default=Path("params.yaml"), help="eval.* settings (if present)"
    )
    scorer.add_argument(
        "--kid-subset-size",
        type=_at_least(2),
        help="images per KID subset (default eval.kid_subset_size; more than the smaller set "
        "has is clipped to it, with a note)",
    )
    scorer.add_argument(
        "--data",
        type=Path,
        default=Path("data/processed"),
        help="class sub-folders: the processed data CAS trains and tests on (data/processed)",
    )
    scorer.add_argument("--json", action="store_true", help="print JSON instead of a table")
    scorer.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    scorer.set_defaults(handler=cmd_score)

    report = commands.add_parser("report", help="Markdown report: the workspace vs a revision")
    report.add_argument(
        "--baseline", required=True, help="git revision or DVC experiment name to compare with"
    )
    report.add_argument(
        "--out",
        type=Path,
        default=Path("data/report/report.md"),
        help="report to write; the two sample grids go beside it (data/report/report.md)",
    )
    report.add_argument("-q", "--quiet", action="store_true", help="do not print the report")
    report.set_defaults(handler=cmd_report)

    translate = commands.add_parser("translate", help="translate images with a translator")
    translate.add_argument(
        "--model",
        required=True,
        help="translator path (data/models/model.pt after a task: translate run) or MLflow "
        "model URI (models:/NAME/VERSION)",
    )
    translate.add_argument(
        "input", type=Path, help="folder of images (sub-folders kept), or .npy/.npz"
    )
    translate.add_argument(
        "out",
        help="a folder for a folder (PNGs, same relative names, with a manifest.json); "
        ".npy, .npz or a .png grid of input | translation for an array",
    )
    translate.add_argument(
        "--direction",
        choices=("ab", "ba"),
        default="ab",
        help="ab: A into B (default); ba: B back into A (unpaired translators only)",
    )
    translate.add_argument("--batch-size", type=_positive, default=500, help="images per forward")
    translate.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    translate.set_defaults(handler=cmd_translate)
    add_project_commands(commands, _positive)
    add_restyle_command(commands, _positive)

    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_stage("ganops " + args.command, lambda: args.handler(args), args.verbose)


if __name__ == "__main__":
    sys.exit(main())

"""The translation targets: both default tasks, and MNIST <-> UCI digits in both directions,
over translator seeds, through the seven stages.

Each configuration runs fetch .. downstream once in a scratch workspace with the project's
params plus its overrides; every further seed copies that workspace and reruns train ..
downstream with `translate.seed` changed (the data and the evaluator do not depend on it).
The scores of `evaluate` and the arms of `downstream` of every run go to a JSON record, and a
markdown table (mean ± sd over seeds) is printed for docs/benchmarks.md.

    python bench/translation.py --seeds 2 --out docs/translation.json   # ~1 h on 2 CPU cores
    python bench/translation.py --only paired --seeds 1                 # one configuration
    # with the alignment arms (`downstream.alignment`), the domain-adaptation table:
    python bench/translation.py --only uci_to_mnist mnist_to_uci --alignment \
        --keep /tmp/adaptation --out bench/records/adaptation.json
    # the alignment arms for translators an earlier run (--keep /tmp/translators) trained
    python bench/translation.py --only mnist_to_uci --alignment --again --keep /tmp/translators
    # ... one seed only, e.g. each seed in a process of its own
    python bench/translation.py --only mnist_to_uci --alignment --again --seed 1 \
        --keep /tmp/translators
    # a variant of a configuration: --set edits (SECTION.KEY=VALUE, the value read as YAML)
    python bench/translation.py --only mnist_to_uci_semantic_handmade \
        --set translate.semantic=3 --keep /tmp/semantic-3

The stages run in this process, from this checkout, so an edit to it during a run of hours
can reach the run's later seeds (`params.yaml` is read again for every seed, and a module is
read when first imported). To go on working meanwhile, run it from a worktree of the commit:

    git worktree add /tmp/bench-tree HEAD && cd /tmp/bench-tree
    PYTHONPATH=src python bench/translation.py ...
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from stages_direct import parsed_edit  # noqa: E402

from ganops.device import cpu_model  # noqa: E402
from tests.helpers import STAGE_ARGS, STAGE_NAMES, load_stage, merged, project_params  # noqa: E402

UCI = {"source": "uci-digits", "test_size": 500}
# the lines of docs/translation-guide.md: a CycleGAN of width 16 with 3 residual blocks,
# ~420 steps either way; UCI -> MNIST with the semantic-consistency term
UNPAIRED = {"width": 16, "blocks": 3}
CONFIGURATIONS: dict[str, dict[str, Any]] = {
    "paired": {"task": "translate"},
    "uci_to_mnist": {
        "task": "translate",
        "translate": {"source": "uci-digits", "epochs": 10, "semantic": 1.0} | UNPAIRED,
        "data": {"test_size": 500},
    },
    # the ablation of the semantic term (CyCADA) in that direction
    "uci_to_mnist_no_semantic": {
        "task": "translate",
        "translate": {"source": "uci-digits", "epochs": 10} | UNPAIRED,
        "data": {"test_size": 500},
    },
    "mnist_to_uci": {
        "task": "translate",
        "data": UCI,
        "translate": {"source": "mnist-5k", "epochs": 3} | UNPAIRED,
    },
}
# the semantic term read by a classifier of A through the hand-made transform (B-like digits);
# mnist_to_uci_semantic_handmade is the guide's MNIST -> UCI line
HANDMADE_READER = {"semantic": 1.0, "semantic_classifier": "handmade"}
CONFIGURATIONS |= {
    f"{name}_semantic_handmade": CONFIGURATIONS[name]
    | {"translate": CONFIGURATIONS[name]["translate"] | HANDMADE_READER}
    for name in ("uci_to_mnist", "mnist_to_uci")
}
# the same reader adapted to B's unlabelled train images by FixMatch (the downstream stage's
# handmade_fixmatch arm), never B's labels
FIXMATCH_READER = {"semantic": 1.0, "semantic_classifier": "handmade_fixmatch"}
CONFIGURATIONS |= {
    f"{name}_semantic_fixmatch": CONFIGURATIONS[name]
    | {"translate": CONFIGURATIONS[name]["translate"] | FIXMATCH_READER}
    for name in ("uci_to_mnist", "mnist_to_uci")
}
SCORES = ("fid", "precision", "recall", "label_preservation", "psnr", "ssim")


def run_stages(workspace: Path, overrides: dict[str, Any], stages: tuple[str, ...]) -> float:
    """Run `stages` in `workspace` with the project's params plus `overrides`; seconds taken."""
    import pytest
    from ruamel.yaml import YAML

    started = time.perf_counter()
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(workspace)
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{workspace / 'mlflow.db'}")
        patch.delenv("DVC_EXP_NAME", raising=False)
        yaml = YAML(typ="safe", pure=True)
        yaml.default_flow_style = False
        with open("params.yaml", "w") as handle:
            yaml.dump(merged(project_params(), overrides), handle)
        for stage in stages:
            if load_stage(stage).main(STAGE_ARGS[stage]) != 0:
                raise SystemExit(f"{workspace.name}: stage {stage} failed")
    return time.perf_counter() - started


def with_seed(overrides: dict[str, Any], seed: int) -> dict[str, Any]:
    translate = dict(overrides.get("translate", {})) | {"seed": seed}
    return overrides | {"translate": translate}


def one_configuration(
    scratch: Path,
    name: str,
    seeds: int,
    extra: dict[str, Any] | None = None,
    again: tuple[int, ...] = (),
) -> list[dict[str, Any]]:
    """Every seed's scores and arms of configuration `name` (plus the `extra` overrides);
    `again`: rerun only `downstream` for these seeds, in the workspaces an earlier run left in
    `scratch`."""
    overrides, runs = merged(CONFIGURATIONS[name], extra or {}), []
    if again:
        for seed in again:
            workspace = scratch / f"{name}-{seed}"
            if not (workspace / "data/models/model.pt").is_file():
                raise SystemExit(f"{workspace}: no translator to reuse; run without --again")
            seconds = run_stages(workspace, with_seed(overrides, seed), ("downstream",))
            runs.append(recorded(workspace, seed, seconds))
            print(f"{name} seed {seed}: downstream again, {seconds:.0f} s", flush=True)
        return runs
    first = scratch / f"{name}-0"
    first.mkdir()
    seconds = run_stages(first, with_seed(overrides, 0), STAGE_NAMES)
    for seed in range(seeds):
        workspace = scratch / f"{name}-{seed}"
        if seed:
            shutil.copytree(first, workspace)
            shutil.rmtree(workspace / "data/checkpoints", ignore_errors=True)
            seconds = run_stages(workspace, with_seed(overrides, seed), STAGE_NAMES[3:])
        runs.append(recorded(workspace, seed, seconds))
        print(f"{name} seed {seed}: {seconds:.0f} s", flush=True)
    return runs


def recorded(workspace: Path, seed: int, seconds: float) -> dict[str, Any]:
    """One run's record: its seed, seconds, and the scores of `evaluate` and `downstream`."""
    return {
        "seed": seed,
        "seconds": round(seconds, 1),
        "evaluate": json.loads((workspace / "data/eval/metrics.json").read_text()),
        "downstream": json.loads((workspace / "data/downstream/metrics.json").read_text()),
    }


def spread(values: list[float]) -> str:
    mean = statistics.mean(values)
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{mean:.3f} ± {sd:.3f}"


def table(results: dict[str, list[dict[str, Any]]]) -> str:
    """Markdown: per configuration and method, each score's mean ± sd over seeds; then the
    downstream arms' accuracy on B's test split."""
    lines = ["| task | method | " + " | ".join(SCORES) + " |", "|---" * (len(SCORES) + 2) + "|"]
    for name, runs in results.items():
        for method in runs[0]["evaluate"]:
            cells = []
            for score in SCORES:
                values = [run["evaluate"][method].get(score) for run in runs]
                cells.append("n/a" if None in values else spread(values))
            lines.append(f"| {name} | {method} | " + " | ".join(cells) + " |")
    lines += ["", "| task | arm | accuracy on B's test split |", "|---|---|---|"]
    gains = ["", "| task | gain | per seed: mean ± stderr (t-test) |", "|---|---|---|"]
    for name, runs in results.items():
        for arm, entry in runs[0]["downstream"].items():
            if isinstance(entry, dict) and "accuracy_mean" in entry:
                values = [run["downstream"][arm]["accuracy_mean"] for run in runs]
                lines.append(f"| {name} | {arm} | {spread(values)} |")
            elif isinstance(entry, dict) and "stderr" in entry:
                cells = [run["downstream"][arm] for run in runs]
                said = ", ".join(
                    f"{c['mean'] * 100:+.1f} ± {c['stderr'] * 100:.1f}"
                    + (" (significant)" if c["significant"] else "")
                    for c in cells
                )
                gains.append(f"| {name} | {arm} | {said} |")
    return "\n".join(lines + gains)


def edits(assignments: list[str]) -> dict[str, Any]:
    """`SECTION.KEY=VALUE` assignments (values read as YAML, as `stages_direct.set_params`
    reads them) as overrides for `merged`."""
    overrides: dict[str, Any] = {}
    for assignment in assignments:
        keys, value = parsed_edit(assignment)
        if "=" not in assignment or len(keys) != 2 or not all(keys):
            raise SystemExit(
                f"--set {assignment}: give SECTION.KEY=VALUE, e.g. translate.semantic=3"
            )
        overrides.setdefault(keys[0], {})[keys[1]] = value
    return overrides


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=2, help="translator seeds 0..N-1")
    parser.add_argument("--only", nargs="+", choices=sorted(CONFIGURATIONS), help="configurations")
    parser.add_argument("--out", type=Path, help="JSON record to write")
    parser.add_argument(
        "--alignment",
        action="store_true",
        help="downstream.alignment: also self-training, DANN and FixMatch on B's unlabelled "
        "train images",
    )
    parser.add_argument(
        "--keep",
        type=Path,
        help="keep the workspaces (NAME-SEED) in this folder, not a temporary one",
    )
    parser.add_argument(
        "--again",
        action="store_true",
        help="rerun only the downstream stage in the --keep workspaces of an earlier run "
        "(with --alignment: add the alignment arms to translators already trained)",
    )
    parser.add_argument(
        "--seed", type=int, help="with --again: only this translator seed (one process a seed)"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="a params edit on top of every configuration run (recorded with it)",
    )
    args = parser.parse_args(argv)
    if args.again and not args.keep:
        parser.error("--again needs --keep, the folder of the earlier run's workspaces")
    if args.seed is not None and not args.again:
        parser.error("--seed is for --again; a first run trains seeds 0..N-1 (--seeds)")
    if args.out:  # its folder now, not after hours of training
        args.out.parent.mkdir(parents=True, exist_ok=True)
    seeds = (args.seed,) if args.seed is not None else tuple(range(args.seeds))
    again = seeds if args.again else ()
    names = args.only or list(CONFIGURATIONS)
    extra = merged({"downstream": {"alignment": True}} if args.alignment else {}, edits(args.set))
    with tempfile.TemporaryDirectory(prefix="translation-") as temporary:
        scratch = args.keep or Path(temporary)
        scratch.mkdir(parents=True, exist_ok=True)
        results = {
            name: one_configuration(scratch, name, args.seeds, extra, again) for name in names
        }
    print(table(results))
    if args.out:
        record = {
            "date": date.today().isoformat(),
            "machine": f"{cpu_model()}, {platform.system()}",
            "configurations": {name: merged(CONFIGURATIONS[name], extra) for name in names},
            "results": results,
        }
        args.out.write_text(json.dumps(record, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

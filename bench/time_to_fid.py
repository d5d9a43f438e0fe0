"""How good are the digits after N seconds of training? The quick FID against wall-clock time.

For each configuration (params overrides on top of params.yaml, as `dvc exp run -S` takes
them) and each seed, trains in this process on the workspace's processed data and measures
the `train` stage's quick FID (1,000 fixed latents against the test split, in the
evaluator's feature space) at points along the way. The clock counts training only: each
probe's own time is measured and taken out, so probing often does not shorten a run.

Every configuration gets the same budget: the search's reference's. The built-in list is
the search as it ran, each configuration a change to the default of its day
(`PREVIOUS_DEFAULT`; "mix" is today's default). The reference, that previous default,
trains its full 50 epochs first, once per seed, and the mean of its training seconds is
the budget of the others. Each other configuration is sized to the budget from a short
timed run of its own step (so a learning-rate decay or an EMA's ramp-up spans the budget,
whatever the configuration's speed) and stopped at the first epoch end past it.
Configurations given with --add change params.yaml as it is now.

Needs the processed data and the evaluator (`dvc repro train_evaluator`). Writes every point
to --out .json, the curves to --out .png, and prints the table of docs/benchmarks.md.

    python bench/time_to_fid.py                         # the built-in list, seeds 0 and 1
    python bench/time_to_fid.py --configs previous_default ema --seeds 0
    python bench/time_to_fid.py --add "mine=train.lr=0.0003 model.width=40"
    python bench/time_to_fid.py --throughput            # CPU settings and FLOP/s instead
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import platform
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import torch
from ruamel.yaml import YAML

from ganops.config import Params
from ganops.data.dataset import load_split, read_manifest, to_training_tensor
from ganops.gan import GanState, train
from ganops.gan.loop import epoch_steps, train_step
from ganops.gan.spec import spec_for_data
from ganops.gan.state import build_state_for
from ganops.gan.training import quick_probe
from ganops.metrics.evaluator import LoadedEvaluator, load_evaluator
from ganops.params import load_params, parse_params
from ganops.runs import FanOut

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from reference_work import matmul_flops  # noqa: E402

REFERENCE = "previous_default"
# The search ran from the default of its day; every built-in configuration starts from it,
# whatever params.yaml says now ("mix" is today's default, at the budget's epochs).
PREVIOUS_DEFAULT = [
    "model.upsample=transposed",
    "train.epochs=50",
    "train.lr=0.0002",
    "train.lr_d=null",
    "train.ema_kimg=0",
    "train.lr_decay=0",
]
# name -> overrides of the previous default: the search space, one change at a time
CONFIGS: dict[str, list[str]] = {
    REFERENCE: [],
    "ttur": ["train.lr_d=0.0008"],  # D 4x G's rate (Heusel et al. 2017; SAGAN's 1:4)
    "batch128": ["train.batch_size=128", "train.lr=0.0004"],  # learning rate scaled with it
    "lr_decay": ["train.lr_decay=0.3"],  # linear to 0 over the last 30%
    "nearest": ["model.upsample=nearest"],  # nearest upsampling + 3x3 conv in G
    "wide_g": ["model.width=48", "model.width_d=32"],  # G wider than D
    "ema": ["train.ema_kimg=10"],  # published average with a 10k-image half-life
    "translation": ["train.augment=translation"],  # DiffAugment, translation only
    # then, from a first pass of the above: D faster still, both faster, and mixtures
    "ttur_x8": ["train.lr_d=0.0016"],
    "fast": ["train.lr=0.0005", "train.lr_d=0.001"],
    "nearest_ttur": ["model.upsample=nearest", "train.lr_d=0.0008"],
    "mix": [
        "model.upsample=nearest",
        "train.lr=0.0005",
        "train.lr_d=0.001",
        "train.ema_kimg=10",
        "train.lr_decay=0.3",
    ],
}
# FLOPs a core's vector units can finish per cycle, fp32: Zen 4 has two 256-bit FMA pipes
# (AVX-512 runs on them in two halves): 2 pipes x 8 lanes x 2 (multiply and add)
FP32_FLOP_PER_CYCLE = {"AMD EPYC": 32}


class BudgetReached(Exception):
    """A run spent its budget; the curve so far is its result."""


@dataclass
class Curve:
    """One configuration and seed: quick FID at training seconds (probes excluded)."""

    config: str
    seed: int
    overrides: list[str]
    planned_epochs: int  # sized to the budget (the default: its own)
    epochs: int = 0  # trained before the budget stopped it
    steps_per_s: float = 0.0
    images_per_s: float = 0.0
    probe_s: float = 0.0  # mean seconds of one quick FID
    seconds: list[float] = field(default_factory=list)
    steps: list[int] = field(default_factory=list)
    fid: list[float] = field(default_factory=list)


def configured(base: dict[str, Any], overrides: list[str]) -> Params:
    """params.yaml's mapping with `key=value` overrides (YAML values, as `dvc exp run -S`)."""
    raw = json.loads(json.dumps(base))
    for override in overrides:
        key, _, text = override.partition("=")
        *sections, name = key.split(".")
        node = raw
        for section in sections:
            node = node.setdefault(section, {})
        node[name] = YAML(typ="safe", pure=True).load(text)
    return parse_params(raw, origin="override")


class ClockedProbe:
    """The stage's quick probe, timed. Called at every epoch end, it measures every `every`
    epochs, at the last one, and at the first epoch end past `budget`, where it stops the
    run; it records (training seconds, step, FID) of each measurement."""

    def __init__(
        self, measure: Any, curve: Curve, budget: float | None, state: GanState, every: int
    ) -> None:
        self.measure, self.curve, self.budget, self.state = measure, curve, budget, state
        self.every, self.epochs_done = every, 0
        self.last: dict[str, float] = {}
        self.restart()

    def restart(self) -> None:
        """Start the training clock now."""
        self.started, self.probing = time.perf_counter(), 0.0

    def __call__(self, generator: torch.nn.Module) -> dict[str, float]:
        began = time.perf_counter()
        trained = began - self.started - self.probing
        over = self.budget is not None and trained >= self.budget
        due = self.epochs_done % self.every == 0 or self.epochs_done == self.curve.planned_epochs
        self.epochs_done += 1
        if self.last and not (over or due):
            return self.last  # nothing measured: the training clock runs on
        self.last = self.measure(generator)
        self.probing += time.perf_counter() - began
        self.curve.seconds.append(round(trained, 2))
        self.curve.steps.append(self.state.step)
        self.curve.fid.append(round(self.last["quick_fid"], 3))
        if over:
            raise BudgetReached
        return self.last


def timed_steps(state: GanState, batch: torch.Tensor, cfg: Any, steps: int) -> tuple[float, float]:
    """Seconds of 3 untimed first steps (compilation, allocation), then seconds per step of
    `steps` more, all on `batch`."""
    started = time.perf_counter()
    for _ in range(3):
        train_step(state, batch, cfg)
    warm = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(steps):
        train_step(state, batch, cfg)
    return warm, (time.perf_counter() - started) / steps


def seconds_per_step(params: Params, data: torch.Tensor, spec: Any, steps: int = 30) -> float:
    """A short timed run of the configuration's step on a throwaway state."""
    state = build_state_for(params, spec, data.device)
    return timed_steps(state, data[: params.train.batch_size], params.train, steps)[1]


def run_curve(
    name: str,
    overrides: list[str],
    seed: int,
    budget: float | None,
    inputs: tuple[dict[str, Any], torch.Tensor, dict[str, Any], LoadedEvaluator],
    points: int,
    start: list[str],
) -> Curve:
    """Train one configuration (`start`, then `overrides`) with one seed; budget None = its
    own `train.epochs`."""
    base, data, manifest, evaluator = inputs
    params = configured(base, [*start, *overrides, f"train.seed={seed}"])
    spec = spec_for_data(params, manifest, data.shape[0])
    per_epoch = epoch_steps(data.shape[0], params.train)
    epochs = params.train.epochs
    if budget is not None:
        epochs = max(1, round(budget / (seconds_per_step(params, data, spec) * per_epoch)))
    every = max(1, epochs // points)
    params = params.model_copy(  # the probe is asked at every epoch end, and picks
        update={"train": params.train.model_copy(update={"epochs": epochs, "eval_every": 1})}
    )
    curve = Curve(name, seed, overrides, epochs)
    probe = quick_probe(params, evaluator, spec, data.device)
    assert probe is not None
    state = build_state_for(params, spec, data.device)
    clocked = ClockedProbe(probe.measure, curve, budget, state, every)
    clocked(state.published)  # the untrained generator, at 0 s
    clocked.restart()
    clocked.epochs_done = 1  # so that the first measurement comes after `every` epochs
    probe.measure = clocked
    with contextlib.suppress(BudgetReached):
        train(state, data, params.train, FanOut(), None, probe, progress=False)
    trained = curve.seconds[-1]
    curve.epochs = state.step // per_epoch
    curve.steps_per_s = round(state.step / trained, 2)
    curve.images_per_s = round(state.step * params.train.batch_size / trained, 1)
    curve.probe_s = round(clocked.probing / max(1, len(curve.fid) - 1), 3)
    return curve


def load_inputs(processed: Path, evaluator_path: Path) -> tuple[Any, ...]:
    for path in (processed, evaluator_path):
        if not path.exists():
            raise SystemExit(f"{path} is missing: run `dvc repro train_evaluator` first")
    manifest = read_manifest(processed)
    data = to_training_tensor(load_split(processed, "train").images, torch.device("cpu"))
    base = load_params(ROOT / "params.yaml").model_dump(mode="json")
    # the search is of unconditional GANs, as it was measured: the default's conditional
    # recipe (model.conditional auto, its mode-seeking and class terms) is left out
    base["model"]["conditional"] = False
    base["train"].update(mode_seeking=0.0, class_loss=0.0)
    return base, data, manifest, load_evaluator(evaluator_path)


def save(record: Path, budget: float, curves: list[Curve]) -> None:
    """Every point so far, with the budget, as JSON (what --replot reads)."""
    payload = {"budget_s": budget, "curves": [asdict(curve) for curve in curves]}
    record.write_text(json.dumps(payload, indent=1) + "\n")


def final(curve: Curve) -> float:
    return curve.fid[-1]


def table(curves: list[Curve], budget: float) -> str:
    """The markdown table: one row per configuration, each seed's quick FID at the budget."""
    lines = [
        f"| configuration | overrides | epochs in the {budget:.0f} s | seconds | img/s | "
        "quick FID at the end, per seed | mean | best along the way |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name in dict.fromkeys(curve.config for curve in curves):
        mine = [curve for curve in curves if curve.config == name]
        finals = [final(curve) for curve in mine]
        overrides = " ".join(f"`{item}`" for item in mine[0].overrides) or "(none)"
        epochs = ", ".join(str(curve.epochs) for curve in mine)
        seconds = ", ".join(f"{curve.seconds[-1]:.0f}" for curve in mine)
        speed = statistics.mean(curve.images_per_s for curve in mine)
        per_seed = ", ".join(f"{value:.2f}" for value in finals)
        best = min(min(curve.fid[1:]) for curve in mine)  # [0] is the untrained G
        lines.append(
            f"| {name} | {overrides} | {epochs} | {seconds} | {speed:,.0f} | {per_seed} | "
            f"{statistics.mean(finals):.2f} | {best:.2f} |"
        )
    return "\n".join(lines)


def plot(curves: list[Curve], budget: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(11, 5.5), dpi=110)
    names = list(dict.fromkeys(curve.config for curve in curves))
    palette = [*plt.get_cmap("tab10").colors, "navy", "magenta", "lime", "gold"]
    for index, name in enumerate(names):
        for curve in (curve for curve in curves if curve.config == name):
            style = "-" if curve.seed == curves[0].seed else "--"
            axes.plot(
                curve.seconds[1:],
                curve.fid[1:],
                style,
                color="black" if name == REFERENCE else palette[index % len(palette)],
                label=name if style == "-" else None,
                linewidth=2.2 if name == REFERENCE else 1.3,
            )
    axes.axvline(budget, color="grey", linewidth=0.8, linestyle=":")
    axes.set_yscale("log")
    axes.set_xlabel("training seconds on this machine (probes excluded); dotted: the budget")
    axes.set_ylabel("quick FID (1,000 samples; lower is better)")
    axes.set_title("Quick FID against training time (solid: first seed, dashed: second)")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def cpu_peak() -> tuple[float | None, str]:
    """Theoretical fp32 peak of this machine's cores, and how it was computed."""
    name = platform.processor()
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None, "no /proc/cpuinfo"
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in info.splitlines()
            if line.startswith("model name")
        ),
        name,
    )
    mhz = max(
        float(line.split(":", 1)[1]) for line in info.splitlines() if line.startswith("cpu MHz")
    )
    per_cycle = next((flops for key, flops in FP32_FLOP_PER_CYCLE.items() if key in model), None)
    threads = torch.get_num_threads()
    if per_cycle is None:
        return None, f"{model}: FLOP per cycle unknown"
    peak = threads * mhz * 1e6 * per_cycle
    return peak, f"{model}: {threads} cores x {mhz:.0f} MHz x {per_cycle} fp32 FLOP/cycle"


def throughput(inputs: tuple[Any, ...], steps: int) -> str:
    """Images per second of the default's step under CPU settings, and its FLOP/s."""
    from torch.utils.flop_counter import FlopCounterMode

    base, data, manifest, _ = inputs
    settings = {
        "2 threads (torch's default here)": ([], 2),
        "1 thread": ([], 1),
        "channels-last": (["run.channels_last=on"], 2),
        "torch.compile": (["run.compile=on"], 2),
    }
    threads = torch.get_num_threads()
    rows = [
        "| setting | img/s | first steps (compile) | model FLOP/s |",
        "| --- | --- | --- | --- |",
    ]
    for label, (overrides, count) in settings.items():
        torch.set_num_threads(count)
        params = configured(base, overrides)
        spec = spec_for_data(params, manifest, data.shape[0])
        state = build_state_for(params, spec, data.device)
        batch = data[: params.train.batch_size]
        warm, per_step = timed_steps(state, batch, params.train, steps)
        with FlopCounterMode(display=False) as counter:
            train_step(state, batch, params.train)
        flops = counter.get_total_flops() / per_step
        rows.append(
            f"| {label} | {params.train.batch_size / per_step:,.0f} | {warm:.1f} s | "
            f"{flops / 1e9:.1f} GFLOP/s |"
        )
    torch.set_num_threads(threads)
    peak, how = cpu_peak()
    reached = matmul_flops()
    rows.append("")
    rows.append(f"fp32 matrix multiply (2048²): {reached / 1e9:.1f} GFLOP/s")
    if peak:
        rows.append(f"theoretical fp32 peak: {peak / 1e9:.1f} GFLOP/s ({how})")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), help="names to run")
    parser.add_argument(
        "--add",
        action="append",
        default=[],
        metavar="NAME=K=V K=V",
        help="another configuration: a name, then space-separated overrides",
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--budget", type=float, help="seconds; default: the default's own time")
    parser.add_argument("--points", type=int, default=10, help="quick FIDs along each run")
    parser.add_argument("--processed", type=Path, default=ROOT / "data/processed")
    parser.add_argument("--evaluator", type=Path, default=ROOT / "data/models/evaluator.pt")
    parser.add_argument("--out", type=Path, default=ROOT / "docs/time_to_fid")
    parser.add_argument("--throughput", action="store_true", help="CPU settings, not curves")
    parser.add_argument(
        "--replot", action="store_true", help="redraw the curves and table from --out .json"
    )
    parser.add_argument("--steps", type=int, default=60, help="timed steps per setting")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    configs = {name: CONFIGS[name] for name in args.configs if name in CONFIGS}
    unknown = [name for name in args.configs if name not in CONFIGS]
    if unknown:
        parser.error(f"--configs: unknown {', '.join(unknown)} (known: {', '.join(CONFIGS)})")
    starts = {name: PREVIOUS_DEFAULT for name in configs}  # the search's starting point
    for extra in args.add:
        name, _, overrides = extra.partition("=")
        configs[name], starts[name] = overrides.split(), []  # params.yaml as it is now
    record = args.out.with_suffix(".json")
    if args.replot:
        saved = json.loads(record.read_text())
        curves = [Curve(**curve) for curve in saved["curves"]]
        plot(curves, saved["budget_s"], args.out.with_suffix(".png"))
        print(table(curves, saved["budget_s"]))
        return 0
    torch.manual_seed(0)
    inputs = load_inputs(args.processed, args.evaluator)
    print(
        f"# {date.today()}, {platform.node()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads"
    )
    if args.throughput:
        print(throughput(inputs, args.steps))
        return 0
    curves: list[Curve] = []
    budget = args.budget
    if budget is None:
        if REFERENCE not in configs:
            parser.error(f"without --budget, {REFERENCE} must run to set it")
        for seed in args.seeds:
            curve = run_curve(REFERENCE, [], seed, None, inputs, args.points, PREVIOUS_DEFAULT)
            curves.append(curve)
            print(
                f"{REFERENCE} seed {seed}: {curve.seconds[-1]:.0f} s, quick FID {final(curve):.2f}",
                flush=True,
            )
        budget = statistics.mean(curve.seconds[-1] for curve in curves)
    for name, overrides in configs.items():
        if name == REFERENCE and curves:
            continue
        for seed in args.seeds:
            curves.append(
                run_curve(name, overrides, seed, budget, inputs, args.points, starts[name])
            )
            print(
                f"{name} seed {seed}: {curves[-1].epochs} epochs, "
                f"{curves[-1].seconds[-1]:.0f} s, quick FID {final(curves[-1]):.2f}",
                flush=True,
            )
            save(record, budget, curves)  # after each run, so a stopped search keeps them
    save(record, budget, curves)
    plot(curves, budget, args.out.with_suffix(".png"))
    print(table(curves, budget))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

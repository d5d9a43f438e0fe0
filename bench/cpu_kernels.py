"""What the CPU kernel pins cost, and what channels-last gains, on the default's CPU step.

The default's training step (params.yaml as it is: the conditional GAN on mnist-5k's real
digits and labels, batch 64) in four settings, each in a fresh process, because the pins are
read once, when torch first computes:
  pinned        ganops' own pins (ATen and oneDNN at AVX2, MKL's COMPATIBLE branch, OpenBLAS
                at Haswell: `ganops.CPU_KERNEL_PINS`)
  unpinned      the CPU's widest kernels (`ATEN_CPU_CAPABILITY` = the CPU's own, oneDNN and
                MKL unrestricted), what torch does without ganops (OpenBLAS, which the step
                does not use, keeps its pin)
each with `run.channels_last` off and on. With --compiled, two more: the channels-last step
compiled (`run.compile: on`, inductor's C++ code), pinned and unpinned (or the one named
after --compiled); inductor writes its vector code for the ISA that ATEN_CPU_CAPABILITY
names, so the pins hold it to AVX2 too. Each compiled setting has an inductor cache of its
own for the run: its first round compiles from nothing, as a stage does on a fresh machine,
and the later ones find the cache.

The settings take turns over --rounds rounds, so a drift in the machine's speed reaches all
alike. Each process, on torch's threads, runs 3 untimed steps, then --steps timed ones on
fixed batches, and prints the seconds of the first 3 steps, its images per second and a
digest of both networks' weights after the run: the same setting twice must give the same
digest (run-to-run bitwise), while other kernels, another memory order or compiled code
round differently.

Usage:
    python bench/cpu_kernels.py [--rounds 3] [--steps 40] [--compiled [pinned|unpinned]]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ganops.device import cpu_model

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = [("pinned", "off"), ("pinned", "on"), ("unpinned", "off"), ("unpinned", "on")]


def widest_kernels() -> dict[str, str]:
    """The pins overridden: each library's own choice on this CPU (ATen's widest from the
    CPU's kind)."""
    from ganops.device import cpu_kind

    aten = "avx512" if cpu_kind() == "AVX-512" else "avx2"
    return {"ATEN_CPU_CAPABILITY": aten, "DNNL_MAX_CPU_ISA": "ALL", "MKL_CBWR": "AUTO"}


def default_step(run: dict[str, str]) -> tuple[Any, list[tuple[Any, Any]], Any]:
    """The default's GAN state (params.yaml with `run`'s keys changed), 8 batches of the real
    digits with their labels, and the train config: what a timed step needs."""
    import torch

    from ganops.data.dataset import to_training_tensor
    from ganops.data.sources import fetch_source, get_source
    from ganops.gan.spec import spec_for_data
    from ganops.gan.state import build_state_for
    from ganops.params import load_params

    params = load_params(ROOT / "params.yaml")
    params = params.model_copy(update={"run": params.run.model_copy(update=run)})
    with tempfile.TemporaryDirectory() as raw:
        fetch_source(params.data, Path(raw) / "raw")
        digits = get_source(params.data.source).load(Path(raw) / "raw")
    manifest = {"image_shape": list(digits.images.shape[1:]), "class_names": digits.class_names}
    spec = spec_for_data(params, manifest, len(digits.images))
    state = build_state_for(params, spec, torch.device("cpu"))
    size = params.train.batch_size
    data = to_training_tensor(digits.images, torch.device("cpu"))  # (N, 1, 28, 28) in [-1, 1]
    labels = torch.from_numpy(digits.labels)
    batches = [(data[i : i + size], labels[i : i + size]) for i in range(0, 8 * size, size)]
    return state, batches, params.train


def weights_digest(networks: tuple[Any, ...]) -> str:
    """sha256 of the networks' state dicts, one after another, as 16 hex digits."""
    digest = hashlib.sha256()
    for network in networks:
        for tensor in network.state_dict().values():
            digest.update(tensor.detach().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def timed_steps(
    state: Any, batches: list[tuple[Any, Any]], cfg: Any, steps: int
) -> dict[str, object]:
    """3 untimed steps (allocation, oneDNN's primitive cache, a compilation), then `steps`
    timed ones: the first steps' seconds, images per second, a step's milliseconds and the
    weights' digest."""
    import torch

    from ganops.gan.loop import train_step

    started = time.perf_counter()
    for step in range(3):
        images, classes = batches[step % 8]
        train_step(state, images, cfg, classes)
    first = time.perf_counter() - started
    started = time.perf_counter()
    for step in range(steps):
        images, classes = batches[step % 8]
        values = train_step(state, images, cfg, classes)
    values.tolist()  # the step's results, read: every kernel has run
    seconds = time.perf_counter() - started
    return {
        "first_s": first,
        "images_per_s": steps * cfg.batch_size / seconds,
        "step_ms": 1000 * seconds / steps,
        "digest": weights_digest((state.generator, state.discriminator)),
        "aten": torch.backends.cpu.get_cpu_capability(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }


def worker(layout: str, steps: int) -> dict[str, object]:
    """One setting in this process (`layout`: channels-last off, on, or on and compiled)."""
    run = {"channels_last": "off" if layout == "off" else "on"}
    if layout == "compiled":
        run["compile"] = "on"
    return timed_steps(*default_step(run), steps)


def run_setting(
    pins: str, layout: str, steps: int, widest: dict[str, str], cache: Path
) -> dict[str, object]:
    """`worker` in a fresh process with the setting's environment and inductor cache."""
    env = dict(os.environ)
    for name in widest:
        env.pop(name, None)  # absent: ganops sets its pins
    if pins == "unpinned":
        env.update(widest)
    env["TORCHINDUCTOR_CACHE_DIR"] = str(cache / f"{pins}-{layout}")
    command = [sys.executable, __file__, "--worker", layout, "--steps", str(steps)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{pins}, channels-last {layout}: {done.stderr.strip()[-400:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def cpu_name() -> str:
    return cpu_model()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="turns of the settings")
    parser.add_argument("--steps", type=int, default=40, help="timed steps a process")
    parser.add_argument("--compiled", nargs="*", choices=["pinned", "unpinned"],
                        help="the compiled step too (pinned, unpinned: those alone)")  # fmt: skip
    parser.add_argument("--worker", choices=["off", "on", "compiled"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.steps)))
        return 0
    widest = widest_kernels()
    compiled = [] if args.compiled is None else args.compiled or ["pinned", "unpinned"]
    settings = SETTINGS + [(pins, "compiled") for pins in compiled]
    runs: dict[tuple[str, str], list[dict[str, object]]] = {key: [] for key in settings}
    with tempfile.TemporaryDirectory(prefix="inductor-") as cache:
        for round_ in range(args.rounds):
            for pins, layout in settings:
                result = run_setting(pins, layout, args.steps, widest, Path(cache))
                runs[(pins, layout)].append(result)
                print(f"round {round_ + 1}: {pins}, channels-last {layout}: {result}")
    first = next(iter(runs.values()))[0]
    print(
        f"\n{cpu_name()}, {os.cpu_count()} cores, torch {first['torch']}, {first['threads']} "
        f"threads; {args.steps} timed steps a process, {args.rounds} rounds"
    )
    print(
        "| kernels | channels-last | ATen | img/s (median; each round) | weights digest "
        "| first 3 steps (each round) |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    reference = statistics.median(float(r["images_per_s"]) for r in runs[("pinned", "off")])
    for (pins, layout), results in runs.items():
        speeds = [float(r["images_per_s"]) for r in results]
        digests = sorted({str(r["digest"]) for r in results})
        median = statistics.median(speeds)
        each = ", ".join(f"{speed:,.0f}" for speed in speeds)
        firsts = ", ".join(f"{float(r['first_s']):.1f}" for r in results)
        label = "on, compiled" if layout == "compiled" else layout
        print(
            f"| {pins} | {label} | {results[0]['aten']} | {median:,.0f} ({each}); "
            f"{median / reference:.2f}x | {' / '.join(digests)} | {firsts} s |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Does a GPU repeat its own bytes? The `train` stage's loop, twice from the same seed.

docs/gpu.md says a GPU run may differ in the last bits from run to run, and that
`run.deterministic: true` makes it repeat its own bytes. This trains the project's loop
(the DCGAN at --size px, every `auto` switch: bf16 autocast, channels-last, compiled) for
--steps steps, in a fresh process each time, twice with `deterministic` off and twice with
it on, and prints the digest of each generator's weights and the time each took.

Usage:
    python bench/gpu_repeat.py [--size 64] [--steps 40]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from ganops.config import DataConfig, RunConfig, TrainConfig
from ganops.data.dataset import to_training_tensor
from ganops.data.processing import center_crop_resize
from ganops.data.sources import fetch_source, get_source
from ganops.device import configure_backends, resolve_device
from ganops.gan import build_state, train
from ganops.models import GeneratorSpec
from ganops.runs import FanOut


def digest(module: torch.nn.Module) -> str:
    """sha256 of the weights and buffers, in state-dict order, as float32 bytes."""
    sha = hashlib.sha256()
    for tensor in module.state_dict().values():
        sha.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
    return sha.hexdigest()[:16]


def one_run(
    size: int, steps: int, deterministic: bool, switches: dict[str, str]
) -> dict[str, object]:
    device = resolve_device("auto")
    configure_backends(device, deterministic)  # before CUDA starts: cuBLAS reads its workspace
    with tempfile.TemporaryDirectory() as raw:
        fetch_source(DataConfig(), Path(raw) / "raw")
        digits = get_source("mnist-5k").load(Path(raw) / "raw").images
    batch = 64
    data = to_training_tensor(center_crop_resize(digits[: steps * batch], size), device)
    spec = GeneratorSpec("dcgan", 100, 64, (1, size, size))
    cfg = TrainConfig(batch_size=batch, epochs=1, eval_every=0, grid_size=16)
    run = RunConfig(deterministic=deterministic, **switches)
    state = build_state(spec, cfg, device, run=run)
    started = time.perf_counter()
    train(state, data, cfg, FanOut(), progress=False)
    seconds = time.perf_counter() - started
    return {"digest": digest(state.generator), "seconds": round(seconds, 1)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--channels-last", default="auto", choices=["auto", "on", "off"])
    parser.add_argument("--compile", default="auto", choices=["auto", "on", "off"])
    parser.add_argument("--child", choices=["on", "off"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        switches = {"channels_last": args.channels_last, "compile": args.compile}
        print(json.dumps(one_run(args.size, args.steps, args.child == "on", switches)))
        return
    print(f"DCGAN {args.size}px, {args.steps} steps of 64, torch {torch.__version__}")
    print("| deterministic | run 1 | run 2 | same bytes |")
    print("| --- | --- | --- | --- |")
    for mode in ("off", "on"):
        runs = []
        for _ in range(2):
            command = [sys.executable, __file__, "--size", str(args.size)]
            command += ["--steps", str(args.steps), "--child", mode]
            command += ["--channels-last", args.channels_last, "--compile", args.compile]
            out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
            runs.append(json.loads(out.strip().splitlines()[-1]))
        same = runs[0]["digest"] == runs[1]["digest"]
        cells = [f"{run['digest']} ({run['seconds']} s)" for run in runs]
        print(f"| {mode} | {cells[0]} | {cells[1]} | {'yes' if same else 'no'} |", flush=True)


if __name__ == "__main__":
    main()

"""Images per second of the project's training step, against a tutorial-style training loop.

Side by side, in one process, for the same DCGAN, batch size, device and real MNIST digits
(mnist-5k, which ships offline):
  ganops      the `train` stage's loop (`ganops.gan.train`): the training set on the
              device as one tensor, a seeded permutation sliced into batches, channels-last and
              fused Adam, and on CUDA bf16 autocast (the `auto` params; --compile on adds
              torch.compile);
              losses read back every --log-every steps;
  reference   the loop the tutorials write (pytorch/examples dcgan): a torchvision `MNIST`
              dataset with per-image transforms (Resize, ToTensor, Normalize) behind a
              `DataLoader` (2 workers, shuffled), each batch copied to the device, plain fp32
              steps, and the losses read with `.item()` every step to print them.
Both run one untimed epoch first (compilation, worker start-up), then --epochs timed
epochs of --steps steps each. On CUDA it also reports the model FLOP/s the project's step
achieves (counted with torch.utils.flop_counter) against the GPU's dense bf16 peak.

--cpu-steps N times the project's loop on the CPU too (N steps an epoch), and --ablate
turns each of the device's switches (autocast, channels-last, compile) off in turn.

Usage:
    python bench/train_throughput.py [--sizes 28 64 128 256] [--batch-size 128] [--steps 20]
        [--cpu-steps 4] [--ablate]
"""

from __future__ import annotations

import argparse
import logging
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode
from torchvision import datasets, transforms

from ganops.config import DataConfig, RunConfig, TrainConfig
from ganops.data.dataset import to_training_tensor
from ganops.data.formats import idx_bytes
from ganops.data.processing import center_crop_resize
from ganops.data.sources import fetch_source, get_source
from ganops.device import configure_backends, resolve_device
from ganops.gan import GanState, build_state, train
from ganops.gan.loop import train_step
from ganops.models import GeneratorSpec, build_discriminator, build_generator
from ganops.runs import FanOut

# The models: the pipeline's default sizes at 28 px; pytorch/examples' dcgan (nz 100) at 64
# and 128; at 256 px half its width (the layer next to the noise has 32 x 2^5 channels).
MODELS = {28: (64, 32), 64: (100, 64), 128: (100, 64), 256: (100, 32)}  # size -> (z, width)
SWITCHES = ("autocast", "channels_last", "compile")
SWITCHES_ON = ("auto", "on", "off")
# Dense bf16 tensor-core peaks from the vendors' data sheets, FLOP/s.
PEAK_BF16 = {"H200": 989e12, "H100 PCIe": 756e12, "H100": 989e12, "A100": 312e12, "L4": 121e12}


def mnist_digits() -> np.ndarray:
    """The 5,000 mnist-5k digits `(5000, 1, 28, 28)` uint8, fetched the pipeline's way."""
    with tempfile.TemporaryDirectory() as raw:
        fetch_source(DataConfig(), Path(raw) / "raw")
        return get_source("mnist-5k").load(Path(raw) / "raw").images


def write_idx(root: Path, images: np.ndarray) -> None:
    """The digits as the four IDX files torchvision's `MNIST` reads from `root/MNIST/raw`."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    count = len(images)
    for split in ("train", "t10k"):
        (raw / f"{split}-images-idx3-ubyte").write_bytes(idx_bytes(images[:, 0]))  # (N, 28, 28)
        labels = np.zeros(count, np.uint8)  # unconditional GAN: labels unused
        (raw / f"{split}-labels-idx1-ubyte").write_bytes(idx_bytes(labels))


def project_images_per_s(
    digits: np.ndarray,
    spec: GeneratorSpec,
    configs: tuple[TrainConfig, RunConfig],
    device: torch.device,
    epochs: int,
) -> tuple[float, GanState]:
    """The stage's loop on `digits` resized to the spec's size: one warm-up epoch, then timed."""
    cfg, run = configs
    data = to_training_tensor(center_crop_resize(digits, spec.image_shape[1]), device)
    state = build_state(spec, cfg.model_copy(update={"epochs": 1}), device, run=run)
    every = run.log_every
    train(
        state, data, cfg.model_copy(update={"epochs": 1}), FanOut(), progress=False, log_every=every
    )
    started = time.perf_counter()
    longer = cfg.model_copy(update={"epochs": 1 + epochs})
    train(state, data, longer, FanOut(), progress=False, log_every=every)
    seconds = time.perf_counter() - started  # train() ends on a read of the losses: synced
    return epochs * len(data) // cfg.batch_size * cfg.batch_size / seconds, state


def reference_images_per_s(
    root: Path, spec: GeneratorSpec, cfg: TrainConfig, device: torch.device, epochs: int
) -> float:
    """pytorch/examples' dcgan loop on the same digits and networks, plain fp32."""
    size = spec.image_shape[1]
    dataset = datasets.MNIST(
        str(root),
        train=True,
        download=False,
        transform=transforms.Compose(
            [transforms.Resize(size), transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))]
        ),
    )
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=cfg.batch_size, shuffle=True, num_workers=2, drop_last=True
    )
    torch.manual_seed(0)
    generator = build_generator(spec).to(device)
    discriminator = build_discriminator(spec).to(device)
    betas = (cfg.beta1, cfg.beta2)
    opt_g = torch.optim.Adam(generator.parameters(), lr=cfg.lr, betas=betas)
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=cfg.lr, betas=betas)

    def bce(logits: torch.Tensor, target: float) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))

    def epoch() -> int:
        images = 0
        for real, _ in loader:
            real = real.to(device)
            # update D: real, then fake, as the tutorial does
            discriminator.zero_grad()
            loss_real = bce(discriminator(real), 1.0)
            loss_real.backward()
            fake = generator(torch.randn(real.shape[0], spec.latent_dim, device=device))
            loss_fake = bce(discriminator(fake.detach()), 0.0)
            loss_fake.backward()
            opt_d.step()
            # update G
            generator.zero_grad()
            loss_g = bce(discriminator(fake), 1.0)
            loss_g.backward()
            opt_g.step()
            _ = (loss_real.item() + loss_fake.item(), loss_g.item())  # printed every step
            images += real.shape[0]
        return images

    epoch()  # warm-up: worker start-up, allocator, cuDNN autotuning
    started = time.perf_counter()
    images = sum(epoch() for _ in range(epochs))
    return images / (time.perf_counter() - started)


def flops_per_step(state: GanState, cfg: TrainConfig, batch: torch.Tensor) -> float:
    """Model FLOPs of one training step (both forward passes of D, G's, and the backwards)."""
    with FlopCounterMode(display=False) as counter:
        train_step(state, batch, cfg)
    return float(counter.get_total_flops())


def peak_flops(device: torch.device) -> tuple[str, float | None]:
    if device.type != "cuda":
        return platform.processor() or platform.machine(), None
    name = torch.cuda.get_device_name(device)
    peak = next((flops for key, flops in PEAK_BF16.items() if key in name), None)
    return name, peak


def bench_config(args: argparse.Namespace, **switches: str) -> tuple[TrainConfig, RunConfig]:
    """The reference's loss and networks (batch-norm D): the same work; `switches` override
    the switches the command line gives (autocast, channels_last, compile)."""
    switches = {name: getattr(args, name) for name in SWITCHES} | switches
    cfg = TrainConfig(loss="nonsaturating", batch_size=args.batch_size, eval_every=0, grid_size=16)
    return cfg, RunConfig(log_every=args.log_every, **switches)


def peak_memory_gib(device: torch.device) -> float:
    """The most memory the device's allocator held since the last reset, GiB (0 on CPU)."""
    if device.type != "cuda":
        return 0.0
    return torch.cuda.max_memory_allocated(device) / 2**30


def measure(
    size: int, digits: np.ndarray, root: Path, args: argparse.Namespace, device: torch.device
) -> dict[str, float]:
    latent_dim, width = MODELS[size]
    spec = GeneratorSpec("dcgan", latent_dim, width, (1, size, size))
    configs = bench_config(args)
    cfg = configs[0]
    subset = digits[: args.steps * args.batch_size]  # an epoch is --steps steps
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    ours, state = project_images_per_s(subset, spec, configs, device, args.epochs)
    result = {"ours": ours, "memory_gib": peak_memory_gib(device)}
    with tempfile.TemporaryDirectory() as tmp:
        write_idx(Path(tmp), subset)
        result["reference"] = reference_images_per_s(Path(tmp), spec, cfg, device, args.epochs)
    batch = to_training_tensor(center_crop_resize(subset[: args.batch_size], size), device)
    result["flops_per_image"] = flops_per_step(state, cfg, batch) / args.batch_size
    if args.cpu_steps and device.type != "cpu":
        cpu_subset = digits[: args.cpu_steps * args.batch_size]
        result["cpu"], _ = project_images_per_s(cpu_subset, spec, configs, torch.device("cpu"), 1)
    if args.ablate:
        for switch in (name for name in SWITCHES if getattr(args, name) != "off"):
            off = bench_config(args, **{switch: "off"})
            result[f"no {switch}"], _ = project_images_per_s(subset, spec, off, device, 1)
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[28, 64], choices=sorted(MODELS))
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=20, help="steps per timed epoch")
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs per path")
    parser.add_argument("--log-every", type=int, default=50, help="the project's run.log_every")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument(
        "--cpu-steps", type=int, default=0, help="also time the loop on the CPU, N steps an epoch"
    )
    for switch in SWITCHES:
        parser.add_argument(f"--{switch.replace('_', '-')}", default="auto", choices=SWITCHES_ON)
    parser.add_argument(
        "--ablate", action="store_true", help="also time it with each switch off in turn"
    )
    args = parser.parse_args(argv)
    if args.steps * args.batch_size > 5000:
        parser.error("--steps x --batch-size must be at most 5000 (the mnist-5k digits)")
    logging.basicConfig(level=logging.WARNING)
    device = resolve_device(args.device, key="--device")
    configure_backends(device, deterministic=False)
    machine, peak = peak_flops(device)
    digits = mnist_digits()
    threads = torch.get_num_threads()
    print(f"device: {device} ({machine}), {threads} threads, torch {torch.__version__}")
    print(f"batch {args.batch_size}, {args.epochs} timed epochs of {args.steps} steps per path\n")
    print("| model | ganops img/s | reference img/s | ratio | ganops model FLOP/s | peak GiB |")
    print("| --- | --- | --- | --- | --- | --- |")
    results = {}
    for size in args.sizes:
        result = results[size] = measure(size, digits, Path(tempfile.gettempdir()), args, device)
        achieved = result["ours"] * result["flops_per_image"]
        share = f" ({achieved / peak:.1%} of {peak / 1e12:.0f} TFLOP/s bf16 peak)" if peak else ""
        latent_dim, width = MODELS[size]
        print(
            f"| DCGAN {size}x{size} (z {latent_dim}, width {width}) | {result['ours']:,.0f} "
            f"| {result['reference']:,.0f} | {result['ours'] / result['reference']:.2f}x "
            f"| {achieved / 1e12:.3f} T{share} | {result['memory_gib']:.2f} |",
            flush=True,
        )
    extra = [key for key in next(iter(results.values())) if key == "cpu" or key.startswith("no ")]
    if extra:
        print(f"\nThe same loop, img/s (the ganops column above, on {device} = 1.00x):\n")
        print("| model | " + " | ".join(extra) + " |")
        print("| --- |" + " --- |" * len(extra))
        for size, result in results.items():
            cells = [f"{result[key]:,.0f} ({result[key] / result['ours']:.2f}x)" for key in extra]
            print(f"| DCGAN {size}x{size} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()

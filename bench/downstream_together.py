"""Whether the downstream stage's classifiers train faster together than one after another.

The stage trains arms x seeds classifiers of the evaluator's architecture (the default: 3 x 3,
400 steps of 128 images each at 28 px, width 16), one after another. Side by side, in one run,
on the same random batches, the time of one training step of all of them:
  one after another   each network's own step, as `classifier_arms.train_arm` takes it
                      (channels-last, fused Adam);
  one grouped network the K networks as one: every convolution with groups=K and K times the
                      channels, each batch norm over its K*C channels, the linear layers as
                      batched matrix products, one fused Adam (elementwise, so K Adams);
  torch.func.vmap     `stack_module_state` + `functional_call` under `vmap`: forward and
                      backward only (no optimiser; batch norm in eval mode, which vmap needs).
Before timing, the grouped network is loaded with the K networks' weights and must give their
logits (eval mode) to float rounding: the comparison is of the same computation.

Prints the machine, one line per way and, with --markdown, the docs table's rows. Usage:
    python bench/downstream_together.py [--classifiers 9] [--steps 20] [--markdown]
        [--device cuda]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad_and_value, stack_module_state, vmap

from ganops.device import adam
from ganops.metrics.evaluator import FEATURE_DIM, Evaluator, EvaluatorSpec

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference_work import cpu_name

BATCH, WIDTH, SIDE, CLASSES = 128, 16, 28, 10  # the default's downstream classifiers


class Grouped(nn.Module):
    """`count` evaluator-architecture networks as one: images `(B, count, H, W)` (network k
    reads channel k) -> logits `(count, B, classes)`."""

    def __init__(self, count: int, width: int, classes: int) -> None:
        super().__init__()
        self.count = count

        def block(inner: int, outer: int) -> list[nn.Module]:
            return [
                nn.Conv2d(count * inner, count * outer, 3, padding=1, bias=False, groups=count),
                nn.BatchNorm2d(count * outer),
                nn.ReLU(),
            ]

        self.body = nn.Sequential(
            *block(1, width), *block(width, width), nn.MaxPool2d(2),
            *block(width, 2 * width), *block(2 * width, 2 * width), nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(3),
        )  # fmt: skip
        self.fc = nn.Parameter(torch.zeros(count, 2 * width * 9, FEATURE_DIM))
        self.fc_bias = nn.Parameter(torch.zeros(count, 1, FEATURE_DIM))
        self.head = nn.Parameter(torch.zeros(count, FEATURE_DIM, classes))
        self.head_bias = nn.Parameter(torch.zeros(count, 1, classes))
        self.dropout = nn.Dropout(0.3)

    def load_from(self, networks: list[Evaluator]) -> None:
        """Network k's weights into group k of every layer."""
        grouped = [m for m in self.body if isinstance(m, (nn.Conv2d, nn.BatchNorm2d))]
        with torch.no_grad():
            for index, layer in enumerate(grouped):
                parts = [[m for m in n.body if isinstance(m, type(layer))] for n in networks]
                own = [part[index // 2] for part in parts]
                if isinstance(layer, nn.Conv2d):
                    layer.weight.copy_(torch.cat([m.weight for m in own]))
                else:
                    for name in ("weight", "bias", "running_mean", "running_var"):
                        getattr(layer, name).copy_(torch.cat([getattr(m, name) for m in own]))
            linear = [next(m for m in n.body if isinstance(m, nn.Linear)) for n in networks]
            self.fc.copy_(torch.stack([m.weight.T for m in linear]))
            self.fc_bias.copy_(torch.stack([m.bias[None] for m in linear]))
            self.head.copy_(torch.stack([n.head.weight.T for n in networks]))
            self.head_bias.copy_(torch.stack([n.head.bias[None] for n in networks]))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        pooled = self.body(images)  # (B, count * 2w, 3, 3), network k's channels together
        batch = pooled.shape[0]
        flat = pooled.reshape(batch, self.count, -1).transpose(0, 1)  # (count, B, 2w * 9)
        features = F.relu(torch.baddbmm(self.fc_bias, flat, self.fc))
        return torch.baddbmm(self.head_bias, self.dropout(features), self.head)


def median_ms(step: Callable[[], None], steps: int, device: torch.device) -> float:
    """Median milliseconds of `steps` calls after three untimed ones (on a GPU, each timed
    to the end of its kernels)."""

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for _ in range(3):
        step()
    times = []
    for _ in range(steps):
        sync()
        start = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classifiers", type=int, default=9, help="arms x seeds (default 9)")
    parser.add_argument("--steps", type=int, default=20, help="timed steps of each way")
    parser.add_argument("--markdown", action="store_true", help="print the docs table's rows")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    args = parser.parse_args(argv)
    count, last, device = args.classifiers, torch.channels_last, torch.device(args.device)

    torch.manual_seed(0)
    spec = EvaluatorSpec((1, SIDE, SIDE), tuple(str(k) for k in range(CLASSES)), WIDTH)
    networks = [Evaluator(spec).to(device, memory_format=last) for _ in range(count)]
    images = (torch.rand(count, BATCH, 1, SIDE, SIDE) * 2 - 1).to(device)  # each one's batch
    labels = torch.randint(0, CLASSES, (count, BATCH)).to(device)

    grouped = Grouped(count, WIDTH, CLASSES).to(device, memory_format=last)
    grouped.load_from(networks)
    stacked = images[:, :, 0].transpose(0, 1).contiguous(memory_format=last)  # (B, K, H, W)
    with torch.no_grad():
        separate_logits = torch.stack([n.eval()(x.contiguous(memory_format=last))
                                       for n, x in zip(networks, images, strict=True)])  # fmt: skip
        grouped_logits = grouped.eval()(stacked)
    difference = float((separate_logits - grouped_logits).abs().max())
    if difference > 1e-4:
        raise SystemExit(f"the grouped network is not the {count} networks: logits {difference}")

    optimizers = [adam(n.parameters(), 1e-3) for n in networks]
    batches = [x.contiguous(memory_format=last) for x in images]

    def one_after_another() -> None:
        for network, optimizer, x, y in zip(networks, optimizers, batches, labels, strict=True):
            loss = F.cross_entropy(network.train()(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()

    grouped_optimizer = adam(grouped.parameters(), 1e-3)

    def together() -> None:
        logits = grouped.train()(stacked)  # (K, B, classes)
        # each network's mean loss, summed: each gets the gradient of its own step
        loss = F.cross_entropy(logits.reshape(count * BATCH, -1), labels.reshape(-1)) * count
        grouped_optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        grouped_optimizer.step()

    # vmap on CUDA takes no channels-last batch norm: there its copies are plain contiguous
    plain = torch.contiguous_format if device.type == "cuda" else last
    copies = [copy.deepcopy(n).eval().to(memory_format=plain) for n in networks]
    params, buffers = stack_module_state(copies)
    skeleton = copy.deepcopy(networks[0]).to("meta")

    def loss_of(
        p: dict[str, torch.Tensor], b: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor
    ) -> torch.Tensor:
        return F.cross_entropy(functional_call(skeleton, (p, b), (x,)), y)

    vmapped = vmap(grad_and_value(loss_of))

    def with_vmap() -> None:
        vmapped(params, buffers, images, labels)

    ways = (
        ("one after another (the stage's way)", one_after_another),
        ("one grouped network", together),
        ("torch.func.vmap, forward and backward only", with_vmap),
    )
    times = {name: median_ms(step, args.steps, device) for name, step in ways}
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name()
    print(f"machine: {where}, torch {torch.__version__}")
    print(
        f"{count} classifiers, batch {BATCH} at {SIDE} px, width {WIDTH}; median of "
        f"{args.steps} steps; grouped logits within {difference:.1e} of the networks'"
    )
    reference = times[ways[0][0]]
    for name, ms in times.items():
        print(f"{name:45s} {ms:7.1f} ms a step of all {count}  ({ms / reference:.2f}x)")
    if args.markdown:
        for name, ms in times.items():
            print(f"| {name} | {ms:.0f} ms | {ms / reference:.2f}x |")


if __name__ == "__main__":
    main()

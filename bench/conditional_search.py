"""Screening of fixes for the conditional DCGAN's collapse within each class on mnist-5k.

Each variant trains the default's conditional DCGAN (`model.conditional: true`, least squares,
spectrally normalised D, 50 epochs) in-process with the package's own loop, then scores 5,000
samples exactly as the `evaluate` stage does (sample seed 1, uniform classes): FID, precision,
recall, conditional accuracy, CAS and the intra-class diversity. Variants named by params
(`--set train.mode_seeking=0.1 ...`) use the package as it is; the structural ones that did not
land live here only:

- `cbn-g`: G conditioned by class-conditional batch norm in every block (Miyato & Koyama
  2018; as the package's ResNet) instead of a label embedding beside z;
- `label-channels-d`: the label as one-hot input channels of D (Mirza & Osindero 2014), no
  projection;
- `label-channels-projection-d`: both;
- `class-mbstd-d`: a minibatch standard deviation channel, computed within each class, before
  D's last layer (after Karras et al. 2018);
- `--lecam W`, with any variant: the LeCam regulariser on D's outputs (Tseng et al. 2021).

It needs the processed data and the evaluator of the default pipeline (`dvc repro
train_evaluator`). Runs are single-threaded by default so that two can share 2 cores; a
thread count other than the pipeline's gives other (equally valid) weights for a seed.

Usage:
    .venv/bin/python bench/conditional_search.py --set train.mode_seeking=0.1 [--variant NAME]
        [--seed 0] [--epochs 50] [--threads 1] [--json results.jsonl]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrizations

from ganops.config import Params
from ganops.data.dataset import load_split, read_manifest, to_training_tensor
from ganops.gan import GanState, build_state, train
from ganops.gan.spec import spec_for_data
from ganops.losses import LOSSES
from ganops.metrics.conditional import Conditioning, cas_recipe
from ganops.metrics.evaluation import evaluate
from ganops.metrics.evaluator import load_evaluator
from ganops.models import build_discriminator, build_generator, dcgan
from ganops.models.layers import ClassBatchNorm2d
from ganops.params import parse_params
from ganops.runs import FanOut
from ganops.sampling import generate, label_batch, latent_batch

DATA = Path("data/processed")
EVALUATOR = Path("data/models/evaluator.pt")
CPU = torch.device("cpu")


class ClassNormGenerator(nn.Module):
    """DCGAN's G with z alone as input and a class-conditional batch norm in every block."""

    def __init__(self, latent_dim: int, width: int, channels: int, size: int, classes: int):
        super().__init__()
        base, upsamplings = dcgan._layout(size)
        features = width * 2 ** (upsamplings - 1)
        self.first = nn.ConvTranspose2d(latent_dim, features, base, 1, 0, bias=False)
        self.norms = nn.ModuleList([ClassBatchNorm2d(features, classes)])
        self.convs = nn.ModuleList()
        for _ in range(upsamplings - 1):
            self.convs.append(nn.ConvTranspose2d(features, features // 2, 4, 2, 1, bias=False))
            self.norms.append(ClassBatchNorm2d(features // 2, classes))
            features //= 2
        self.out = nn.ConvTranspose2d(features, channels, 4, 2, 1)
        for module in self.modules():
            if isinstance(module, nn.ConvTranspose2d):
                nn.init.normal_(module.weight, 0.0, 0.02)

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.norms[0](self.first(z.view(z.shape[0], -1, 1, 1)), labels))
        for conv, norm in zip(self.convs, self.norms[1:], strict=True):
            x = F.relu(norm(conv(x), labels))
        return torch.tanh(self.out(x))


class LabelChannelsDiscriminator(nn.Module):
    """DCGAN's D that sees the one-hot label as extra input channels (and, with
    `projection`, also adds the projection term)."""

    def __init__(self, width: int, channels: int, size: int, classes: int, projection: bool):
        super().__init__()
        self.inner = dcgan.DCGANDiscriminator(
            width, channels + classes, size, classes if projection else 0, spectral_norm=True
        )
        self.classes, self.projection = classes, projection

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> Any:
        batch, _, height, width = images.shape
        onehot = F.one_hot(labels, self.classes).to(images.dtype)  # (B, K)
        maps = onehot[:, :, None, None].expand(batch, self.classes, height, width)
        both = torch.cat([images, maps], 1)  # (B, C + K, H, W)
        return self.inner(both, labels) if self.projection else self.inner(both)


class ClassStdDiscriminator(dcgan.DCGANDiscriminator):
    """DCGAN's projection D with a channel, before its last layer, holding the standard
    deviation of the features across the batch's images of the same class."""

    def __init__(self, width: int, channels: int, size: int, classes: int):
        super().__init__(width, channels, size, classes, spectral_norm=True)
        last = self.net[-1]
        wider = nn.Conv2d(last.in_channels + 1, 1, last.kernel_size, 1, 0)  # + the std channel
        nn.init.normal_(wider.weight, 0.0, 0.02)
        self.net[-1] = parametrizations.spectral_norm(wider)

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> Any:
        features = self.net[:-1](images)  # (B, F, h, w)
        onehot = F.one_hot(labels, self.num_classes).float()  # (B, K)
        counts = onehot.sum(0)[:, None, None, None]  # (K, 1, 1, 1)
        mean = torch.einsum("bk,bfhw->kfhw", onehot, features) / counts.clamp_min(1)
        squares = torch.einsum("bk,bfhw->kfhw", onehot, (features - mean[labels]).square())
        spread = (squares / (counts - 1).clamp_min(1) + 1e-8).sqrt().mean(dim=(1, 2, 3))  # (K,)
        channel = spread[labels][:, None, None, None].expand(-1, 1, *features.shape[2:])
        logits = self.net[-1](torch.cat([features, channel], 1)).flatten()
        assert self.projection is not None
        return logits + self.projection(features.sum(dim=(2, 3)), labels)


VARIANTS = ("cbn-g", "label-channels-d", "label-channels-projection-d", "class-mbstd-d")


def networks(variant: str, params: Params, classes: int) -> tuple[nn.Module, nn.Module] | None:
    """The variant's (G, D), or None for the package's own."""
    model, size = params.model, params.data.image_size
    if variant == "cbn-g":
        return ClassNormGenerator(model.latent_dim, model.width, 1, size, classes), None  # type: ignore[return-value]
    if variant in ("label-channels-d", "label-channels-projection-d"):
        projection = variant == "label-channels-projection-d"
        return None, LabelChannelsDiscriminator(model.width, 1, size, classes, projection)  # type: ignore[return-value]
    if variant == "class-mbstd-d":
        return None, ClassStdDiscriminator(model.width, 1, size, classes)  # type: ignore[return-value]
    return None


def use_lecam(weight: float, loss: str) -> None:
    """Add the LeCam regulariser (Tseng et al. 2021) to D's `loss` in this process: the
    squared hinge of real logits above the moving average of fake ones, and vice versa."""
    d_loss, g_loss = LOSSES[loss]
    averages = {"real": 0.0, "fake": 0.0}

    def regularised(real: torch.Tensor, fake: torch.Tensor, smoothing: float) -> torch.Tensor:
        averages["real"] = 0.99 * averages["real"] + 0.01 * float(real.detach().mean())
        averages["fake"] = 0.99 * averages["fake"] + 0.01 * float(fake.detach().mean())
        penalty = (F.relu(real - averages["fake"]).square().mean()
                   + F.relu(averages["real"] - fake).square().mean())  # fmt: skip
        return d_loss(real, fake, smoothing) + weight * penalty

    LOSSES[loss] = (regularised, g_loss)


def variant_state(params: Params, spec: Any, variant: str) -> GanState:
    state = build_state(spec, params.train, CPU, spectral_norm=params.model.spectral_norm)
    swapped = networks(variant, params, spec.num_classes)
    if swapped is None:
        return state
    torch.manual_seed(params.train.seed)
    generator = swapped[0] or build_generator(spec)
    discriminator = swapped[1] or build_discriminator(spec, spectral_norm=True)
    adam = {"betas": (params.train.beta1, params.train.beta2)}
    return GanState(
        spec=spec,
        generator=generator,
        discriminator=discriminator,
        opt_g=torch.optim.Adam(generator.parameters(), lr=params.train.lr, **adam),
        opt_d=torch.optim.Adam(
            discriminator.parameters(), lr=params.train.lr_d or params.train.lr, **adam
        ),
        noise=state.noise,
    )


def parse_overrides(pairs: list[str]) -> dict[str, dict[str, Any]]:
    overrides: dict[str, dict[str, Any]] = {}
    for pair in pairs:
        key, value = pair.split("=", 1)
        section, name = key.split(".", 1)
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = value
        overrides.setdefault(section, {})[name] = parsed
    return overrides


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", nargs="*", default=[], help="params, e.g. train.lr_d=0.0008")
    parser.add_argument("--variant", default="", choices=["", *VARIANTS], help="(see above)")
    parser.add_argument("--lecam", type=float, default=0.0, help="LeCam weight (0 = off)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path, help="append the result as a JSON line")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    overrides = parse_overrides(args.set)
    overrides.setdefault("model", {})["conditional"] = True
    overrides.setdefault("train", {}).update(epochs=args.epochs, seed=args.seed)
    params = parse_params(overrides)
    train_split, test = load_split(DATA, "train"), load_split(DATA, "test")
    spec = spec_for_data(params, read_manifest(DATA), len(train_split.images))
    if args.lecam:
        use_lecam(args.lecam, params.train.loss)
    state = variant_state(params, spec, args.variant)
    started = time.perf_counter()
    data = to_training_tensor(train_split.images, CPU)
    labels = torch.from_numpy(train_split.labels)
    train(state, data, params.train, FanOut(), progress=False, labels=labels)
    seconds = time.perf_counter() - started
    # what the sample and evaluate stages do
    count, seed = params.sample.num_samples, params.sample.seed
    latents = latent_batch(count, spec.latent_dim, seed, CPU)
    drawn = label_batch(count, spec.num_classes, seed, CPU)
    samples = generate(state.published, latents, params.sample.batch_size, labels=drawn)
    evaluator = load_evaluator(EVALUATOR)
    conditioning = Conditioning(drawn.numpy(), test, cas_recipe(params.evaluator, params.eval))
    result = evaluate(evaluator, samples, train_split, params.eval, CPU, conditioning)
    keys = ("fid", "precision", "recall", "conditional_accuracy", "cas", "cas_real",
            "intra_class_diversity", "intra_class_diversity_min")  # fmt: skip
    row = {"set": args.set, "variant": args.variant, "lecam": args.lecam, "seed": args.seed,
           "epochs": args.epochs, "train_s": round(seconds, 1),
           **{key: round(result.scores[key], 4) for key in keys}}  # fmt: skip
    print(json.dumps(row))
    if args.json:
        with args.json.open("a") as handle:
            handle.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()

"""The bytes this CPU computes under ganops' kernel pins, as digests to compare across CPUs.

Prints one JSON object of sha256 prefixes, each on one thread (a reduction split over
several threads rounds otherwise):
  forward/<model>      the recorded models' outputs (tests/models/test_regression.py)
  translator/<family>  a tiny paired, unpaired (CycleGAN) and CUT translator after 3 steps
  default/<layout>     the default GAN (params.yaml's model and train sections: conditional,
                       spectral norm, the class loss, mode seeking, EMA) after 3 steps on
                       fixed random digits, channels-last off and on
  scores               FID, KID, precision/recall and the Inception Score's formula (the
                       evaluate stage's, through NumPy, SciPy and OpenBLAS) of two fixed
                       random feature sets, every digit of every value

Run it on two machines, or on one under an emulated CPU of another kind, and compare:
    python tools/cpu_digests.py
    qemu-x86_64 -cpu Haswell .venv/bin/python tools/cpu_digests.py      # an Intel AVX2 CPU
    qemu-x86_64 -cpu EPYC-Milan .venv/bin/python tools/cpu_digests.py   # an AMD AVX2 CPU
tests/test_cpu_kinds.py runs the second (Debian's qemu-user) against the first, each with
--quick: every model, translator family, memory layout and score above, through the same
kernels, in fewer repeats (the GAN's one training step instead of 3, which the test shows
dispatches every op of the three on the same dtypes, shapes and layouts; the translators'
batch of 4 then the partial one of 2; 10 KID subsets instead of the 100 of params.yaml), so
the emulated run is affordable on a slow machine: emulated, the GAN's convolutions are most
of its time.
Its digests are its own; without --quick the tool runs as docs/benchmarks.md's table says.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

import ganops  # the pins, before torch computes anything

ROOT = Path(__file__).resolve().parents[1]


def digest(tensors: Iterable[object]) -> str:
    import torch

    hasher = hashlib.sha256()
    for tensor in tensors:
        assert isinstance(tensor, torch.Tensor)
        hasher.update(tensor.detach().contiguous().numpy().tobytes())
    return hasher.hexdigest()[:16]


def forward_digests() -> dict[str, str]:
    """The regression test's models and inputs: G then D built from seed 0, 4 latents."""
    import torch

    from ganops.models import GeneratorSpec, build_discriminator, build_generator

    specs = {
        "dcgan-default": GeneratorSpec("dcgan", 64, 32, (1, 28, 28)),
        "dcgan-rgb64": GeneratorSpec("dcgan", 8, 4, (3, 64, 64)),
        "mlp": GeneratorSpec("mlp", 8, 4, (1, 28, 28)),
    }
    digests = {}
    for name, spec in specs.items():
        torch.manual_seed(0)
        generator, discriminator = build_generator(spec), build_discriminator(spec)
        z = torch.randn(4, spec.latent_dim, generator=torch.Generator().manual_seed(1))
        outputs = []
        for training in (True, False):  # batch statistics, then the running ones
            generator.train(training)
            discriminator.train(training)
            with torch.no_grad():
                images = generator(z)
                outputs += [images, discriminator(images)]
        digests[f"forward/{name}"] = digest(outputs)
    return digests


def translator_digests(images: int = 10) -> dict[str, str]:
    """A tiny translator of each family after a pass over `images` fixed random images in
    batches of 4 (10: 3 steps, the last of 2 images)."""
    import torch

    from ganops.config import TranslateConfig
    from ganops.runs.loggers import FanOut
    from ganops.runs.resume import Checkpointing
    from ganops.translation.loop import (
        Training,
        build_translator,
        train_translator,
        translator_spec,
    )

    digests = {}
    for family in ("paired", "unpaired", "cut"):
        paired = family == "paired"
        cfg = TranslateConfig(epochs=1, batch_size=4, width=4, blocks=1, pool_size=3)
        if family == "cut":  # PatchNCE through its heads, on 16 positions of each layer
            cfg = cfg.model_copy(update={"source": "mnist-5k", "method": "cut", "nce_patches": 16})
        rng = torch.Generator().manual_seed(7)
        a = torch.rand(images, 1, 28, 28, generator=rng) * 2 - 1  # 10: 3 steps, 4, 4, then 2
        b = torch.rand(images, 1, 28, 28, generator=rng) * 2 - 1
        state = build_translator(cfg, translator_spec(cfg, paired, 1, 28), paired, "cpu")
        with tempfile.TemporaryDirectory() as folder:
            work = Training(a, b, a[:2], b[:2], Checkpointing(Path(folder) / "last.pt", {}))
            train_translator(state, cfg, work, FanOut())
        networks = (*state.generators.values(), *state.discriminators.values(),
                    *state.heads.values())  # fmt: skip
        digests[f"translator/{family}"] = digest(
            tensor for network in networks for tensor in network.state_dict().values()
        )
    return digests


def default_digests(steps: int = 3) -> dict[str, str]:
    """params.yaml's GAN (its model and train sections) after `steps` steps on random digits
    of ten classes, batch 64, in each memory layout."""
    import torch

    from ganops.gan.loop import train_step
    from ganops.gan.spec import spec_for_data
    from ganops.gan.state import build_state_for
    from ganops.params import load_params

    params = load_params(ROOT / "params.yaml")
    size = params.train.batch_size
    rng = torch.Generator().manual_seed(3)
    images = torch.rand(steps * size, 1, 28, 28, generator=rng) * 2 - 1  # (N, 1, 28, 28)
    labels = torch.randint(0, 10, (steps * size,), generator=rng)
    manifest = {"image_shape": [1, 28, 28], "class_names": [str(k) for k in range(10)]}
    digests = {}
    for layout in ("off", "on"):
        run = params.run.model_copy(update={"channels_last": layout})
        run_params = params.model_copy(update={"run": run})
        spec = spec_for_data(run_params, manifest, len(images))
        state = build_state_for(run_params, spec, torch.device("cpu"))
        for step in range(steps):
            batch = slice(step * size, (step + 1) * size)
            train_step(state, images[batch], params.train, labels[batch])
        name = "channels-last" if layout == "on" else "contiguous"
        digests[f"default/{name}"] = digest(
            tensor
            for network in (state.generator, state.discriminator)
            for tensor in network.state_dict().values()
        )
    return digests


def score_digests(kid_subsets: int | None = None) -> dict[str, str]:
    """params.yaml's `eval` scores of two fixed random sets of 600 features (and logits);
    `kid_subsets` in place of params.yaml's, if given."""
    import torch

    from ganops.metrics.scores import FeatureSet, score
    from ganops.params import load_params

    cfg = load_params(ROOT / "params.yaml").eval
    if kid_subsets is not None:
        cfg = cfg.model_copy(update={"kid_subsets": kid_subsets})
    rng = torch.Generator().manual_seed(5)
    sets = [
        FeatureSet(torch.randn(600, 32, generator=rng) + shift, torch.randn(600, 10, generator=rng))
        for shift in (0.0, 0.3)
    ]
    values = score(sets[0], sets[1], cfg)
    text = json.dumps({key: float(value).hex() for key, value in sorted(values.items())})
    return {"scores": hashlib.sha256(text.encode()).hexdigest()[:16]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="the same kernels in fewer repeats (the test's)"
    )
    quick = parser.parse_args(argv).quick
    import torch

    from ganops.device import cpu_kind

    torch.set_num_threads(1)
    report = {
        "cpu": cpu_kind(),
        "aten": torch.backends.cpu.get_cpu_capability(),
        "pins": {name: os.environ[name] for name in ganops.CPU_KERNEL_PINS},
        **forward_digests(),
        **translator_digests(images=6 if quick else 10),
        **default_digests(steps=1 if quick else 3),
        **score_digests(kid_subsets=10 if quick else None),
    }
    print(json.dumps(report, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())

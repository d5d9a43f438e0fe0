"""The class-conditional default generator as a baseline of the text task: given only the
digit each test caption names (every attribute ignored), scored as the evaluate stage scores
the text-to-image GAN, beside that stage's table.

It reads a workspace where the text task's stages ran (`data/processed` with the captions,
`data/models/evaluator.pt`, `data/eval/metrics.json`) and a generator file of
`task: generate` (the default's, `data/models/generator.pt`: e74b7e55..., the model of
dvc.lock). The generator draws one image per test caption, of the caption's digit, from
seeded latents; the scoring matching model is trained again exactly as evaluate trains it
(`eval.seed`, `text.matching_epochs`, real training pairs only). Usage:

    python bench/text_baselines.py --workspace DIR [--generator data/models/generator.pt]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from ganops.artifacts import load_generator
from ganops.metrics.evaluator import load_evaluator
from ganops.metrics.morpho import measure_batch
from ganops.params import load_params
from ganops.sampling import generate, latent_batch
from ganops.text.corpus import load_corpus
from ganops.text.scoring import matching_for_scores, score_way

COLUMNS = ("digit_accuracy", "thickness_accuracy", "slant_accuracy", "width_accuracy",
           "attribute_accuracy", "r_precision", "fid")  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", type=Path, required=True)
    parser.add_argument("--generator", type=Path, default=Path("data/models/generator.pt"))
    parser.add_argument("--seed", type=int, default=0, help="latent seed")
    args = parser.parse_args(argv)
    work = args.workspace
    params = load_params(work / "params.yaml")
    device = torch.device("cpu")
    corpus = load_corpus(work / "data/processed")
    evaluator = load_evaluator(work / "data/models/evaluator.pt")
    generator, spec = load_generator(args.generator, device)
    assert spec.num_classes == 10, "a class-conditional generator of the ten digits"
    digits = torch.from_numpy(corpus.test.split.labels)
    latents = latent_batch(len(digits), spec.latent_dim, args.seed, device)
    images = generate(generator, latents, 500, labels=digits)  # (N, C, H, W) uint8
    matching = matching_for_scores(corpus, params.eval.seed, params.text.matching_epochs)
    row = score_way(images, measure_batch(images), corpus, evaluator, matching, params.eval,
                    device)  # fmt: skip
    table = json.loads((work / "data/eval/metrics.json").read_text())
    table["default_generator"] = row
    print("| way | " + " | ".join(COLUMNS) + " |")
    print("| --- |" + " --- |" * len(COLUMNS))
    for way in ("text_gan", "retrieval", "class_image", "default_generator", "real_test"):
        print(f"| {way} | " + " | ".join(f"{table[way][c]:.3f}" for c in COLUMNS) + " |")


if __name__ == "__main__":
    main()

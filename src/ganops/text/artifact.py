"""The text-to-image model's inference artifact: the generator, the frozen text encoder it
reads sentences from and the vocabulary, with the specs to rebuild them.

A plain dict of tensors and primitives, read back with `torch.load(..., weights_only=True)`,
like the generator's and the translator's. The discriminator stays in the resume checkpoint.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from ganops.errors import DataError, first_line
from ganops.io import load_torch, save_torch
from ganops.runs.seeds import derived_seed
from ganops.text.matching import MatchingModel
from ganops.text.networks import TextGanSpec, TextGenerator, draw
from ganops.text.vocab import Unknown, Vocabulary

TEXT_MODEL_FORMAT = "ganops-text-generator/1"
_NOISE = 7  # the noise stream of a draw, from its seed


@dataclass
class TextModel:
    """What draws images from text: the generator, the text encoder, the vocabulary."""

    generator: TextGenerator
    matching: MatchingModel  # its `.text` encodes sentences; trained on real pairs, frozen
    vocabulary: Vocabulary

    @torch.no_grad()
    def sentences(self, texts: Sequence[str], unknown: Unknown = "error") -> torch.Tensor:
        """Sentence vectors `(N, embed_dim)` of `texts` (a one-line `TextError` for a text the
        vocabulary cannot read), on the generator's device."""
        encoded = self.vocabulary.encode(list(texts), unknown)
        device = next(self.generator.parameters()).device
        self.matching.eval()
        return self.matching.text(encoded.tokens.to(device), encoded.lengths).to(device)  # type: ignore[no-any-return]

    def draw(
        self, texts: Sequence[str], count: int, seed: int, batch_size: int = 500,
        unknown: Unknown = "error",
    ) -> torch.Tensor:  # fmt: skip
        """`count` images of each text, text by text: `(len(texts) * count, C, H, W)` in
        [-1, 1]. The noise is drawn on the CPU from `seed`: the same on any device."""
        sentences = self.sentences(texts, unknown).repeat_interleave(count, 0)
        noise = noise_batch(len(sentences), self.generator.spec.noise_dim, seed)
        return draw(self.generator, noise.to(sentences.device), sentences, batch_size)


def noise_batch(count: int, noise_dim: int, seed: int) -> torch.Tensor:
    """`(count, noise_dim)` standard normal noise from `seed`, on the CPU."""
    generator = torch.Generator().manual_seed(derived_seed(seed, _NOISE, bits=32))
    return torch.randn((count, noise_dim), generator=generator)


def save_text_model(path: Path, model: TextModel) -> None:
    """The generator's and text encoder's weights (CPU), their specs and the vocabulary's
    words, written atomically."""
    weights = {k: v.detach().cpu() for k, v in model.generator.state_dict().items()}
    matching = model.matching.to_payload()
    matching["state"] = {k: v.detach().cpu() for k, v in matching["state"].items()}
    save_torch(
        path,
        {
            "format": TEXT_MODEL_FORMAT,
            "spec": model.generator.spec.to_dict(),
            "generator": weights,
            "matching": matching,
            "vocabulary": {
                "words": list(model.vocabulary.words),
                "max_length": model.vocabulary.max_length,
            },
        },
    )


def load_text_model(path: Path, device: torch.device | None = None) -> TextModel:
    """Rebuild what `save_text_model` wrote, in eval mode; the vocabulary's errors name
    `path` as where it is kept."""
    payload = load_torch(path, "text-to-image model")
    if payload.get("format") != TEXT_MODEL_FORMAT:
        raise DataError(
            f"{path}: not a ganops text-to-image model (format {payload.get('format')!r}); was "
            "it trained with another task?"
        )
    try:
        generator = TextGenerator(TextGanSpec.from_dict(payload["spec"]))
        generator.load_state_dict(payload["generator"])
        matching = MatchingModel.from_payload(payload["matching"])
        words = payload["vocabulary"]
        vocabulary = Vocabulary(
            tuple(words["words"]), int(words["max_length"]), f"the vocabulary inside {path}"
        )
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        raise DataError(
            f"{path}: model does not match its spec ({first_line(error, 160)})"
        ) from None
    device = device or torch.device("cpu")
    return TextModel(generator.to(device).eval(), matching.to(device).eval(), vocabulary)

"""How well a caption fits an image: a small DAMSM-style matching model and R-precision.

AttnGAN's Deep Attentional Multimodal Similarity Model (T. Xu, P. Zhang, Q. Huang, H. Zhang,
Z. Gan, X. Huang and X. He, "AttnGAN: Fine-Grained Text to Image Generation with Attentional
Generative Adversarial Networks", CVPR 2018; code github.com/taoxugit/AttnGAN, `RNN_ENCODER`,
`CNN_ENCODER`, `sent_loss` in `miscc/losses.py`) puts a sentence and an image into one space:

- the text encoder embeds the words and runs a bidirectional RNN over them; the sentence is
  the final hidden state of both directions, side by side (AttnGAN's biLSTM; a biGRU here,
  over packed sequences so the padding is never read);
- the image encoder is a pretrained Inception-v3 there; here a small convolutional network
  trained from scratch, as the images are small digits and the machine two CPU cores;
- the sentence loss scores every image of a batch against every caption by cosine similarity
  times gamma3 = 10 and takes the cross-entropy of picking the true caption for each image
  and the true image for each caption (the symmetric contrastive loss; CLIP's later). AttnGAN
  masks the wrong pairs of the same class; here the wrong pairs whose captions are the very
  same words, which no model could tell apart. DAMSM's word loss (attention of each word
  over image regions) is left out: the sentence is what R-precision scores.

DF-GAN (M. Tao, H. Tang, F. Wu, X.-Y. Jing, B.-K. Bao and C. Xu, "DF-GAN: A Simple and
Effective Baseline for Text-to-Image Synthesis", CVPR 2022; github.com/tobran/DF-GAN,
`lib/perpare.py`) uses DAMSM's encoders frozen: the text encoder gives the generator and the
discriminator its sentence vector, and the pair scores R-precision. The model is trained on
real training pairs only, never on generated images.

R-precision (AttnGAN, section 4): for each image, its own caption and 99 others drawn at
random are ranked by their similarity to it; the image counts when its own caption ranks
first. Chance is 1/100. On real test pairs the value is the ceiling a generator's images can
reach.

Images go in as uint8 in [0, 255] or float in [-1, 1] (a generator's range), `(N, C, H, W)`.
Training is seeded: the weights and each epoch's order of the pairs are separate streams
derived from the one seed (`ganops.runs.seeds.derived_seed`), so it is bitwise repeatable on
the CPU at a fixed thread count, with the project's fused Adam (`ganops.device.adam`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional
from torch.nn.utils.rnn import pack_padded_sequence

from ganops.device import adam
from ganops.errors import ConfigError, DataError
from ganops.runs.seeds import derived_seed
from ganops.text.vocab import Encoded

CANDIDATES = 100  # R-precision: 1 true caption and 99 random ones
_WEIGHTS, _PERMUTATION = 0, 1  # the random streams of training, each from the seed


@dataclass(frozen=True)
class MatchingConfig:
    """The matching model's size and training."""

    embed_dim: int = 64  # the shared space of sentences and images
    word_dim: int = 64  # a word's embedding
    width: int = 32  # channels of the image encoder's first convolution (then 2x, 4x)
    epochs: int = 10
    batch_size: int = 64
    lr: float = 2e-3
    gamma: float = 10.0  # AttnGAN's gamma3: cosine similarities times this are the logits

    def __post_init__(self) -> None:
        if self.batch_size < 2 or self.embed_dim < 2 or self.embed_dim % 2 or self.epochs < 0:
            raise ConfigError(
                "matching: batch_size needs 2 or more (pairs to tell apart), embed_dim an even "
                f"number, epochs 0 or more; got {self}"
            )


class TextEncoder(nn.Module):
    """Words -> a sentence vector `(N, embed_dim)`: embeddings, then a biGRU's final states."""

    def __init__(self, vocab_size: int, word_dim: int, embed_dim: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, word_dim, padding_idx=0)
        self.rnn = nn.GRU(word_dim, embed_dim // 2, batch_first=True, bidirectional=True)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        words = self.embedding(tokens)  # (N, L, word_dim)
        packed = pack_padded_sequence(words, lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, hidden = self.rnn(packed)  # (2, N, embed_dim / 2): forward and backward
        return hidden.transpose(0, 1).reshape(len(tokens), -1)  # type: ignore[no-any-return]


class ImageEncoder(nn.Module):
    """An image -> a vector `(N, embed_dim)`: three strided convolutions, mean over space."""

    def __init__(self, channels: int, width: int, embed_dim: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(channels, width, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(2 * width, 4 * width, 3, 2, 1),
            nn.LeakyReLU(0.2),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.project = nn.Linear(4 * width, embed_dim)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.project(self.features(images))  # type: ignore[no-any-return]


class MatchingModel(nn.Module):
    """Both encoders, and what they were built with (to save and rebuild it)."""

    def __init__(self, vocab_size: int, channels: int, config: MatchingConfig) -> None:
        super().__init__()
        self.vocab_size, self.channels, self.config = vocab_size, channels, config
        self.text = TextEncoder(vocab_size, config.word_dim, config.embed_dim)
        self.image = ImageEncoder(channels, config.width, config.embed_dim)

    def to_payload(self) -> dict[str, Any]:
        """What `from_payload` rebuilds it from: tensors and plain values only, so it loads
        with `torch.load(..., weights_only=True)`."""
        return {
            "vocab_size": self.vocab_size,
            "channels": self.channels,
            "config": asdict(self.config),
            "state": self.state_dict(),
        }

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> MatchingModel:
        model = cls(payload["vocab_size"], payload["channels"], MatchingConfig(**payload["config"]))
        model.load_state_dict(payload["state"])
        return model.eval()


def as_float(images: torch.Tensor | np.ndarray) -> torch.Tensor:
    """uint8 [0, 255] -> float32 [-1, 1]; a float tensor is taken to be in [-1, 1] already."""
    tensor = torch.as_tensor(images)
    if tensor.ndim != 4:
        raise DataError(f"matching: expected (N, C, H, W) images, got shape {tuple(tensor.shape)}")
    if tensor.dtype == torch.uint8:
        return tensor.float() / 127.5 - 1.0
    return tensor.float()


def sentence_loss(
    image_codes: torch.Tensor, text_codes: torch.Tensor, gamma: float, same: torch.Tensor
) -> torch.Tensor:
    """AttnGAN's sentence loss for a batch of matching pairs `(B, D)` each: the cross-entropy
    of finding each image's caption and each caption's image among the batch, by cosine
    similarity times `gamma`. `same` `(B, B)` bool marks wrong pairs left out of the count."""
    scores = (
        gamma * functional.normalize(image_codes, dim=1) @ functional.normalize(text_codes, dim=1).T
    )  # (B, B): image i against caption j
    scores = scores.masked_fill(same, float("-inf"))
    targets = torch.arange(len(scores))
    return functional.cross_entropy(scores, targets) + functional.cross_entropy(scores.T, targets)


def _identical(tokens: torch.Tensor) -> torch.Tensor:
    """`(B, B)` bool: captions i and j are the same words, i != j."""
    same = (tokens[:, None, :] == tokens[None, :, :]).all(dim=-1)
    return same & ~torch.eye(len(tokens), dtype=torch.bool)


def train_matching(
    images: torch.Tensor | np.ndarray,
    captions: Encoded,
    vocab_size: int,
    config: MatchingConfig,
    seed: int,
) -> tuple[MatchingModel, list[float]]:
    """A matching model trained on the real pairs (`images[i]`, caption i), and its mean
    sentence loss per epoch. Each epoch visits the pairs in a fresh seeded order, in batches
    of `config.batch_size` (a last, smaller batch of two or more pairs included)."""
    pixels = as_float(images)  # (N, C, H, W)
    if len(pixels) != len(captions.tokens):
        raise DataError(f"matching: {len(pixels)} images but {len(captions.tokens)} captions")
    if len(pixels) < 2:
        raise DataError("matching: training needs two pairs or more")
    with torch.random.fork_rng(devices=[]):  # the caller's global stream is left as it was
        torch.manual_seed(derived_seed(seed, _WEIGHTS))
        model = MatchingModel(vocab_size, pixels.shape[1], config)
    optimizer = adam(model.parameters(), lr=config.lr)
    history = []
    model.train()
    for epoch in range(config.epochs):
        shuffle = torch.Generator().manual_seed(derived_seed(seed, _PERMUTATION, epoch))
        order = torch.randperm(len(pixels), generator=shuffle)
        batches = [b for b in torch.split(order, config.batch_size) if len(b) >= 2]
        total = 0.0
        for batch in batches:
            # one step: both encoders, the symmetric sentence loss
            tokens = captions.tokens[batch]  # (B, L)
            loss = sentence_loss(
                model.image(pixels[batch]),
                model.text(tokens, captions.lengths[batch]),
                config.gamma,
                _identical(tokens),
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            total += loss.item()
        history.append(total / len(batches))
    return model.eval(), history


@torch.no_grad()
def encode(
    model: MatchingModel, images: torch.Tensor | np.ndarray, captions: Encoded, batch: int = 500
) -> tuple[torch.Tensor, torch.Tensor]:
    """Unit vectors of the images and of the captions, `(N, D)` each."""
    model.eval()
    pixels = as_float(images)
    image_codes = torch.cat([model.image(part) for part in torch.split(pixels, batch)])
    text_codes = torch.cat(
        [
            model.text(tokens, lengths)
            for tokens, lengths in zip(
                torch.split(captions.tokens, batch),
                torch.split(captions.lengths, batch),
                strict=True,
            )
        ]
    )
    return functional.normalize(image_codes, dim=1), functional.normalize(text_codes, dim=1)


def r_precision(
    model: MatchingModel,
    images: torch.Tensor | np.ndarray,
    captions: Encoded,
    candidates: int = CANDIDATES,
    seed: int = 0,
    groups: np.ndarray | None = None,
) -> float:
    """The share of `images` whose own caption (caption i for image i) ranks first among
    `candidates`: it and `candidates - 1` captions of other images drawn at random (seeded),
    leaving out captions that are the very same words as its own, and, with `groups` `(N,)`
    (row i's picture), the other captions of the same picture. A tie is a miss."""
    if candidates < 2:
        raise DataError(f"r_precision: candidates must be 2 or more, got {candidates}")
    if len(captions.tokens) != len(images):
        raise DataError(f"r_precision: {len(images)} images but {len(captions.tokens)} captions")
    image_codes, text_codes = encode(model, images, captions)
    _, caption_ids = torch.unique(captions.tokens, dim=0, return_inverse=True)
    ids = caption_ids.numpy()
    rng = np.random.default_rng(seed)
    hits = 0
    for i in range(len(ids)):
        other = ids != ids[i]
        others = np.flatnonzero(other if groups is None else other & (groups != groups[i]))
        if len(others) < candidates - 1:
            raise DataError(
                f"r_precision: image {i} has {len(others)} other distinct captions; "
                f"{candidates - 1} are needed"
            )
        drawn = rng.choice(others, candidates - 1, replace=False)
        scores = text_codes[torch.from_numpy(drawn)] @ image_codes[i]  # (candidates - 1,)
        hits += bool(text_codes[i] @ image_codes[i] > scores.max())
    return hits / len(ids)

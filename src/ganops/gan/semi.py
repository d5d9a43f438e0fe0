"""The semi-supervised GAN (`train.semi_supervised`, Salimans et al. 2016): its step and the
score of its discriminator as a classifier.

D (`ganops.models.semi`) classifies the labelled images into their K classes and tells the
training images (every one of them, labelled or not: the unlabelled pool) from G's through
its implicit K+1th class; G learns by feature matching, bringing the mean of D's last hidden
features on its images to their mean on real ones. G's images are not the point: D, pushed
to put its class boundaries where the data is thin, is the classifier.

The step is `ganops.gan.loop.train_step`'s counterpart and runs in the same loop: the
epoch's permutation of the training split gives the unlabelled batch, and the labelled
batch is drawn from the run's noise stream, so a resumed run draws the same ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ganops.augment import diff_augment
from ganops.config import TrainConfig
from ganops.data.dataset import Split
from ganops.errors import DataError
from ganops.gan.state import GanState
from ganops.losses import feature_matching_loss, real_logit, semi_supervised_discriminator_loss
from ganops.models.semi import classifier_logits


@dataclass(frozen=True)
class LabelledImages:
    """The labelled training images `(L, C, H, W)` in [-1, 1] and their classes `(L,)`, on
    the training device."""

    images: torch.Tensor
    labels: torch.Tensor

    @classmethod
    def of(cls, images: torch.Tensor, labels: np.ndarray) -> LabelledImages:
        """The labelled ones of a training tensor `images` `(N, C, H, W)` with `labels`
        `(N,)` (negative: unlabelled); a `DataError` when none is labelled."""
        known = np.flatnonzero(labels >= 0)
        if not len(known):
            raise DataError("train.semi_supervised: the training split has no labelled image")
        index = torch.from_numpy(known).to(images.device)
        return cls(images[index], torch.from_numpy(labels[known]).to(images.device))


def _augmented(images: torch.Tensor, cfg: TrainConfig, state: GanState) -> torch.Tensor:
    """DiffAugment (`train.augment`), drawn from the run's noise stream: the same policy for
    every image D sees, labelled, unlabelled or generated."""
    return diff_augment(images, cfg.augment, state.noise) if cfg.augment else images


class SemiSupervisedStep:
    """One update of D, then G, on an unlabelled batch and a labelled batch of the same
    size; called as `train_step` is, it returns `(4,)` detached: loss_d, loss_g, d_real,
    d_fake (D's mean probability that unlabelled real and generated images are real)."""

    def __init__(self, labelled: LabelledImages) -> None:
        self.labelled = labelled

    def __call__(
        self,
        state: GanState,
        real: torch.Tensor,
        cfg: TrainConfig,
        labels: torch.Tensor | None = None,
    ) -> torch.Tensor:
        generator, discriminator = state.step_generator, state.step_discriminator
        assert generator is not None and discriminator is not None
        batch, device = real.shape[0], real.device
        pick = torch.randint(
            len(self.labelled.labels), (batch,), generator=state.noise, device=device
        )
        labelled, classes = self.labelled.images[pick], self.labelled.labels[pick]
        latents = torch.randn(batch, state.spec.latent_dim, generator=state.noise, device=device)
        # update D: the labelled images' classes, real against generated
        fake = generator(latents)  # (B, C, H, W)
        _, labelled_logits = discriminator(_augmented(labelled, cfg, state))  # (B, K)
        _, real_logits = discriminator(_augmented(real, cfg, state))
        _, fake_logits = discriminator(_augmented(fake.detach(), cfg, state))
        loss_d, _ = semi_supervised_discriminator_loss(
            labelled_logits, classes, real_logits, fake_logits, cfg.unlabelled_weight
        )
        state.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()  # type: ignore[no-untyped-call]
        state.opt_d.step()
        # update G: feature matching against the real batch's features
        with torch.no_grad():
            real_features, _ = discriminator(_augmented(real, cfg, state))  # (B, F)
        with state.discriminator_frozen():
            fake_features, scored = discriminator(_augmented(fake, cfg, state))
            loss_g = feature_matching_loss(fake_features, real_features)
            state.update_generator(loss_g)  # and its moving average
        with torch.no_grad():
            d_real = torch.sigmoid(real_logit(real_logits)).mean()
            d_fake = torch.sigmoid(real_logit(scored)).mean()
            return torch.stack([loss_d, loss_g, d_real, d_fake]).detach()


class ClassifierProbe:
    """The discriminator's accuracy on the `test` split: `{"classifier_accuracy": share}`."""

    def __init__(self, discriminator: nn.Module, test: Split, device: torch.device) -> None:
        self.discriminator, self.test, self.device = discriminator, test, device
        self.class_names = test.class_names

    def __call__(self) -> dict[str, float]:
        logits = classifier_logits(self.discriminator, self.test.images, self.device)
        return {"classifier_accuracy": float((logits.argmax(1).numpy() == self.test.labels).mean())}

"""Adversarial losses and discriminator regularisers as plain functions.

Every loss takes discriminator logits `(B,)` and returns a scalar tensor. `LOSSES` maps a
name to a pair `(d_loss(real_logits, fake_logits, label_smoothing), g_loss(fake_logits))`:

- `nonsaturating` (Goodfellow et al. 2014): D minimises binary cross-entropy with targets
  1 for real and 0 for fake; G maximises log D(G(z)) instead of minimising
  log(1 - D(G(z))), which keeps its gradients alive early in training.
- `hinge` (Lim & Ye 2017; Miyato et al. 2018): D is penalised only for real logits below
  +1 and fake logits above -1; G raises the fake logits.
- `wgan` (Arjovsky et al. 2017): D is a critic estimating the Wasserstein-1 distance; it
  needs a Lipschitz constraint, so pair it with `gradient_penalty` (WGAN-GP).
- `lsgan` (Mao et al. 2017): least squares towards targets 1 (real) and 0 (fake) for D,
  1 for G.

Label smoothing lowers the real target where the loss has one (`nonsaturating`, `lsgan`);
`hinge` and `wgan` have no target to smooth and ignore it.

The regularisers `gradient_penalty` and `r1_penalty` return an unweighted penalty that
the caller scales and adds to the discriminator loss; `mode_seeking_penalty` likewise for
the generator loss.

The semi-supervised GAN (Salimans et al. 2016) has losses of its own, on class logits
`(B, K)`: `semi_supervised_discriminator_loss` and, for G, `feature_matching_loss`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

DiscriminatorLoss = Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]
GeneratorLoss = Callable[[torch.Tensor], torch.Tensor]


def discriminator_loss(
    real_logits: torch.Tensor, fake_logits: torch.Tensor, label_smoothing: float = 0.0
) -> torch.Tensor:
    """BCE on real (target `1 - label_smoothing`, one-sided) plus BCE on fake (target 0)."""
    real_target = torch.full_like(real_logits, 1.0 - label_smoothing)
    real = F.binary_cross_entropy_with_logits(real_logits, real_target)
    fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return real + fake


def generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss: -log D(G(z)), i.e. BCE with target 1."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def hinge_discriminator_loss(
    real_logits: torch.Tensor, fake_logits: torch.Tensor, label_smoothing: float = 0.0
) -> torch.Tensor:
    """mean(relu(1 - real)) + mean(relu(1 + fake)); `label_smoothing` is ignored.

    Logits already beyond the margin (real >= 1, fake <= -1) cost nothing and give no
    gradient, so D stops pushing samples it separates well.
    """
    return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()


def wasserstein_discriminator_loss(
    real_logits: torch.Tensor, fake_logits: torch.Tensor, label_smoothing: float = 0.0
) -> torch.Tensor:
    """Critic loss mean(fake) - mean(real); `label_smoothing` is ignored.

    Unbounded below: without a Lipschitz constraint (`gradient_penalty`) the critic can
    lower it for ever by scaling its outputs.
    """
    return fake_logits.mean() - real_logits.mean()


def critic_generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """-mean(fake): the generator loss of both `hinge` and `wgan`."""
    return -fake_logits.mean()


def least_squares_discriminator_loss(
    real_logits: torch.Tensor, fake_logits: torch.Tensor, label_smoothing: float = 0.0
) -> torch.Tensor:
    """0.5 mean((real - (1 - label_smoothing))^2) + 0.5 mean(fake^2) (one-sided smoothing)."""
    real = 0.5 * (real_logits - (1.0 - label_smoothing)).square().mean()
    fake = 0.5 * fake_logits.square().mean()
    return real + fake


def least_squares_generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """0.5 mean((fake - 1)^2): G pulls the fake logits towards the real target."""
    return 0.5 * (fake_logits - 1.0).square().mean()


def gradient_penalty(
    discriminate: Callable[[torch.Tensor], torch.Tensor],
    real: torch.Tensor,
    fake: torch.Tensor,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """WGAN-GP penalty (Gulrajani et al. 2017): mean over the batch of (||grad D(x̂)||_2 - 1)^2.

    `real` and `fake` are `(B, ...)` batches of the same shape; x̂ = real + u (fake - real)
    with one u ~ U(0, 1) per sample drawn from `generator` (on `real`'s device; None uses the
    global stream), so a seeded run draws the same points on resume. Both batches are
    detached: the penalty trains D only. `discriminate` maps `(B, ...)` to logits `(B,)`;
    a conditional D closes over its labels. D must treat samples independently (no batch
    norm in training mode; the paper suggests layer norm), else each sample's gradient
    mixes in the others'. The graph is kept (`create_graph=True`), so the returned scalar
    backpropagates into D's weights. The caller multiplies it by the penalty weight
    (lambda = 10 in the paper) and adds it to the discriminator loss.
    """
    shape = (real.shape[0],) + (1,) * (real.dim() - 1)  # (B, 1, ..., 1)
    weight = torch.rand(shape, generator=generator, device=real.device, dtype=real.dtype)
    mixed = torch.lerp(real.detach(), fake.detach(), weight).requires_grad_(True)
    (grad,) = torch.autograd.grad(discriminate(mixed).sum(), mixed, create_graph=True)
    norm: torch.Tensor = torch.linalg.vector_norm(grad.flatten(1), dim=1)  # (B,)
    return (norm - 1.0).square().mean()


def r1_penalty(real_logits: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """R1 penalty (Mescheder et al. 2018): 0.5 * mean over the batch of ||grad D(real)||^2.

    `real` `(B, ...)` must have `requires_grad=True` and `real_logits` `(B,)` must be D's
    output on it. Summing the logits gives each sample's own gradient only if D treats
    samples independently (no batch norm in training mode). The graph is kept
    (`create_graph=True`), so the penalty trains D.

    The 1/2 is included: with weight gamma the caller adds `gamma * r1_penalty(...)` to the
    discriminator loss, which is the paper's R1 = gamma/2 * E||grad D||^2 and the same
    gamma as StyleGAN2's `r1_gamma`. Applied only every k steps (lazy regularisation), the
    term is scaled by k as well.
    """
    if not real.requires_grad:
        raise ValueError("r1_penalty needs the real batch with requires_grad=True before D sees it")
    (grad,) = torch.autograd.grad(real_logits.sum(), real, create_graph=True)
    return 0.5 * grad.square().flatten(1).sum(dim=1).mean()


def mode_seeking_penalty(
    images: torch.Tensor, latents: torch.Tensor, eps: float = 1e-5
) -> torch.Tensor:
    """The mode-seeking term of MSGAN (Mao et al. 2019) for G's loss: 1 / (ratio + eps), where
    ratio = mean|G(z1) - G(z2)| / mean|z1 - z2| over the pairs (row i, row i + B/2) of
    `images` `(B, ...)` generated from `latents` `(B, D)` (for a conditional G, pairs that
    share a class). G lowers it by making different z give different images, which is what
    a generator that ignores z cannot do. Needs B >= 2; an odd last row is left out.
    """
    half = images.shape[0] // 2
    if half == 0:
        raise ValueError("the mode-seeking term needs at least two images per batch")
    image_distance = (images[:half] - images[half : 2 * half]).abs().mean()
    latent_distance = (latents[:half] - latents[half : 2 * half]).abs().mean()
    return 1.0 / (image_distance / latent_distance + eps)


def real_logit(class_logits: torch.Tensor) -> torch.Tensor:
    """A semi-supervised D's real-or-generated logit `(B,)` from its class logits `(B, K)`:
    with the generated class's logit fixed at 0, P(real) = Z / (Z + 1) = sigmoid(log Z), where
    Z = sum(exp(class logits))."""
    return torch.logsumexp(class_logits, dim=1)


def semi_supervised_discriminator_loss(
    labelled_logits: torch.Tensor,
    labels: torch.Tensor,
    unlabelled_logits: torch.Tensor,
    fake_logits: torch.Tensor,
    unlabelled_weight: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The semi-supervised D's loss and its supervised part, from class logits `(B, K)`:
    cross-entropy of the labelled images' classes `labels` `(B,)`, plus `unlabelled_weight`
    times the real-or-generated term (half BCE on unlabelled real images, half on fakes),
    as in openai/improved-gan."""
    supervised = F.cross_entropy(labelled_logits, labels)
    real, fake = real_logit(unlabelled_logits), real_logit(fake_logits)
    unsupervised = 0.5 * (F.softplus(-real).mean() + F.softplus(fake).mean())
    return supervised + unlabelled_weight * unsupervised, supervised


def feature_matching_loss(fake_features: torch.Tensor, real_features: torch.Tensor) -> torch.Tensor:
    """G's loss in the semi-supervised GAN: the squared distance between the mean features
    `(F,)` D finds in generated and in real images `(B, F)`, per feature; D's side is a
    target, not trained through this loss."""
    gap = fake_features.mean(0) - real_features.detach().mean(0)
    return gap.square().mean()


LOSSES: dict[str, tuple[DiscriminatorLoss, GeneratorLoss]] = {
    "nonsaturating": (discriminator_loss, generator_loss),
    "hinge": (hinge_discriminator_loss, critic_generator_loss),
    "wgan": (wasserstein_discriminator_loss, critic_generator_loss),
    "lsgan": (least_squares_discriminator_loss, least_squares_generator_loss),
}

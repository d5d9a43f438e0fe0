"""The non-saturating GAN loss."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch

from ganops.losses import (
    LOSSES,
    critic_generator_loss,
    discriminator_loss,
    feature_matching_loss,
    generator_loss,
    gradient_penalty,
    hinge_discriminator_loss,
    least_squares_discriminator_loss,
    least_squares_generator_loss,
    mode_seeking_penalty,
    r1_penalty,
    real_logit,
    semi_supervised_discriminator_loss,
    wasserstein_discriminator_loss,
)


def test_undecided_discriminator_costs_log_4() -> None:
    zeros = torch.zeros(8)
    assert discriminator_loss(zeros, zeros).item() == pytest.approx(2 * math.log(2))
    assert generator_loss(zeros).item() == pytest.approx(math.log(2))


def test_confident_correct_discriminator_costs_almost_nothing() -> None:
    assert discriminator_loss(torch.full((4,), 20.0), torch.full((4,), -20.0)).item() < 1e-6
    # ...and the non-saturating generator loss is then large, so G still gets gradients
    assert generator_loss(torch.full((4,), -20.0)).item() == pytest.approx(20.0, rel=1e-3)


def test_one_sided_label_smoothing_targets_real_only() -> None:
    real, fake = torch.full((4,), 20.0), torch.full((4,), -20.0)
    smoothed = discriminator_loss(real, fake, label_smoothing=0.1)
    # BCE(20, 0.9) = 0.1 * 20 + log(1 + e^-20): smoothing penalises over-confidence on real
    assert smoothed.item() == pytest.approx(2.0, rel=1e-3)
    assert discriminator_loss(real, fake, 0.1).item() > discriminator_loss(real, fake).item()


def test_generator_gradient_does_not_vanish() -> None:
    logits = torch.full((4,), -10.0, requires_grad=True)  # D confidently rejects the fakes
    generator_loss(logits).backward()
    assert logits.grad is not None and logits.grad.abs().min().item() > 0.2


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_every_loss_returns_a_scalar_that_trains_both_players(name: str) -> None:
    d_loss, g_loss = LOSSES[name]
    # logits inside every loss's active range: below the real target, above the fake one
    real = torch.tensor([0.5, -0.2], requires_grad=True)
    fake = torch.tensor([0.3, 0.6], requires_grad=True)
    loss = d_loss(real, fake, 0.0)
    assert loss.shape == ()
    loss.backward()
    # D raises real logits and lowers fake ones
    assert real.grad is not None and (real.grad < 0).all()
    assert fake.grad is not None and (fake.grad > 0).all()
    fake.grad = None
    loss = g_loss(fake)
    assert loss.shape == ()
    loss.backward()
    # G raises the fake logits
    assert (fake.grad < 0).all()


def test_hinge_costs_nothing_beyond_the_margin() -> None:
    assert hinge_discriminator_loss(torch.full((4,), 1.5), torch.full((4,), -2.0)).item() == 0.0
    # undecided: both margins violated by 1
    zeros = torch.zeros(4)
    assert hinge_discriminator_loss(zeros, zeros).item() == 2.0
    real, fake = torch.tensor([0.0, 2.0]), torch.tensor([0.5, -3.0])
    # real: (1 + 0) / 2, fake: (1.5 + 0) / 2
    assert hinge_discriminator_loss(real, fake).item() == pytest.approx(1.25)
    assert critic_generator_loss(torch.tensor([1.0, 3.0])).item() == -2.0


def test_wasserstein_critic_loss_is_the_gap_between_means() -> None:
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([-1.0, 0.0])
    assert wasserstein_discriminator_loss(real, fake).item() == pytest.approx(-2.5)
    assert critic_generator_loss(fake).item() == pytest.approx(0.5)


def test_least_squares_values_and_smoothing() -> None:
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([0.0, 2.0])
    # real: 0.5 * mean(0, 4) = 1, fake: 0.5 * mean(0, 4) = 1
    assert least_squares_discriminator_loss(real, fake).item() == pytest.approx(2.0)
    ones, zeros = torch.ones(4), torch.zeros(4)
    assert least_squares_discriminator_loss(ones, zeros).item() == 0.0
    # with smoothing the real target is 0.9: 0.5 * 0.1^2
    assert least_squares_discriminator_loss(ones, zeros, 0.1).item() == pytest.approx(0.005)
    assert least_squares_generator_loss(ones).item() == 0.0
    assert least_squares_generator_loss(torch.tensor([0.0, 3.0])).item() == pytest.approx(1.25)


def test_label_smoothing_is_ignored_by_margin_and_critic_losses() -> None:
    real, fake = torch.tensor([0.5, 2.0]), torch.tensor([-0.5, 0.3])
    for d_loss in (hinge_discriminator_loss, wasserstein_discriminator_loss):
        assert d_loss(real, fake, 0.2).item() == d_loss(real, fake, 0.0).item()


def linear_critic(weight: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """D(x) = <w, x> + 1 per sample: its gradient is w everywhere."""
    return lambda images: images.flatten(1) @ weight.flatten() + 1.0


def test_gradient_penalty_vanishes_for_a_one_lipschitz_linear_critic() -> None:
    real, fake = torch.randn(4, 1, 3, 3), torch.randn(4, 1, 3, 3)
    weight = torch.randn(1, 3, 3)
    unit = weight / weight.norm()
    noise = torch.Generator().manual_seed(0)
    assert gradient_penalty(linear_critic(unit), real, fake, noise).item() < 1e-10
    # gradient norm 2 everywhere: (2 - 1)^2
    doubled = 2.0 * unit
    assert gradient_penalty(linear_critic(doubled), real, fake, noise).item() == pytest.approx(1.0)


def test_gradient_penalty_trains_the_critic_only() -> None:
    real = torch.randn(4, 2)
    fake = torch.randn(4, 2, requires_grad=True)
    weight = torch.tensor([3.0, 4.0], requires_grad=True)  # norm 5
    noise = torch.Generator().manual_seed(0)
    penalty = gradient_penalty(linear_critic(weight), real, fake, noise)
    assert penalty.item() == pytest.approx(16.0)
    penalty.backward()
    # d/dw (|w| - 1)^2 = 2 (|w| - 1) w / |w|
    assert weight.grad is not None
    torch.testing.assert_close(weight.grad, torch.tensor([4.8, 6.4]))
    assert fake.grad is None


def test_gradient_penalty_is_deterministic_for_a_seeded_generator() -> None:
    real, fake = torch.randn(8, 1, 4, 4), torch.randn(8, 1, 4, 4)

    def critic(images: torch.Tensor) -> torch.Tensor:
        # gradient 2x: its norm depends on where between real and fake x lies
        return images.square().flatten(1).sum(dim=1)

    def penalty(seed: int) -> torch.Tensor:
        return gradient_penalty(critic, real, fake, torch.Generator().manual_seed(seed))

    assert torch.equal(penalty(1), penalty(1))
    assert not torch.equal(penalty(1), penalty(2))


def test_r1_is_half_the_squared_gradient_norm_of_a_linear_critic() -> None:
    real = torch.randn(4, 1, 2, 2, requires_grad=True)
    weight = torch.tensor([1.0, 2.0, -2.0, 0.5], requires_grad=True)
    penalty = r1_penalty(linear_critic(weight)(real), real)
    # 0.5 * |w|^2 = 0.5 * 9.25 for every sample
    assert penalty.item() == pytest.approx(4.625)
    penalty.backward()
    # the graph is kept, so the penalty pulls D's weights towards 0: d/dw 0.5|w|^2 = w
    assert weight.grad is not None
    torch.testing.assert_close(weight.grad, weight.detach())


def test_r1_asks_for_a_real_batch_that_tracks_gradients() -> None:
    real = torch.randn(4, 3)
    weight = torch.ones(3, requires_grad=True)
    with pytest.raises(ValueError, match="requires_grad"):
        r1_penalty(linear_critic(weight)(real), real)


def test_mode_seeking_penalises_a_generator_that_ignores_z() -> None:
    latents = torch.randn(8, 4)
    same = torch.zeros(8, 1, 2, 2)  # one image whatever z
    assert mode_seeking_penalty(same, latents).item() == pytest.approx(1e5)
    varied = torch.randn(8, 1, 2, 2)
    ratio = (varied[:4] - varied[4:]).abs().mean() / (latents[:4] - latents[4:]).abs().mean()
    assert mode_seeking_penalty(varied, latents).item() == pytest.approx(1 / (ratio.item() + 1e-5))
    assert mode_seeking_penalty(2 * varied, latents) < mode_seeking_penalty(varied, latents)


def test_mode_seeking_pairs_rows_across_the_halves_and_gives_g_a_gradient() -> None:
    latents = torch.randn(5, 4)  # odd: the last row is left out
    images = torch.randn(5, 3, requires_grad=True)
    penalty = mode_seeking_penalty(images, latents)
    penalty.backward()
    assert images.grad is not None and images.grad[4].abs().sum() == 0
    assert images.grad[:4].abs().sum() > 0
    with pytest.raises(ValueError, match="at least two images"):
        mode_seeking_penalty(torch.randn(1, 3), torch.randn(1, 4))


def test_semi_supervised_terms_are_cross_entropy_and_half_bce_through_log_z() -> None:
    labelled = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 3.0]])  # (B, K): K = 3 classes
    labels = torch.tensor([0, 2])
    unlabelled = torch.tensor([[1.0, 1.0, 1.0], [-2.0, 0.0, 0.0]])
    fake = torch.tensor([[0.0, -3.0, 0.0], [-4.0, -4.0, -4.0]])
    loss, supervised = semi_supervised_discriminator_loss(labelled, labels, unlabelled, fake, 0.5)

    def log_z(row: list[float]) -> float:
        return math.log(sum(math.exp(v) for v in row))

    # the supervised part: -log softmax of the true class, by hand
    expected_supervised = (
        sum(log_z(row) - row[label] for row, label in zip(labelled.tolist(), [0, 2], strict=True))
        / 2
    )
    assert supervised.item() == pytest.approx(expected_supervised, rel=1e-6)
    # the K+1th ("generated") logit is 0: P(real) = Z / (Z + 1), P(generated) = 1 / (Z + 1)
    real_term = sum(
        -math.log(math.exp(log_z(r)) / (math.exp(log_z(r)) + 1)) for r in unlabelled.tolist()
    )
    fake_term = sum(-math.log(1 / (math.exp(log_z(r)) + 1)) for r in fake.tolist())
    expected = expected_supervised + 0.5 * 0.5 * (real_term / 2 + fake_term / 2)
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    assert real_logit(unlabelled)[0].item() == pytest.approx(1 + math.log(3), rel=1e-6)


def test_the_unsupervised_term_falls_as_d_tells_real_from_generated() -> None:
    labelled, labels = torch.zeros(4, 10), torch.zeros(4, dtype=torch.int64)
    confused = torch.zeros(4, 10)
    unsure, _ = semi_supervised_discriminator_loss(labelled, labels, confused, confused)
    sure, _ = semi_supervised_discriminator_loss(
        labelled, labels, torch.full((4, 10), 5.0), torch.full((4, 10), -5.0)
    )
    assert sure.item() < unsure.item()


def test_feature_matching_compares_means_and_trains_only_the_generator_side() -> None:
    real = torch.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    fake = torch.tensor([[2.0, 3.0], [2.0, 3.0]], requires_grad=True)  # the same means
    assert feature_matching_loss(fake, real).item() == 0.0
    shifted = fake + torch.tensor([1.0, -3.0])  # means off by (1, -3)
    loss = feature_matching_loss(shifted, real)
    assert loss.item() == pytest.approx((1 + 9) / 2)
    loss.backward()  # type: ignore[no-untyped-call]
    assert real.grad is None and fake.grad is not None

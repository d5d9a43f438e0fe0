"""The training loop with each loss, regulariser and model option: finite, exact on resume,
and doing what it says (EMA published, conditional labels used, penalties in D's loss)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import pytest
import torch

from ganops.config import Params
from ganops.data.dataset import load_split, to_training_tensor
from ganops.gan import GanState, build_state, train
from ganops.gan.loop import train_step
from ganops.gan.spec import spec_for_data
from ganops.gan.state import build_state_for, learning_rate_scale
from ganops.models import GeneratorSpec
from ganops.runs import FanOut
from ganops.runs.signals import TrainingStopped

CPU = torch.device("cpu")

SN, BN = {"spectral_norm": True}, {"spectral_norm": False}  # D's normalisation, spelled out
VARIANTS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {  # name: (model, train)
    "nonsaturating-bn": (BN, {"loss": "nonsaturating"}),
    "hinge-sn": (SN, {"loss": "hinge"}),
    "lsgan-bn": (BN, {"loss": "lsgan"}),
    "wgan-gp": (SN, {"loss": "wgan", "gradient_penalty": 10.0}),
    "r1": (SN, {"loss": "nonsaturating", "r1_gamma": 1.0}),
    "ema": (SN, {"loss": "hinge", "ema_kimg": 0, "ema_decay": 0.99}),
    "diffaugment": (SN, {"loss": "hinge", "augment": "color,translation,cutout"}),
    "conditional": ({**SN, "conditional": True}, {"loss": "hinge"}),
    "conditional-recipe": (  # the recommended conditional recipe (docs/models.md)
        {**SN, "conditional": True},
        {"loss": "lsgan", "mode_seeking": 0.1, "lr_d": 4e-4, "class_loss": 0.2},
    ),
    "mode-seeking": (SN, {"loss": "lsgan", "mode_seeking": 1.0}),
    "epoch-repeats": (SN, {"loss": "lsgan", "epoch_repeats": 2, "batch_size": 100}),
    "lr-decay": (SN, {"loss": "lsgan", "lr_decay": 0.5}),  # the fall spans the resume point
    "ema-kimg": (SN, {"loss": "lsgan", "ema_kimg": 0.2}),
    "nearest-narrow-d": ({**SN, "upsample": "nearest", "width_d": 6}, {"loss": "lsgan"}),
    "resnet": ({"arch": "resnet", "width": 8}, {"loss": "hinge"}),
    "mlp-r1": ({"arch": "mlp", "width": 16}, {"loss": "nonsaturating", "r1_gamma": 1.0}),
}


@pytest.fixture(scope="module")
def digits(prepared: Path) -> tuple[torch.Tensor, torch.Tensor]:
    split = load_split(prepared / "processed", "train")
    return to_training_tensor(split.images[:200], CPU), torch.from_numpy(split.labels[:200])


def _setup(
    tiny_params: Callable[..., Params], model: dict[str, Any], train_cfg: dict[str, Any]
) -> tuple[Params, GeneratorSpec]:
    size = 32 if model.get("arch") == "resnet" else 28
    params = tiny_params(
        {
            "data": {"image_size": size},
            "model": {"conditional": False, **model},  # unconditional unless the variant says
            "train": {
                "batch_size": 50,
                "epochs": 2,
                "mode_seeking": 0.0,
                "class_loss": 0.0,
                **train_cfg,
            },
        }
    )
    # the spec as the stage makes it, for 200 ten-class images of this size
    manifest = {"image_shape": [1, size, size], "class_names": [str(c) for c in range(10)]}
    spec = spec_for_data(params, manifest, train_count=200)
    return params, spec


def _state(spec: GeneratorSpec, params: Params) -> GanState:
    """A fresh state as the stage builds it from `params`."""
    return build_state_for(params, spec, CPU)


class _StopAt:
    """A stop request that turns on once the run reaches `step` (a signal, without one)."""

    signal_name = "a test"

    def __init__(self, state: GanState, step: int) -> None:
        self.state, self.step = state, step

    @property
    def requested(self) -> bool:
        return self.state.step >= self.step


def _data(digits: tuple[torch.Tensor, torch.Tensor], spec: GeneratorSpec) -> torch.Tensor:
    size = spec.image_shape[1]
    images = digits[0]
    if size != images.shape[-1]:
        images = torch.nn.functional.interpolate(images, size=(size, size), mode="bilinear")
    return images


@pytest.mark.parametrize("variant", VARIANTS)
def test_variant_trains_finite_and_resumes_exactly(
    variant: str,
    tiny_params: Callable[..., Params],
    digits: tuple[torch.Tensor, torch.Tensor],
) -> None:
    params, spec = _setup(tiny_params, *VARIANTS[variant])
    data, labels = _data(digits, spec), digits[1]
    # straight through: 2 epochs of 4 steps
    state = _state(spec, params)
    result = train(state, data, params.train, FanOut(), progress=False, labels=labels)
    assert result.steps == 8
    assert all(torch.isfinite(torch.tensor(v)) for v in result.final_metrics.values())
    # the same run stopped mid-way through epoch 1 and resumed from its state dict
    first = _state(spec, params)
    with pytest.raises(TrainingStopped):
        train(
            first,
            data,
            params.train,
            FanOut(),
            progress=False,
            stop=_StopAt(first, 3),
            labels=labels,
        )  # type: ignore[arg-type]
    assert first.step == 3
    saved = first.state_dict()
    resumed = _state(spec, params)
    resumed.load_state_dict(saved)
    train(resumed, data, params.train, FanOut(), progress=False, labels=labels)
    for a, b in zip(
        state.published.state_dict().values(),
        resumed.published.state_dict().values(),
        strict=True,
    ):
        assert torch.equal(a, b)


def test_ema_is_what_gets_published(
    tiny_params: Callable[..., Params], digits: tuple[torch.Tensor, torch.Tensor]
) -> None:
    params, spec = _setup(tiny_params, {}, {"ema_kimg": 0, "ema_decay": 0.9})
    state = build_state(spec, params.train, CPU)
    train(state, _data(digits, spec), params.train, FanOut(), progress=False)
    assert state.ema is not None and state.published is state.ema.module
    live = torch.cat([p.flatten() for p in state.generator.parameters()])
    average = torch.cat([p.flatten() for p in state.published.parameters()])
    assert not torch.equal(live, average)  # an average, not a copy
    assert (live - average).abs().max() < 0.05  # but close: it follows the live weights
    assert "ema" in state.state_dict()


def test_penalties_add_to_the_discriminator_loss(
    tiny_params: Callable[..., Params], digits: tuple[torch.Tensor, torch.Tensor]
) -> None:
    data = digits[0][:50]
    values = {}
    for name, extra in {"plain": {}, "gp": {"gradient_penalty": 10.0}}.items():
        params, spec = _setup(tiny_params, {"spectral_norm": True}, {"loss": "wgan", **extra})
        state = build_state(spec, params.train, CPU, spectral_norm=True)
        values[name] = train_step(state, data, params.train)
    # same seed, weights and batch: D's outputs before its update agree, and its loss is
    # higher by the (positive) penalty; G's loss differs, as it sees the updated D
    torch.testing.assert_close(values["gp"][2:], values["plain"][2:])
    assert values["gp"][0] > values["plain"][0]


def test_conditional_gan_sees_the_real_labels(
    tiny_params: Callable[..., Params], digits: tuple[torch.Tensor, torch.Tensor]
) -> None:
    params, spec = _setup(tiny_params, {"conditional": True}, {})
    state = build_state(spec, params.train, CPU)
    seen: list[torch.Tensor] = []
    state.discriminator.register_forward_pre_hook(lambda _m, args: seen.append(args[1]))
    data, labels = digits[0][:50], digits[1][:50]
    train_step(state, data, params.train, labels)
    assert torch.equal(seen[0], labels)  # real images with their own labels
    assert seen[1].shape == (50,) and int(seen[1].max()) < 10  # fakes with drawn labels
    with pytest.raises(ValueError, match="pass labels"):
        train(state, digits[0], params.train, FanOut(), progress=False)


def test_d_has_its_own_learning_rate(
    tiny_params: Callable[..., Params], digits: tuple[torch.Tensor, torch.Tensor]
) -> None:
    params, spec = _setup(tiny_params, {}, {"lr": 1e-4, "lr_d": 4e-4})
    state = build_state(spec, params.train, CPU)
    assert [group["lr"] for group in state.opt_g.param_groups] == [1e-4]
    assert [group["lr"] for group in state.opt_d.param_groups] == [4e-4]
    same, spec = _setup(tiny_params, {}, {"lr": 1e-4, "lr_d": None})
    assert build_state(spec, same.train, CPU).opt_d.param_groups[0]["lr"] == 1e-4


def test_mode_seeking_pairs_share_their_class(
    tiny_params: Callable[..., Params], digits: tuple[torch.Tensor, torch.Tensor]
) -> None:
    params, spec = _setup(tiny_params, {"conditional": True}, {"mode_seeking": 0.1})
    state = build_state(spec, params.train, CPU)
    drawn: list[torch.Tensor] = []
    state.generator.register_forward_pre_hook(lambda _m, args: drawn.append(args[1]))
    train_step(state, digits[0][:50], params.train, digits[1][:50])
    assert torch.equal(drawn[0][:25], drawn[0][25:])
    assert len(set(drawn[0][:25].tolist())) > 1  # still every class, not one


@pytest.mark.parametrize(
    ("extra", "changes"),
    [({"mode_seeking": 1.0}, "loss_g"), ({"class_loss": 1.0}, "both")],
)
def test_new_terms_add_to_their_networks_loss(
    tiny_params: Callable[..., Params],
    digits: tuple[torch.Tensor, torch.Tensor],
    extra: dict[str, float],
    changes: str,
) -> None:
    data, labels = digits[0][:50], digits[1][:50]
    values = {}
    for name, cfg in {"plain": {}, "with": extra}.items():
        params, spec = _setup(tiny_params, {"conditional": True}, {"loss": "lsgan", **cfg})
        state = build_state(spec, params.train, CPU, spectral_norm=True)
        values[name] = train_step(state, data, params.train, labels)
    if changes == "loss_g":  # a generator at init barely uses z: the term is large
        assert values["with"][1] > values["plain"][1]
    else:  # cross-entropy (positive) on both sides
        assert values["with"][0] > values["plain"][0]
        torch.testing.assert_close(values["with"][2], values["plain"][2])


def test_learning_rates_fall_linearly_over_the_last_share() -> None:
    scales = [learning_rate_scale(step, 10, 0.3) for step in range(10)]
    assert scales == [1.0] * 7 + [pytest.approx(3 / 3), pytest.approx(2 / 3), pytest.approx(1 / 3)]
    assert [learning_rate_scale(step, 10, 0.0) for step in (0, 9)] == [1.0, 1.0]
    assert learning_rate_scale(0, 3, 0.01) == 1.0 and learning_rate_scale(2, 3, 0.01) == 1.0


def test_decay_reaches_both_optimisers_and_ends_low(
    tiny_params: Callable[..., Params], digits: tuple[torch.Tensor, torch.Tensor]
) -> None:
    params, spec = _setup(tiny_params, {}, {"lr": 1e-4, "lr_d": 4e-4, "lr_decay": 0.5})
    state = _state(spec, params)
    seen: list[tuple[float, float]] = []

    def record(*_: object) -> None:
        seen.append((state.opt_g.param_groups[0]["lr"], state.opt_d.param_groups[0]["lr"]))

    state.opt_g.register_step_pre_hook(record)  # once a step, after D's update
    train(state, _data(digits, spec), params.train, FanOut(), progress=False)
    firsts = seen
    assert firsts[:4] == [(1e-4, 4e-4)] * 4  # the first half at the full rates
    assert firsts[4] == pytest.approx((1e-4, 4e-4)) and firsts[7] == pytest.approx((0.25e-4, 1e-4))
    assert firsts[5][0] < firsts[4][0] and firsts[6][0] < firsts[5][0]


def test_d_can_be_narrower_than_g(tiny_params: Callable[..., Params]) -> None:
    params, spec = _setup(tiny_params, {"width": 8, "width_d": 4}, {})
    state = _state(spec, params)
    first_d = next(m for m in state.discriminator.modules() if isinstance(m, torch.nn.Conv2d))
    g_layers = (torch.nn.Conv2d, torch.nn.ConvTranspose2d)
    next_to_image = [m for m in state.generator.modules() if isinstance(m, g_layers)][-2]
    assert first_d.out_channels == 4 and next_to_image.out_channels == 8


def _steps(
    state: GanState, params: Params, data: torch.Tensor, labels: torch.Tensor, count: int
) -> dict[str, torch.Tensor]:
    for step in range(count):
        batch = slice(50 * step, 50 * (step + 1))
        classes = labels[batch] if state.spec.num_classes else None
        train_step(state, data[batch], params.train, classes)
    return {f"{name}.{key}": value for name, network in
            (("G", state.generator), ("D", state.discriminator))
            for key, value in network.state_dict().items()}  # fmt: skip


@pytest.mark.parametrize("variant", ["conditional-recipe", "wgan-gp", "r1", "diffaugment", "ema"])
def test_g_updates_through_frozen_d_to_the_same_bytes(
    variant: str,
    tiny_params: Callable[..., Params],
    digits: tuple[torch.Tensor, torch.Tensor],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """D's weights out of G's backward change no byte of either network: G's gradients need
    D's gradient by its input only."""
    params, spec = _setup(tiny_params, *VARIANTS[variant])
    data, labels = _data(digits, spec), digits[1]
    frozen = _steps(_state(spec, params), params, data, labels, 3)
    monkeypatch.setattr(GanState, "discriminator_frozen", lambda _self: nullcontext())
    live = _steps(_state(spec, params), params, data, labels, 3)
    assert frozen.keys() == live.keys()
    for key, value in frozen.items():
        assert torch.equal(value, live[key]), key


def test_g_update_leaves_ds_gradients_as_its_own_update_made_them(
    tiny_params: Callable[..., Params], digits: tuple[torch.Tensor, torch.Tensor]
) -> None:
    """No gradient of D's weights is computed in G's update (they would be thrown away at D's
    next one), and D learns again after it."""
    params, spec = _setup(tiny_params, *VARIANTS["conditional-recipe"])
    state = _state(spec, params)
    at_d_step: list[torch.Tensor] = []
    d_step = state.opt_d.step

    def remember_then_step() -> None:
        at_d_step[:] = [p.grad.clone() for p in state.discriminator.parameters()]
        d_step()

    state.opt_d.step = remember_then_step  # type: ignore[method-assign]
    train_step(state, digits[0][:50], params.train, digits[1][:50])
    weights = list(state.discriminator.parameters())
    assert len(at_d_step) == len(weights) > 0
    for before, weight in zip(at_d_step, weights, strict=True):
        assert weight.requires_grad
        assert torch.equal(weight.grad, before)

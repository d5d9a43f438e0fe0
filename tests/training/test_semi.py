"""The semi-supervised GAN's step in the training loop: it learns, resumes exactly, and draws
its labelled batches from the labelled images only."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import pytest
import torch

from ganops.config import Params
from ganops.data.dataset import UNLABELLED, load_split, to_training_tensor
from ganops.errors import DataError
from ganops.gan.loop import train
from ganops.gan.semi import ClassifierProbe, LabelledImages, SemiSupervisedStep
from ganops.gan.state import GanState, build_state_for
from ganops.models import GeneratorSpec
from ganops.models.semi import init_from_data
from ganops.runs.loggers import FanOut
from ganops.runs.resume import global_rng_state, set_global_rng_state
from ganops.runs.signals import TrainingStopped

CPU = torch.device("cpu")
SPEC = GeneratorSpec("mlp", 8, 8, (1, 28, 28))


@pytest.fixture(scope="module")
def digits(prepared: Path) -> tuple[torch.Tensor, np.ndarray]:
    """400 training images, 5 a class of them labelled, the others not."""
    split = load_split(prepared / "processed", "train")
    labels = np.full(400, UNLABELLED)
    for digit in range(10):
        chosen = np.flatnonzero(split.labels[:400] == digit)[:5]
        labels[chosen] = digit
    return to_training_tensor(split.images[:400], CPU), labels


def _params(tiny_params: Callable[..., Params], **train: object) -> Params:
    settings = {"semi_supervised": True, "batch_size": 50, "epochs": 2, "lr": 0.003, "lr_d": None}
    settings |= train
    return tiny_params({"model": {"arch": "mlp", "conditional": False}, "train": settings})


def _state(params: Params, data: torch.Tensor) -> GanState:
    """A fresh state as the stage builds it: D initialised from the data."""
    state = build_state_for(params, SPEC, CPU, classes=10)
    init_from_data(state.discriminator, data[:500])
    return state


class _StopAt:
    signal_name = "a test"

    def __init__(self, state: GanState, step: int) -> None:
        self.state, self.step = state, step

    @property
    def requested(self) -> bool:
        return self.state.step >= self.step


@pytest.mark.parametrize("augment", ["", "affine"])
def test_trains_and_resumes_bitwise(
    augment: str, tiny_params: Callable[..., Params], digits: tuple[torch.Tensor, np.ndarray]
) -> None:
    params = _params(tiny_params, augment=augment)
    data, labels = digits
    step = SemiSupervisedStep(LabelledImages.of(data, labels))
    straight = _state(params, data)
    result = train(straight, data, params.train, FanOut(), progress=False, step=step)
    assert result.steps == 16
    assert all(np.isfinite(value) for value in result.final_metrics.values())
    first = _state(params, data)
    with pytest.raises(TrainingStopped):
        stop = _StopAt(first, 5)
        train(first, data, params.train, FanOut(), progress=False, stop=stop, step=step)  # type: ignore[arg-type]
    saved = first.state_dict() | {"rng": global_rng_state()}  # what a resume checkpoint holds
    torch.manual_seed(12345)  # a later process's global stream: D's noise must not depend on it
    resumed = _state(params, data)
    resumed.load_state_dict(saved)
    set_global_rng_state(saved["rng"])  # as `restore` does
    train(resumed, data, params.train, FanOut(), progress=False, step=step)
    for network in ("generator", "discriminator"):
        ours = getattr(straight, network).state_dict()
        theirs = getattr(resumed, network).state_dict()
        assert all(torch.equal(ours[key], theirs[key]) for key in ours), network


def test_g_updates_through_frozen_d_to_the_same_bytes(
    tiny_params: Callable[..., Params],
    digits: tuple[torch.Tensor, np.ndarray],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Feature matching through D's frozen weights (`GanState.discriminator_frozen`) gives
    the bytes it gives through live ones."""
    params = _params(tiny_params)
    data, labels = digits
    step = SemiSupervisedStep(LabelledImages.of(data, labels))
    weights = []
    for frozen in (True, False):
        if not frozen:
            monkeypatch.setattr(GanState, "discriminator_frozen", lambda _self: nullcontext())
        state = _state(params, data)
        for start in (0, 50, 100):
            step(state, data[start : start + 50], params.train)
        weights.append([*state.generator.state_dict().values(),
                        *state.discriminator.state_dict().values()])  # fmt: skip
    assert all(torch.equal(a, b) for a, b in zip(*weights, strict=True))


@pytest.mark.slow  # 80 steps on 4,000 images
def test_the_discriminator_learns_the_classes(
    tiny_params: Callable[..., Params], prepared: Path
) -> None:
    """The recipe's setting, shortened: 4,000 images, 10 labelled a class, batches of 100."""
    split = load_split(prepared / "processed", "train")
    labels = np.full(len(split.labels), UNLABELLED)
    for digit in range(10):
        chosen = np.flatnonzero(split.labels == digit)[:10]
        labels[chosen] = digit
    params = _params(tiny_params, batch_size=100)
    data = to_training_tensor(split.images, CPU)
    state = _state(params, data)
    test = load_split(prepared / "processed", "test")
    probe = ClassifierProbe(state.discriminator, test, CPU)
    before = probe()["classifier_accuracy"]
    step = SemiSupervisedStep(LabelledImages.of(data, labels))
    train(state, data, params.train, FanOut(), progress=False, step=step)
    after = probe()["classifier_accuracy"]
    assert after > max(0.5, before + 0.3)  # 100 labels, 80 steps: far above chance (0.1)


def test_labelled_batches_come_from_the_labelled_images_only(
    digits: tuple[torch.Tensor, np.ndarray],
) -> None:
    data, labels = digits
    labelled = LabelledImages.of(data, labels)
    known = np.flatnonzero(labels != UNLABELLED)
    assert torch.equal(labelled.images, data[torch.from_numpy(known)])
    assert labelled.labels.tolist() == labels[known].tolist()
    with pytest.raises(DataError, match="the training split has no labelled image"):
        LabelledImages.of(data, np.full(len(labels), UNLABELLED))

"""`model.conditional: auto`: a class-conditional GAN when the data has two or more classes,
an unconditional one otherwise; `true`/`false` force it, and every record says which."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from ganops.config import Params
from ganops.errors import ConfigError, DataError
from ganops.gan.loop import train_step
from ganops.gan.spec import describe_conditioning, spec_for_data
from ganops.gan.state import build_state_for
from ganops.report import Side, _run_line
from ganops.run_record import RunRecord

CPU = torch.device("cpu")


def _manifest(classes: int) -> dict[str, Any]:
    return {"image_shape": [1, 28, 28], "class_names": [str(c) for c in range(classes)]}


@pytest.mark.parametrize(
    ("setting", "classes", "num_classes"),
    [("auto", 10, 10), ("auto", 2, 2), ("auto", 1, 0), (True, 10, 10), (False, 10, 0)],
)
def test_auto_is_conditional_from_two_classes(
    tiny_params: Callable[..., Params], setting: Any, classes: int, num_classes: int
) -> None:
    params = tiny_params({"model": {"conditional": setting}})
    assert spec_for_data(params, _manifest(classes), train_count=500).num_classes == num_classes


def test_true_on_one_class_is_a_one_line_error(tiny_params: Callable[..., Params]) -> None:
    params = tiny_params({"model": {"conditional": True}})
    with pytest.raises(DataError, match=r"at least two classes; .* has 1$"):
        spec_for_data(params, _manifest(1), train_count=500)


@pytest.mark.parametrize("value", ["yes", "Auto", 2, None])
def test_other_values_are_refused(tiny_params: Callable[..., Params], value: Any) -> None:
    with pytest.raises(ConfigError, match=r"model\.conditional"):
        tiny_params({"model": {"conditional": value}})


def test_the_class_loss_is_accepted_whatever_the_setting(
    tiny_params: Callable[..., Params],
) -> None:
    """The default's class loss applies to conditional GANs; forcing an unconditional one
    needs no second flag to turn it off."""
    for setting in (True, False, "auto"):
        tiny_params({"model": {"conditional": setting}, "train": {"class_loss": 0.2}})


def test_auto_on_one_class_trains_without_the_class_head(
    tiny_params: Callable[..., Params],
) -> None:
    """The default's class loss and mode seeking on a one-class folder: an unconditional GAN
    whose D has no class head, and a step that trains without labels."""
    params = tiny_params(
        {
            "model": {"conditional": "auto"},
            "train": {"batch_size": 8, "class_loss": 0.2, "mode_seeking": 0.1},
        }
    )
    spec = spec_for_data(params, _manifest(1), train_count=16)
    state = build_state_for(params, spec, CPU)
    assert spec.num_classes == 0 and state.discriminator.classifier is None
    real = torch.rand(8, 1, 28, 28) * 2 - 1
    assert torch.isfinite(train_step(state, real, params.train)).all()


def test_records_and_the_report_say_which_it_was(tmp_path: Path) -> None:
    assert describe_conditioning("auto", 10) == "conditional, 10 classes (model.conditional: auto)"
    assert describe_conditioning(False, 0) == "unconditional (model.conditional: false)"
    record = RunRecord("r1", conditioning=describe_conditioning(True, 3))
    record.write(tmp_path / "run.json")
    again = RunRecord.read(tmp_path / "run.json")
    assert again.conditioning == "conditional, 3 classes (model.conditional: true)"
    side = Side("main", "0" * 40, {"run_id": "r1", "conditioning": again.conditioning}, None)
    assert _run_line("baseline", side) == (
        "- baseline: run `r1`; the generator: conditional, 3 classes (model.conditional: true)"
    )
    older = Side("main", "0" * 40, {"run_id": "r1"}, None)  # records before it was kept
    assert _run_line("baseline", older) == "- baseline: run `r1`"

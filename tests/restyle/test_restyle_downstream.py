"""The restyle task's downstream arms on real mnist-5k digits: the digits they add are a
function of the seed, and digits that do not fit are a one-line error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ganops.classifier_arms import Labelled
from ganops.config import Params
from ganops.data.dataset import load_split
from ganops.errors import DataError
from ganops.restyle.domains import RestyleSplit
from ganops.restyle.downstream import not_defined, training_arms, transformed
from ganops.restyle.networks import RestylerSpec, build_networks

CPU = torch.device("cpu")


def test_the_added_digits_are_a_function_of_the_seed(prepared: Path) -> None:
    train = load_split(prepared / "processed", "train")
    restyler, _ = build_networks(RestylerSpec(1, 28, 4, 2, 1, 10), seed=0)
    first = transformed(restyler, train, train, seed=5, device=CPU, per_class=1)
    again = transformed(restyler, train, train, seed=5, device=CPU, per_class=1)
    other = transformed(restyler, train, train, seed=6, device=CPU, per_class=1)
    assert np.bincount(train.labels[first.chosen]).tolist() == [1] * 10
    for name in ("chosen", "handmade", "restyled"):
        assert np.array_equal(getattr(first, name), getattr(again, name)), name
        assert not np.array_equal(getattr(first, name), getattr(other, name)), name
    assert first.restyled.shape == first.handmade.shape == (10, 1, 28, 28)
    assert first.restyled.dtype == first.handmade.dtype == np.uint8
    # each digit is changed, by both: toward another digit's hand
    assert (first.handmade != train.images[first.chosen]).any(axis=(1, 2, 3)).mean() > 0.8
    assert (first.restyled != train.images[first.chosen]).any(axis=(1, 2, 3)).all()


def test_digits_that_do_not_fit_are_a_one_line_error(prepared: Path) -> None:
    train = load_split(prepared / "processed", "train")
    restyler, _ = build_networks(RestylerSpec(1, 28, 4, 2, 1, 10), seed=0)
    added = transformed(restyler, train, train, seed=0, device=CPU, per_class=1)
    source = Labelled(train.images, train.labels)
    assert set(training_arms(source, added)) == {"real", "affine", "handmade", "restyled"}
    wrong = type(added)(added.chosen, added.handmade, added.restyled[:, :, :27])
    with pytest.raises(DataError, match=r"the restyled digits are uint8 \(10, 1, 27, 28\)") as err:
        training_arms(source, wrong)
    assert "\n" not in str(err.value)
    larger, _ = build_networks(RestylerSpec(1, 32, 4, 2, 1, 10), seed=0)
    with pytest.raises(DataError, match=r"takes 1x32x32 .* holds 1x28x28; rerun the train"):
        transformed(larger, train, train, seed=0, device=CPU, per_class=1)


def test_the_arms_are_not_defined_where_the_images_are_not_digits(prepared: Path) -> None:
    train = load_split(prepared / "processed", "train")
    assert not_defined(Params(), RestyleSplit(train, train, by_class=True, digits=True)) is None
    clothes = type(train)(train.images, train.labels, tuple("abcdefghij"))
    why = not_defined(Params(), RestyleSplit(clothes, clothes, by_class=True, digits=True))
    assert why is not None and "not both digits" in why
    across = RestyleSplit(train, train, by_class=False, digits=True)
    assert not_defined(Params(), across) is not None

"""The restyler's networks and one training step, on tiny tensors: shapes, a style swap
that changes the drawing, losses that fall on a fixed batch, seeded pairs of other classes
and the artifact's round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ganops.config import RestyleConfig
from ganops.errors import DataError
from ganops.restyle.artifact import load_restyler, save_restyler
from ganops.restyle.loop import (
    METRICS,
    batch_indices,
    build_restyler,
    diversity_weight,
    restyle_step,
    restyler_spec,
)
from ganops.restyle.networks import build_networks, restyle_images, spec_problem, style_grid
from ganops.restyle.outputs import spread_pairs, styles_per_content
from ganops.restyle.pairs import spread_indices, style_pairs

CPU = torch.device("cpu")
CFG = RestyleConfig(width=8, style_dim=4, blocks=1, lr=1e-3)


def _batch(seed: int, count: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    rng = torch.Generator().manual_seed(seed)
    return torch.rand(count, 1, 28, 28, generator=rng) * 2 - 1, torch.arange(count) % 4


def test_every_network_gives_its_shape() -> None:
    spec = restyler_spec(CFG, 1, 28, 4)
    restyler, judge = build_networks(spec, seed=0)
    images, labels = _batch(0)
    assert restyler.content_encoder(images).shape == (8, 16, 7, 7)
    assert restyler.style_encoder(images).shape == (8, 4)
    assert restyler(images, images.flip(0)).shape == images.shape
    assert judge(images, labels).shape == (8,)
    assert restyler(images, images).abs().max() <= 1.0  # tanh: the images' range


def test_the_same_seed_builds_the_same_weights_and_leaves_the_global_rng() -> None:
    spec = restyler_spec(CFG, 1, 28, 4)
    state = torch.get_rng_state()
    first, _ = build_networks(spec, seed=3)
    assert torch.equal(torch.get_rng_state(), state)
    second, _ = build_networks(spec, seed=3)
    other, _ = build_networks(spec, seed=4)
    weights = [p.detach() for p in first.parameters()]
    assert all(torch.equal(a, b) for a, b in zip(weights, second.parameters(), strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(weights, other.parameters(), strict=True))


def test_a_swapped_style_changes_the_drawing_and_the_content_stays_its_own() -> None:
    restyler, _ = build_networks(restyler_spec(CFG, 1, 28, 4), seed=0)
    images, _ = _batch(1)
    content = images[:4]
    in_style_a = restyle_images(restyler, content, images[4:])
    in_style_b = restyle_images(restyler, content, images[4:].flip(0))
    assert (in_style_a - in_style_b).abs().mean() > 1e-4
    # per pair: each output depends on its own style image only
    assert torch.allclose(in_style_a[:1], restyle_images(restyler, content[:1], images[4:5]),
                          atol=1e-6)  # fmt: skip


def test_a_few_steps_on_one_batch_lower_the_reconstruction_terms() -> None:
    state = build_restyler(CFG, restyler_spec(CFG, 1, 28, 4), CPU)
    images, labels = _batch(2)
    batch = (images, labels, images.roll(1, 0), torch.randn(2, 8, CFG.style_dim))
    first = restyle_step(state, CFG, batch, diversity=0.0)  # (the diversity term pushes apart)
    assert set(first) == set(METRICS)
    for _ in range(60):
        last = restyle_step(state, CFG, batch, diversity=0.0)
    assert last["loss_reconstruction"] < 0.8 * first["loss_reconstruction"]
    assert last["loss_cycle"] < 0.9 * first["loss_cycle"]
    assert last["loss_style"] < first["loss_style"] or last["loss_style"] < 0.05
    assert last["loss_g"] < first["loss_g"]
    assert all(np.isfinite(list(last.values())))


def test_the_diversity_weight_falls_to_zero_at_the_end() -> None:
    assert diversity_weight(CFG, 0, 100) == CFG.diversity
    assert diversity_weight(CFG, 50, 100) == pytest.approx(CFG.diversity / 2)
    assert diversity_weight(CFG, 100, 100) == 0.0


def test_batches_are_a_function_of_the_seed_epoch_and_step() -> None:
    first = batch_indices(0, 1, 2, 16, 100)
    assert all(torch.equal(a, b) for a, b in zip(first, batch_indices(0, 1, 2, 16, 100),
                                                 strict=True))  # fmt: skip
    assert not torch.equal(first[1], batch_indices(0, 1, 3, 16, 100)[1])
    epoch = torch.cat([batch_indices(0, 1, b, 16, 100)[0] for b in range(7)])
    assert sorted(epoch.tolist()) == list(range(100))  # each content image once an epoch


def test_pairs_take_a_style_of_another_class_and_are_seeded() -> None:
    labels = np.repeat(np.arange(5), 20)
    contents, styles = style_pairs(labels, seed=1)
    assert np.array_equal(contents, np.arange(100))
    assert (labels[styles] != labels[contents]).all()
    assert np.array_equal(styles, style_pairs(labels, seed=1)[1])
    assert not np.array_equal(styles, style_pairs(labels, seed=2)[1])
    with pytest.raises(DataError, match="another class"):
        style_pairs(np.zeros(10, np.int64), seed=0)


def test_the_spread_draws_a_content_in_distinct_styles_of_other_classes() -> None:
    labels = np.repeat(np.arange(5), 20)  # stored class by class
    contents, styles = spread_pairs(labels, labels, seed=1, by_class=True)
    assert contents.shape == (50,) and styles.shape == (50, 10)
    assert len(set(contents.tolist())) == 50
    assert len(set(labels[contents[:10]].tolist())) > 1  # the first few are not one class
    assert all(len(set(row.tolist())) == 10 for row in styles)  # ten different styles
    assert (labels[styles] != labels[contents][:, None]).all()
    again = spread_pairs(labels, labels, seed=1, by_class=True)
    assert np.array_equal(contents, again[0]) and np.array_equal(styles, again[1])
    assert not np.array_equal(styles, spread_pairs(labels, labels, seed=2, by_class=True)[1])
    # few images: every content, as many styles as the scarcest class leaves
    few = np.array([0, 0, 0, 1, 1, 2])
    contents, styles = spread_pairs(few, few, seed=0, by_class=True)
    assert sorted(contents.tolist()) == list(range(6)) and styles.shape == (6, 3)
    assert styles_per_content(few, np.arange(4), by_class=False) == 4  # any style: all four


def test_spread_indices_show_one_class_after_another() -> None:
    labels = np.repeat(np.arange(4), 5)
    shown = spread_indices(labels, 6, offset=1)
    assert labels[shown].tolist() == [1, 2, 3, 0, 1, 2]
    assert len(set(shown.tolist())) == 6


def test_the_grid_has_the_styles_on_top_and_the_contents_down_the_left() -> None:
    restyler, _ = build_networks(restyler_spec(CFG, 1, 28, 4), seed=0)
    images, _ = _batch(3)
    picture = style_grid(restyler, images[:3], images[3:7])
    # 4 rows (styles + 3 contents) x 5 columns (contents + 4 styles), 28 px shown at 84 px
    assert picture.shape == (2 + 4 * 86, 2 + 5 * 86, 1)
    assert picture[2:86, 2:86].max() == 0  # the empty corner


def test_the_artifact_rebuilds_the_same_restyler(tmp_path: Path) -> None:
    restyler, _ = build_networks(restyler_spec(CFG, 1, 28, 4), seed=0)
    save_restyler(tmp_path / "model.pt", restyler)
    loaded = load_restyler(tmp_path / "model.pt")
    images, _ = _batch(4)
    assert torch.equal(restyle_images(restyler, images, images.flip(0)),
                       restyle_images(loaded, images, images.flip(0)))  # fmt: skip
    torch.save({"format": "ganops-translator/1"}, tmp_path / "other.pt")
    with pytest.raises(DataError, match="not a ganops restyler"):
        load_restyler(tmp_path / "other.pt")


@pytest.mark.parametrize(("channels", "size"), [(1, 30), (2, 28), (1, 4)])
def test_shapes_a_restyler_cannot_take_are_named(channels: int, size: int) -> None:
    assert spec_problem(channels, size) is not None
    assert spec_problem(1, 28) is None and spec_problem(3, 32) is None

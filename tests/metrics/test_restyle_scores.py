"""The style scores and the no-GAN baselines on drawn shapes whose hand is known (bars of
known width and slant), and on real mnist-5k digits."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ganops.data.dataset import Split
from ganops.errors import DataError
from ganops.metrics import morpho
from ganops.metrics.restyle_scores import (
    diversity_over_styles,
    hand_made_restyle,
    pearson,
    retrieve_restyle,
    style_moved,
    style_retrieval,
)
from ganops.restyle.domains import RestyleSplit
from ganops.restyle.scoring import not_defined
from tests.metrics.test_morpho import SIZE, bar, segment

SLANTS = (-25.0, -15.0, -5.0, 5.0, 15.0, 25.0)
BLANK = np.zeros((SIZE, SIZE))


def stack(*images: np.ndarray) -> np.ndarray:
    return np.stack(images)[:, None]  # (N, 1, 28, 28) float in [0, 1]


@pytest.fixture(scope="module")
def real_pairs(test: Split) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """40 seeded test-split pairs, content and style of different classes: contents, styles
    (uint8 (40, 1, 28, 28)) and their labels."""
    rng = np.random.default_rng(0)
    contents = rng.choice(len(test.labels), 40, replace=False)
    styles = np.array([rng.choice(np.flatnonzero(test.labels != test.labels[c])) for c in contents])
    return test.images[contents], test.images[styles], test.labels[contents], test.labels[styles]


# --- correlations -------------------------------------------------------------------------------


def test_pearson_is_the_correlation_of_the_finite_pairs() -> None:
    x = np.array([1.0, 2.0, 3.0, 4.0, np.nan])
    assert pearson(x, 2 * x + 1) == pytest.approx(1.0)
    assert pearson(x, -x) == pytest.approx(-1.0)
    assert pearson(x, np.array([1.0, 3.0, 2.0, 4.0, 9.0])) == pytest.approx(0.8)
    assert math.isnan(pearson(x, np.ones(5)))  # no variation: undefined, not 0
    assert math.isnan(pearson(x[:2], x[:2]))  # fewer than MIN_PAIRS


def test_outputs_that_are_the_styles_correlate_with_the_styles_not_the_contents() -> None:
    """Bars of known widths: the output carries the style's width, so every correlation
    with the style is 1; the contents' widths were chosen uncorrelated with the styles'."""
    style_widths = (2.0, 3.0, 4.0, 5.0, 6.0)
    content_widths = (4.0, 2.0, 6.0, 5.0, 3.0)  # r = 0.1 with style_widths
    content_heights = (18.0, 22.0, 14.0, 20.0, 16.0)  # r = -0.3 with the styles' 14..22
    styles = stack(*(bar(w, height=10 + 2 * w) for w in style_widths))
    contents = stack(
        *(bar(w, height=h) for w, h in zip(content_widths, content_heights, strict=True))
    )
    scores = style_moved(styles, contents, styles)
    for name in ("thickness", "width", "height", "area"):
        assert scores[f"style_r_{name}"] == pytest.approx(1.0), name
        assert abs(scores[f"content_r_{name}"]) < 0.5, name
    assert math.isnan(scores["style_r_slant"])  # all upright: slant does not vary
    assert scores["pairs"] == scores["pairs_measured"] == 5.0


def test_blank_images_are_counted_and_left_out_not_a_crash() -> None:
    widths = (2.0, 3.0, 4.0, 5.0, 6.0)
    styles = stack(*(bar(w) for w in widths), BLANK)
    contents = stack(bar(3.0), BLANK, *(bar(3.0) for _ in widths[1:]))
    outputs = stack(*(bar(w) for w in widths[:-1]), BLANK, bar(4.0))
    scores = style_moved(outputs, contents, styles)
    assert (scores["blank_outputs"], scores["blank_contents"], scores["blank_styles"]) == (1, 1, 1)
    assert scores["pairs"] == 6 and scores["pairs_measured"] == 3  # pairs 0, 2, 3
    assert scores["style_r_thickness"] == pytest.approx(1.0)
    everything_blank = style_moved(stack(BLANK, BLANK, BLANK), contents[:3], styles[:3])
    assert math.isnan(everything_blank["style_r_thickness"])
    assert everything_blank["pairs_measured"] == 0


def test_pairs_that_do_not_line_up_are_a_one_line_error() -> None:
    with pytest.raises(DataError, match="pair up one to one, got 2, 3 and 3"):
        style_moved(
            stack(bar(2), bar(3)), stack(bar(2), bar(3), bar(4)), stack(bar(2), bar(3), bar(4))
        )
    with pytest.raises(DataError, match="2 contents and 1 styles"):
        hand_made_restyle(stack(bar(2), bar(3)), stack(bar(2)))


# --- the hand-made transform --------------------------------------------------------------------


def test_hand_made_restyle_copies_a_slant_that_is_all_the_styles_differ_in() -> None:
    """Styles: one 3 px bar at six slants. Contents: three different upright strokes, twice.
    The outputs lean as their styles do (within 1.1 degrees: the strokes' change after the
    shear rounds a bar's ends a little), so slant correlates ~1 with the
    style and not at all with the (upright) contents, whose slant does not vary."""
    styles = stack(*(bar(3.0, slant_deg=s) for s in SLANTS))
    shapes = (bar(2.0, height=16), segment(10, 6, 10, 22, width=4), bar(3.0, height=22))
    contents = stack(*shapes, *shapes)
    outputs = hand_made_restyle(contents, styles)
    assert outputs.shape == contents.shape and outputs.dtype == contents.dtype
    slant = morpho.measure_batch(outputs)["slant_deg"]
    np.testing.assert_allclose(slant, SLANTS, atol=1.5)
    scores = style_moved(outputs, contents, styles)
    assert scores["style_r_slant"] > 0.99
    assert abs(scores["content_r_slant"]) < 0.3 or math.isnan(scores["content_r_slant"])


def test_hand_made_restyle_copies_thickness_and_size() -> None:
    """Styles: upright bars of widths 2..5 and heights 14..22; one content (a 3 px bar). The
    strokes change in steps of 0.5 px (a disk of whole upscaled pixels): the outputs'
    thickness follows the style's within 0.6 px (errors -0.48..0.60), height within 1.5 px."""
    widths, heights = (2.0, 3.0, 4.0, 5.0, 2.5, 4.5), (22.0, 14.0, 18.0, 16.0, 20.0, 15.0)
    styles = stack(*(bar(w, height=h) for w, h in zip(widths, heights, strict=True)))
    contents = stack(*(bar(3.0, height=18.0) for _ in widths))
    result = morpho.measure_batch(hand_made_restyle(contents, styles))
    expected = morpho.measure_batch(styles)
    np.testing.assert_allclose(result["thickness"], expected["thickness"], atol=0.65)
    np.testing.assert_allclose(result["height"], expected["height"], atol=1.5)
    scores = style_moved(hand_made_restyle(contents, styles), contents, styles)
    assert scores["style_r_thickness"] > 0.9, scores  # 0.92: the 0.5 px steps
    assert scores["style_r_height"] > 0.95, scores


def test_hand_made_restyle_keeps_dtype_range_and_blank_inputs() -> None:
    content = (bar(3.0) * 255).round().astype(np.uint8)
    out = hand_made_restyle(np.stack([content, content, np.zeros_like(content)]),
                            np.stack([(bar(5.0, slant_deg=20) * 255).astype(np.uint8),
                                      np.zeros_like(content), content]))  # fmt: skip
    assert out.dtype == np.uint8 and out.shape == (3, SIZE, SIZE) and out[0].max() > 128
    np.testing.assert_array_equal(out[1], content)  # a blank style: nothing to copy
    np.testing.assert_array_equal(out[2], 0)  # a blank content stays blank
    tanh = hand_made_restyle(stack(bar(3.0)) * 2 - 1, stack(bar(5.0)) * 2 - 1, value_range=(-1, 1))
    assert tanh.min() >= -1.0 and tanh.max() <= 1.0
    assert morpho.measure(tanh[0, 0], (-1, 1)).thickness == pytest.approx(5.0, abs=0.6)


def test_hand_made_restyle_moves_the_hand_of_real_digits(
    real_pairs: tuple[np.ndarray, ...],
) -> None:
    """40 test-split pairs: the style's slant and thickness come through (r >= 0.9), width
    and height too (r >= 0.6), each far above the content's own; and the digit stays one."""
    contents, styles, _, _ = real_pairs
    outputs = hand_made_restyle(contents, styles)
    scores = style_moved(outputs, contents, styles)
    assert scores["blank_outputs"] == 0
    for name, floor in (("slant", 0.9), ("thickness", 0.9), ("width", 0.6), ("height", 0.6)):
        assert scores[f"style_r_{name}"] >= floor, (name, scores)
        assert scores[f"style_r_{name}"] > scores[f"content_r_{name}"], (name, scores)
    as_is = style_moved(contents, contents, styles)
    assert as_is["content_r_slant"] == pytest.approx(1.0) and abs(as_is["style_r_slant"]) < 0.5


def test_the_thickness_the_transform_aims_by_is_the_measured_one_exactly(
    real_pairs: tuple[np.ndarray, ...],
) -> None:
    """The transform's own thickness reading (the measurement's steps for thickness alone)
    is `morpho.measure`'s thickness to the last bit, on upscaled real digits, a dilated one
    and a blank one."""
    from skimage import morphology

    from ganops.metrics.restyle_scores import _thickness

    contents, _, _, _ = real_pairs
    bigs = [morpho.upscale(morpho._unit_image(image[0], None)) for image in contents[:12]]
    bigs.append(morphology.dilation(bigs[0], morpho._stroke_disk(1.0)))
    for big in bigs:
        assert _thickness(big) == morpho.measure(morpho.downscale(big)).thickness
    assert math.isnan(_thickness(np.zeros_like(bigs[0])))


def test_hand_made_restyle_in_processes_gives_the_same_bytes(
    real_pairs: tuple[np.ndarray, ...], monkeypatch: pytest.MonkeyPatch, pool_starts: list[int]
) -> None:
    """Shared among three spawned processes (parts of at least 10 images here), the 40 real
    pairs and a blank style come out byte for byte as in one process, in their order; with
    the styles' measurements given, as measured here."""
    import ganops.metrics.restyle_scores as module

    contents, styles, _, _ = real_pairs
    contents = np.concatenate([contents, contents[:1]])
    styles = np.concatenate([styles, np.zeros_like(styles[:1])])  # a blank style: as it is
    alone = hand_made_restyle(contents, styles, workers=1)
    monkeypatch.setattr(module, "MIN_PER_WORKER", 10)
    shared = hand_made_restyle(contents, styles, workers=3)
    assert pool_starts == [3]
    np.testing.assert_array_equal(shared, alone)
    np.testing.assert_array_equal(shared[-1], contents[-1])
    assert hand_made_restyle(contents[:15], styles[:15], workers=3).shape == (15, 1, 28, 28)
    assert pool_starts == [3]  # 15 images: one part of at least 10, in this process
    given = hand_made_restyle(contents, styles, workers=1, hands=morpho.measure_batch(styles))
    np.testing.assert_array_equal(given, alone)
    with pytest.raises(DataError, match="39 measured styles for 41 pairs"):
        hand_made_restyle(contents, styles, hands=morpho.measure_batch(styles[:39]))


# --- retrieval ----------------------------------------------------------------------------------


def test_retrieval_takes_the_contents_class_and_the_nearest_standardised_hand() -> None:
    """Class 0 holds (3 px, upright) and (5 px, 10 degrees); class 1's slants spread from
    -40 to 40 degrees, so a degree weighs little. A 5 px upright style is 3 px of thickness
    from the first and 10 degrees of slant from the second: in raw units the first is
    nearer, standardised by the training split's spread the second. Class 1's heights vary
    (16 and 24 px) so that height has a spread to divide by."""
    slanted = [
        bar(4.0, height=h, slant_deg=s) for s, h in ((-40, 16), (-20, 24), (20, 16), (40, 24))
    ]
    pool = [bar(3.0), bar(5.0, slant_deg=10), *slanted]
    labels = np.array([0, 0, 1, 1, 1, 1])
    train = stack(*pool)
    styles = stack(bar(5.0), bar(4.0, height=24, slant_deg=35))
    got = retrieve_restyle(np.array([0, 1]), styles, train, labels)
    np.testing.assert_array_equal(got[0], train[1])
    np.testing.assert_array_equal(got[1], train[5])
    with pytest.raises(DataError, match="no training image of class 2"):
        retrieve_restyle(np.array([2]), stack(bar(5.0)), train, labels)


def test_retrieval_on_real_digits_keeps_the_class_and_follows_the_style(
    real_pairs: tuple[np.ndarray, ...], train: Split
) -> None:
    contents, styles, content_labels, _ = real_pairs
    pool_images, pool_labels = train.images[::3], train.labels[::3]  # every class
    measured = morpho.measure_batch(pool_images)
    outputs = retrieve_restyle(
        content_labels, styles, pool_images, pool_labels, train_measures=measured
    )
    rows = [int(np.flatnonzero((pool_images == out).all(axis=(1, 2, 3)))[0]) for out in outputs]
    np.testing.assert_array_equal(pool_labels[rows], content_labels)
    scores = style_moved(outputs, contents, styles)
    for name in ("slant", "thickness", "width", "height"):
        assert scores[f"style_r_{name}"] >= 0.6, (name, scores)
        assert scores[f"style_r_{name}"] > scores[f"content_r_{name}"], (name, scores)


# --- scores on features -------------------------------------------------------------------------


def test_style_retrieval_is_one_for_the_styles_themselves_and_half_for_noise() -> None:
    rng = np.random.default_rng(0)
    styles = rng.normal(size=(200, 8))
    assert style_retrieval(styles, styles) == 1.0
    assert style_retrieval(rng.normal(size=(200, 8)), styles) == pytest.approx(0.5, abs=0.03)
    assert style_retrieval(np.zeros((5, 8)), styles[:5]) == 0.5  # all ties
    # style 0 is nearest output 0; style 1 is nearer output 0 than its own: 1 of 2 comparisons
    outputs = np.array([[0.0], [10.0]])
    assert style_retrieval(outputs, np.array([[0.0], [4.0]])) == 0.5
    assert style_retrieval(outputs, np.array([[0.0], [6.0]])) == 1.0
    with pytest.raises(DataError, match="one shape"):
        style_retrieval(np.zeros((3, 4)), np.zeros((3, 5)))
    with pytest.raises(DataError, match="at least 2 pairs"):
        style_retrieval(np.zeros((1, 4)), np.zeros((1, 4)))


def test_style_retrieval_in_class_takes_the_class_out_of_it() -> None:
    """Features that mostly read the class, each style of another class than its content:
    outputs that draw their content's class and ignore the style land under chance over all
    pairs (another pair's output can be of the style's class, its own never is), at chance
    within one class of content; outputs that carry their style find it either way."""
    rng = np.random.default_rng(2)
    classes = np.repeat(np.arange(3), 100)
    style_classes = (classes + 1) % 3
    look = rng.normal(size=(300, 4))  # what the style image shows beyond its class
    class_axis = 10.0 * np.eye(3)[:, :2]  # (3, 2): the class, loud
    styles = np.hstack([class_axis[style_classes], look])
    ignoring = np.hstack([class_axis[classes], rng.normal(size=(300, 4))])
    carrying = np.hstack([class_axis[classes], look])
    assert style_retrieval(ignoring, styles) < 0.4  # the class, not the style
    assert style_retrieval(ignoring, styles, classes) == pytest.approx(0.5, abs=0.03)
    assert style_retrieval(carrying, styles, classes) > 0.95
    assert np.isnan(style_retrieval(ignoring[:3], styles[:3], classes[[0, 100, 200]]))
    with pytest.raises(DataError, match="one content class a pair"):
        style_retrieval(ignoring, styles, classes[:10])


def test_diversity_over_styles_is_the_spread_of_each_contents_outputs() -> None:
    same = np.zeros((3, 10, 4))  # every content drawn the same in every style
    assert diversity_over_styles(same) == {"style_spread": 0.0, "style_spread_min": 0.0}
    two_points = [np.array([[0.0, 0.0], [2.0, 0.0]]), np.array([[0.0, 0.0], [0.0, 4.0]])]
    scores = diversity_over_styles(two_points)
    assert scores == {"style_spread": 3.0, "style_spread_min": 2.0}
    real = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 0.0], [0.0, 8.0]])
    ratio = diversity_over_styles(two_points, np.array([0, 1]), real, np.array([0, 0, 1, 1]))
    assert ratio["style_spread_ratio"] == pytest.approx((2 / 1 + 4 / 8) / 2)
    with pytest.raises(DataError, match="S >= 2"):
        diversity_over_styles([np.zeros((1, 4))])
    with pytest.raises(DataError, match="go together"):
        diversity_over_styles(two_points, np.array([0, 1]))


def test_style_retrieval_of_a_shuffled_pairing_is_chance_and_of_a_near_copy_one() -> None:
    """Outputs that copy another pair's style (a derangement) know nothing of their own:
    chance; each output its own style plus small noise: every style finds its output."""
    rng = np.random.default_rng(1)
    styles = rng.normal(size=(300, 16))
    shuffled = styles[np.roll(np.arange(300), 7)]  # output i is style i + 7's copy
    assert style_retrieval(shuffled, styles) == pytest.approx(0.5, abs=0.02)
    assert style_retrieval(styles + rng.normal(scale=0.05, size=styles.shape), styles) == 1.0
    # each style on the other pair's output: it loses every comparison
    assert style_retrieval(np.array([[0.0], [10.0]]), np.array([[10.0], [0.0]])) == 0.0


def test_the_spread_over_styles_stands_beside_the_real_spread_of_the_class() -> None:
    """`style_spread_real` is the real spread of each content's class, averaged over the
    contents; without classes (all 0) it is that of every real image."""
    outputs = np.array([[[0.0], [3.0]], [[0.0], [6.0]]])  # (2 contents, 2 styles, D=1)
    real = np.array([[0.0], [1.0], [10.0], [14.0]])  # class 0 spread 1, class 1 spread 4
    scores = diversity_over_styles(outputs, np.array([0, 1]), real, np.array([0, 0, 1, 1]))
    assert scores["style_spread"] == 4.5 and scores["style_spread_min"] == 3.0
    assert scores["style_spread_real"] == pytest.approx((1 + 4) / 2)
    assert scores["style_spread_ratio"] == pytest.approx((3 / 1 + 6 / 4) / 2)
    one_class = diversity_over_styles(outputs, np.zeros(2, int), real, np.zeros(4, int))
    every_pair = [1, 10, 14, 9, 13, 4]  # |a - b| over the 6 pairs of the 4 real values
    assert one_class["style_spread_real"] == pytest.approx(np.mean(every_pair))


def test_a_class_with_one_real_image_has_no_real_spread_and_the_rest_stays() -> None:
    """A small folder's class with a single test image: the spread over styles is still
    scored, the real spread and the ratio are left out (the stage writes null), no error."""
    outputs = np.random.default_rng(0).normal(size=(2, 3, 4))
    real = np.random.default_rng(1).normal(size=(5, 4))
    scores = diversity_over_styles(outputs, np.array([0, 1]), real,
                                   np.array([0, 0, 0, 0, 1]))  # fmt: skip
    assert scores["style_spread"] > 0 and "style_spread_ratio" not in scores
    assert "style_spread_real" not in scores
    # the evaluate stage says why those two are null: class 1 has one real test image of B
    images = np.zeros((5, 1, 8, 8), np.uint8)
    content = Split(images[:4], np.array([0, 0, 1, 1]), ("a", "b"))
    style = Split(images, np.array([0, 0, 0, 0, 1]), ("a", "b"))
    why = not_defined(RestyleSplit(content, style, by_class=True, digits=False))
    assert "class 1 has fewer than two real test images" in why[
        "style_spread_real, style_spread_ratio"]  # fmt: skip

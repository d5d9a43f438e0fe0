"""The restyle task on two domains, through the stage scripts in-process on real tiny runs:
MNIST digits (content, `restyle.content_source`) in the hand of UCI digits (style,
`data.source`), and a user's own folder (`restyle.folder`); and the bad inputs, each one line
naming its key before anything is written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pytest
from PIL import Image

from ganops.config import params_hash
from ganops.errors import DataError
from ganops.params import load_params, parse_params
from ganops.restyle.domains import load_restyle_split
from ganops.restyle.outputs import load_restyled
from tests.helpers import STAGE_ARGS, STAGE_NAMES, load_stage, run_stages_in, train_record
from tests.helpers import write_params as write_tiny_params

# 30 train images a class of each domain (300 each) in batches of 25: 12 steps; 200 test
# images a domain; 60 pairs measured by evaluate (the Morpho-MNIST measurements are most of
# that stage, and retrieval measures B's 300 train images).
TWO_DOMAINS: dict[str, Any] = {
    "task": "restyle",
    "restyle": {"content_source": "mnist-5k", "epochs": 1, "batch_size": 25, "width": 4,
                "style_dim": 2, "blocks": 1},
    "data": {"source": "uci-digits", "test_size": 200, "train_per_class": 30},
    "evaluator": {"epochs": 8},
    "eval": {"style_pairs": 60},
    # the four arms, 2 seeds of 2 steps, 1 digit of A of each class hand-made and restyled
    "downstream": {"seeds": 2, "steps": 2, "transformed_per_class": 1},
}  # fmt: skip
SIDE = 8  # px of the folder's images, and its data.image_size: the smallest a restyler takes


@pytest.fixture(scope="module")
def two_domain_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace where the seven stages drew MNIST digits in UCI digits' hands (tiny)."""
    base = tmp_path_factory.mktemp("restyle_two")
    run_stages_in(base, STAGE_NAMES, TWO_DOMAINS)
    return base


def test_both_domains_are_fetched_and_split(two_domain_run: Path) -> None:
    processed = two_domain_run / "data/processed"
    a = json.loads((processed / "A/manifest.json").read_text())
    b = json.loads((processed / "manifest.json").read_text())
    assert (a["source"], b["source"]) == ("mnist-5k", "uci-digits")
    assert a["splits"]["test"]["count"] == b["splits"]["test"]["count"] == 200
    record = train_record(two_domain_run / "data/train/run.json")
    assert record["steps"] == 300 // 25  # an epoch is a pass over A's train split
    mlflow.set_tracking_uri(f"sqlite:///{two_domain_run / 'mlflow.db'}")
    run = mlflow.get_run(record["run_id"])
    assert run.data.params["restyle.content_source"] == "mnist-5k"
    quick = (two_domain_run / "data/train/fid.tsv").read_text().splitlines()
    assert quick[0].split("\t") == ["step", "quick_fid", "quick_content_kept"]


def test_every_content_of_a_is_drawn_in_a_style_of_b(two_domain_run: Path) -> None:
    arrays = load_restyled(two_domain_run / "data/samples")
    processed = two_domain_run / "data/processed"
    a_labels = np.load(processed / "A/test_labels.npy")
    b_labels = np.load(processed / "test_labels.npy")
    outputs, labels = arrays["samples.npy"], arrays["labels.npy"]
    assert outputs.shape == (len(a_labels), 1, 28, 28) and outputs.dtype == np.uint8
    assert np.array_equal(arrays["content_index.npy"], np.arange(len(a_labels)))
    assert np.array_equal(labels, a_labels)
    assert arrays["style_index.npy"].max() < len(b_labels)
    assert np.array_equal(arrays["style_labels.npy"], b_labels[arrays["style_index.npy"]])
    assert (arrays["style_labels.npy"] != labels).all()  # the same classes: another one's hand


def test_evaluate_scores_every_way_against_b(two_domain_run: Path) -> None:
    ways = json.loads((two_domain_run / "data/eval/metrics.json").read_text())
    assert set(ways) == {"restyle", "content", "style", "hand_made", "retrieval"}
    for name, scores in ways.items():  # digits on both sides, one set of classes: all defined
        assert scores["pairs"] == 60 and scores["spread_contents"] == 60 // 10
        for key in ("content_kept", "fid", "kid_mean", "precision", "recall", "style_r_slant",
                    "style_retrieval", "style_spread", "style_spread_ratio"):  # fmt: skip
            assert scores[key] is not None, (name, key)
    for measurement in ("slant", "thickness", "width", "height"):  # exact by construction
        assert ways["content"][f"content_r_{measurement}"] == pytest.approx(1.0)
        assert ways["style"][f"style_r_{measurement}"] == pytest.approx(1.0)
    assert ways["hand_made"]["style_r_slant"] > 0.8  # it sets the very slant it is scored on
    # B's evaluator reads a UCI style image as its own class, not the content's
    assert ways["style"]["content_kept"] < 0.3 < ways["retrieval"]["content_kept"]
    assert ways["retrieval"]["nn_distance_ratio"] == 0.0  # B's training digits, copied


def test_downstream_learns_a_in_b_hands_tested_on_b_and_not_on_uci_again(
    two_domain_run: Path,
) -> None:
    """MNIST's digits (A) as they are, with affine, with hand-made and restyled ones in UCI's
    hands (B) added, tested on B's test split; UCI's writers wrote B: no second UCI test."""
    metrics = json.loads((two_domain_run / "data/downstream/metrics.json").read_text())
    assert set(metrics["per_seed"]) == {"test"} and "uci" not in metrics
    assert "uci_mnist_geometry" not in metrics
    assert (metrics["train_images"], metrics["transformed_images"]) == (300, 10)
    assert metrics["test_images"] == 200
    for arm in ("real", "affine", "handmade", "restyled"):
        assert list(metrics["per_seed"]["test"][arm]) == ["0", "1"]
    assert metrics["test"]["gain_restyled_vs_handmade"]["stderr"] > 0


def test_a_one_domain_workspace_is_refused_with_the_fix(
    two_domain_run: Path, tmp_path: Path
) -> None:
    processed = tmp_path / "processed"
    processed.mkdir()
    for name in ("manifest.json", "test_images.npy", "test_labels.npy"):
        (processed / name).write_bytes((two_domain_run / "data/processed" / name).read_bytes())
    params = load_params(two_domain_run / "params.yaml")
    with pytest.raises(DataError, match=r"holds no content domain .*rerun the preprocess stage"):
        load_restyle_split(params, processed, "test")


def test_the_new_keys_shape_the_hash_only_when_set() -> None:
    """Null (or off), they leave the one-domain run the hash it had before they existed (its
    checkpoint resumes, `ganops report` finds its run): the default's, as computed before, at
    the default's length of then (10 passes; `params.yaml` trains 750 steps since 2026-11-29)."""
    then = {"epochs": 10}
    one = parse_params({"task": "restyle", "restyle": then})
    assert params_hash(one) == "7a28e1b45ad39848"
    two = {"task": "restyle", "data": {"source": "uci-digits"}}
    hashes = {
        params_hash(parse_params(two | {"restyle": then | {"content_source": source}}))
        for source in ("mnist-5k", "mnist")
    }
    folder = {"task": "restyle", "restyle": then | {"folder": "mine"}}
    hashes.add(params_hash(parse_params(folder)))
    shapes = ({"geometry": 0.3}, {"warp": True}, {"semantic": 1.0}, {"geometry_numbers": "strokes"})
    for shape in (*shapes, {"geometry_slant": 2.0}):
        hashes.add(params_hash(parse_params({"task": "restyle", "restyle": then | shape})))
    assert len(hashes) == 8 and params_hash(one) not in hashes


def save(path: Path, pixels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


def user_folder(root: Path, classes: tuple[str, ...] = (), colour_b: bool = False) -> Path:
    """CycleGAN's unpaired layout: dark shapes in trainA/ and testA/, light ones in trainB/
    and testB/ (6 train and 4 test images a class; `classes` as sub-folders, or none)."""
    rng = np.random.default_rng(0)
    for domain, base in (("A", 40), ("B", 180)):
        for split, count in (("train", 6), ("test", 4)):
            for name in classes or ("",):
                for index in range(count):
                    shape = (SIDE, SIDE, 3) if colour_b and domain == "B" else (SIDE, SIDE)
                    pixels = rng.integers(base, base + 60, shape, dtype=np.uint8)
                    save(root / f"{split}{domain}" / name / f"{index}.png", pixels)
    return root


FOLDER_RUN: dict[str, Any] = {
    "task": "restyle",
    "restyle": {"epochs": 2, "batch_size": 4, "width": 4, "style_dim": 2, "blocks": 1},
    "data": {"image_size": SIDE},
    "evaluator": {"epochs": 1, "min_accuracy": 0.0},
    "sample": {"num_samples": 4},
    "eval": {"kid_subset_size": 4, "isc_splits": 2, "style_pairs": 8},
}


@pytest.mark.parametrize("classes", [(), ("round", "square")])
def test_the_stages_run_on_a_users_folder_and_say_what_is_not_defined(
    classes: tuple[str, ...], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Images that are no digits: FID and the realism scores against B's test split, style
    retrieval and the spread over styles; the style correlations, the hand-made transform and
    retrieval null, and the log says why; content kept only where both domains have the same
    class sub-folders."""
    root = user_folder(tmp_path / "mine", classes)
    base = tmp_path / "work"
    base.mkdir()
    overrides = FOLDER_RUN | {"restyle": FOLDER_RUN["restyle"] | {"folder": str(root)}}
    run_stages_in(base, STAGE_NAMES, overrides)
    said = capsys.readouterr().err
    split = load_restyle_split(load_params(base / "params.yaml"), base / "data/processed", "test")
    assert split.two_domains and not split.digits and split.by_class == bool(classes)
    assert split.content.class_names == split.style.class_names
    arrays = load_restyled(base / "data/samples")
    tests = 4 * max(len(classes), 1)  # testA/ and testB/ kept as the test splits
    assert len(split.content.images) == len(split.style.images) == tests
    assert arrays["samples.npy"].shape == (tests, 1, SIDE, SIDE)
    ways = json.loads((base / "data/eval/metrics.json").read_text())
    assert set(ways) == {"restyle", "content", "style", "hand_made", "retrieval"}
    for name in ("restyle", "content", "style"):
        assert ways[name]["fid"] is not None and ways[name]["kid_mean"] is not None
        assert ways[name]["style_r_slant"] is None
        assert (ways[name]["content_kept"] is None) == (not classes)
        # the scores that need no digit: whether a style finds its output, and the spread of
        # one content over 4 styles (all B's test images, or all of the other class) beside
        # the real spread of B's test images; 8 pairs' worth is 2 contents
        assert 0.0 <= ways[name]["style_retrieval"] <= 1.0
        assert (ways[name]["spread_contents"], ways[name]["spread_styles"]) == (2, 4)
        assert ways[name]["style_spread_real"] > 0 and ways[name]["style_spread"] is not None
    assert ways["content"]["style_spread"] == 0.0
    assert ways["style"]["style_retrieval"] >= 0.5  # 1, a tie where two pairs share a style
    for name in ("hand_made", "retrieval"):
        counts = ("pairs", "spread_contents", "spread_styles")
        assert all(value is None for key, value in ways[name].items() if key not in counts)
    assert "not defined for this data" in said and "hand_made, as the images are not" in said
    assert ("content_kept, as the two domains do not share" in said) == (not classes)
    assert json.loads((base / "data/downstream/metrics.json").read_text()) == {}
    assert "no downstream arms (the images are not both digits" in said
    quick = (base / "data/train/fid.tsv").read_text().splitlines()[0].split("\t")
    assert quick == ["step", "quick_fid", "quick_content_kept"][: 3 if classes else 2]


def _folder_without_train_b(root: Path) -> Path:
    user_folder(root)
    for path in sorted((root / "trainB").iterdir()):
        path.unlink()
    (root / "trainB").rmdir()
    return root


@pytest.mark.parametrize(
    ("overrides", "stage", "message"),
    [
        ({"restyle": {"content_source": "uci-digits"}}, "fetch", "restyle.content_source: the "
         "content images are 'uci-digits', the same source as the style images"),
        ({"restyle": {"content_source": "nope"}}, "fetch",
         "restyle.content_source: unknown data source 'nope'"),
        ({"restyle": {"content_source": "mnist-5k", "folder": "mine"}}, "fetch",
         "restyle.folder: holds both domains, so restyle.content_source must be null"),
        ({"restyle": {"content_source": None, "folder": "no-train-b"}}, "fetch",
         "trainB/ holds no images"),
        ({"restyle": {"content_source": None, "folder": "grey-and-colour"}}, "fetch",
         "domain A's images are grey (1 channel) and domain B's in colour (3 channels)"),
        ({"run": {"nproc": 2}}, "train", "run.nproc: task restyle trains in one process"),
    ],
)  # fmt: skip
def test_bad_two_domain_input_is_one_line_naming_it(
    overrides: dict[str, Any], stage: str, message: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    _folder_without_train_b(tmp_path / "no-train-b")
    user_folder(tmp_path / "grey-and-colour", colour_b=True)
    monkeypatch.chdir(tmp_path)
    params = {"task": "restyle", "data": {"source": "uci-digits"}}
    restyle = {"content_source": "mnist-5k"} | overrides.get("restyle", {})
    write_tiny_params(Path("params.yaml"), params | overrides | {"restyle": restyle})
    assert load_stage(stage).main(STAGE_ARGS[stage]) != 0
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and message in error[0], error
    assert not Path("data").exists()  # nothing written

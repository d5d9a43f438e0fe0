"""A user's own translation data set (`translate.folder`): each layout read with its pairing,
labels and splits; every bad data set stopped with one line before anything is written; and
the stages run on one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from ganops.config import Params
from ganops.data.dataset import load_split
from ganops.errors import ConfigError, DataError
from ganops.params import parse_params
from ganops.translation.domains import domain_names, load_domains
from ganops.translation.folders import detect_layout, fetch_folder, preprocess_folder
from tests.helpers import run_stages_in, train_record

SIDE = 8  # px of every test image: data.image_size is the same, so pixels arrive unresized
RNG = np.random.default_rng(0)


def save(path: Path, pixels: np.ndarray) -> None:
    """`pixels` ((H, W) grey or (H, W, 3) colour uint8) as a PNG at `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


def picture(value: int, colour: bool = False, width: int = SIDE) -> np.ndarray:
    """An image whose top-left pixel is `value` (its identity), the rest noise."""
    shape = (SIDE, width, 3) if colour else (SIDE, width)
    pixels = RNG.integers(0, 256, size=shape, dtype=np.uint8)
    pixels[0, 0] = value
    return pixels


def partner(a: np.ndarray) -> np.ndarray:
    """B's image of the pair whose A image is `a`: its negative."""
    return 255 - a


def paired_folders(root: Path, classes: dict[str, int], inside: str = "") -> None:
    """`A/<inside>/<class>/<i>.png` and their partners in `B/`; each A image's top-left
    pixel numbers it."""
    value = 0
    for name, count in classes.items():
        for index in range(count):
            relative = Path(inside) / name / f"{index}.png"
            a = picture(value)
            save(root / "A" / relative, a)
            save(root / "B" / relative, partner(a))
            value += 1


def side_by_side(path: Path, value: int) -> None:
    """A pix2pix AB image: A (numbered by `value`) on the left, its partner on the right."""
    a = picture(value)
    save(path, np.concatenate([a, partner(a)], axis=1))


def params(folder: Path, **data: Any) -> Params:
    return parse_params(
        {
            "task": "translate",
            "data": {"image_size": SIDE, "test_size": 4} | data,
            "translate": {"folder": str(folder)},
            "eval": {"kid_subset_size": 2},
        }
    )


def run(folder: Path, tmp_path: Path, **data: Any) -> Path:
    """fetch + preprocess of `folder`; the processed directory."""
    raw, processed = tmp_path / "raw", tmp_path / "processed"
    fetch_folder(str(folder), raw)
    preprocess_folder(params(folder, **data), raw, processed)
    return processed


def manifests(processed: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    return (
        json.loads((processed / "A" / "manifest.json").read_text()),
        json.loads((processed / "manifest.json").read_text()),
    )


def assert_aligned(processed: Path) -> None:
    """Image i of A and image i of B are a pair in both splits, with the same label."""
    for split in ("train", "test"):
        domains = load_domains(processed, split)
        assert domains.aligned
        assert np.array_equal(domains.b.images, partner(domains.a.images))
        assert np.array_equal(domains.a.labels, domains.b.labels)


def test_paired_folders_with_classes_are_split_here_with_the_same_indices(
    tmp_path: Path,
) -> None:
    root = tmp_path / "pairs"
    paired_folders(root, {"cats": 6, "dogs": 6})
    (root / "notes.txt").write_text("skipped")
    processed = run(root, tmp_path)
    a, b = manifests(processed)
    assert (a["source"], b["source"]) == ("pairs/A", "pairs/B")
    assert domain_names(processed) == ("pairs/A", "pairs/B")
    assert a["paired_with"] == "pairs/B" and a["layout"] == b["layout"] == "paired"
    assert a["class_names"] == b["class_names"] == ["cats", "dogs"]
    assert b["splits"]["test"]["class_counts"] == {"cats": 2, "dogs": 2}  # stratified
    assert b["splits"]["train"]["count"] == 8
    assert a["image_shape"] == [1, SIDE, SIDE]
    assert_aligned(processed)
    # the raw directory holds the user's images as they are
    raw = tmp_path / "raw"
    assert (raw / "A/cats/0.png").read_bytes() == (root / "A/cats/0.png").read_bytes()
    assert not (raw / "notes.txt").exists()


def test_paired_folders_keep_their_split_folders_and_train_per_class(tmp_path: Path) -> None:
    root = tmp_path / "pairs"
    paired_folders(root, {"x": 5, "y": 5}, inside="train")
    paired_folders(root, {"x": 1, "y": 2}, inside="test")
    paired_folders(root, {"x": 3}, inside="val")  # not read beside test/
    processed = run(root, tmp_path, train_per_class=3)
    a, b = manifests(processed)
    assert b["splits"]["test"]["class_counts"] == {"x": 1, "y": 2}
    assert b["splits"]["train"]["class_counts"] == {"x": 3, "y": 3}
    assert a["folders"] == {"train": "A/train/", "test": "A/test/"}
    assert_aligned(processed)


@pytest.mark.parametrize("tests", ["test", "val", None])
def test_side_by_side_images_in_split_folders(tmp_path: Path, tests: str | None) -> None:
    """`val/` is the test split where there is no `test/`; with neither, it is made here."""
    root = tmp_path / "facades"
    for index in range(6):
        side_by_side(root / "train" / "cats" / f"{index}.png", index)
        side_by_side(root / "train" / "dogs" / f"{index}.png", 10 + index)
    if tests:
        for index in range(3):
            side_by_side(root / tests / "dogs" / f"{index}.png", 100 + index)
    processed = run(root, tmp_path)
    a, b = manifests(processed)
    assert a["layout"] == "side-by-side" and "paired_with" in a
    assert b["class_names"] == ["cats", "dogs"]
    if tests:
        assert b["splits"]["test"]["class_counts"] == {"cats": 0, "dogs": 3}
        assert b["splits"]["train"]["count"] == 12
    else:
        assert b["splits"]["test"]["class_counts"] == {"cats": 2, "dogs": 2}
    assert_aligned(processed)
    test_a = load_split(processed / "A", "test").images
    assert test_a.shape[1:] == (1, SIDE, SIDE)  # one half of each 16 x 8 image
    if tests:
        assert sorted(test_a[:, 0, 0, 0].tolist()) == [100, 101, 102]


def test_side_by_side_images_at_the_top_are_one_class(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "edges2shoes"
    for index in range(10):
        side_by_side(root / f"{index}.png", index)
    assert detect_layout(root).describe() == (
        "side-by-side: A from the left halves of ./ (split here), "
        "B from the right halves of ./ (split here)"
    )
    processed = run(root, tmp_path)
    a = manifests(processed)[0]
    assert a["class_names"] == ["images"]
    # one class: B's evaluator has nothing to learn, and preprocess says what that means
    assert "domain B has no class sub-folders, so it is one class" in caplog.text
    assert (a["splits"]["train"]["count"], a["splits"]["test"]["count"]) == (6, 4)
    assert_aligned(processed)


def test_unpaired_folders_each_domain_its_own_split(tmp_path: Path) -> None:
    """testA/ is A's test split; B, without testB/, is split here; A's classes are among B's."""
    root = tmp_path / "horse2zebra"
    for index in range(4):
        save(root / "trainA" / "dog" / f"{index}.png", picture(index, colour=True))
        save(root / "testA" / "dog" / f"{index}.png", picture(index, colour=True))
    for index in range(6):
        save(root / "trainB" / "cat" / f"{index}.png", picture(index, colour=True))
        save(root / "trainB" / "dog" / f"{index}.png", picture(index, colour=True))
    processed = run(root, tmp_path)
    a, b = manifests(processed)
    assert "paired_with" not in a and a["layout"] == "unpaired"
    assert a["class_names"] == b["class_names"] == ["cat", "dog"]  # one set: B's
    assert a["splits"]["test"]["class_counts"] == {"cat": 0, "dog": 4}
    assert b["splits"]["test"]["class_counts"] == {"cat": 2, "dog": 2}
    assert a["folders"] == {"train": "trainA/", "test": "testA/"}
    assert b["folders"] == {"train": "trainB/", "test": "trainB/"}
    assert a["image_shape"] == [3, SIDE, SIDE]
    test = load_domains(processed, "test")
    assert not test.aligned and test.a.labels.tolist() == [1, 1, 1, 1]


def test_translate_folder_and_source_name_domain_a_twice() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_params({"translate": {"folder": "mine", "source": "uci-digits"}})
    message = str(caught.value)
    assert "\n" not in message
    assert "translate.folder: holds both domains, so translate.source must be null" in message


def test_a_translator_takes_any_image_size_whatever_model_arch() -> None:
    """model.* is the GAN's: a 512 px data set, beyond every GAN arch, needs no arch change."""
    assert parse_params({"task": "translate", "data": {"image_size": 512}}).data.image_size == 512
    with pytest.raises(ConfigError, match=r"data\.image_size: dcgan supports"):
        parse_params({"data": {"image_size": 512}})


def _lonely_a(root: Path) -> None:
    paired_folders(root, {"x": 4})
    for name in ("x/0.png", "x/2.png", "x/3.png"):
        (root / "B" / name).unlink()


def _grey_and_colour(root: Path) -> None:
    for index in range(3):
        save(root / "trainA" / f"{index}.png", picture(index))
        save(root / "trainB" / f"{index}.png", picture(index, colour=True))


def _empty_domain(root: Path) -> None:
    for index in range(3):
        save(root / "trainA" / f"{index}.png", picture(index))
    (root / "trainB").mkdir()


def _single_test_image(root: Path) -> None:
    for index in range(3):
        save(root / "trainA" / f"{index}.png", picture(index))
        save(root / "trainB" / f"{index}.png", picture(index))
    save(root / "testA" / "0.png", picture(0))


def _odd_width(root: Path) -> None:
    for index in range(3):
        side_by_side(root / "train" / f"{index}.png", index)
    save(root / "train" / "3.png", picture(3, width=2 * SIDE + 1))


def _no_layout(root: Path) -> None:
    save(root / "cats" / "0.png", picture(0))
    save(root / "dogs" / "0.png", picture(1))


def _mixed_layouts(root: Path) -> None:
    paired_folders(root, {"x": 2})
    save(root / "trainA" / "0.png", picture(0))


def _stray_folder(root: Path) -> None:
    paired_folders(root, {"x": 2})
    save(root / "extra" / "0.png", picture(0))


def _other_classes(root: Path) -> None:
    for index in range(3):
        save(root / "trainA" / "cat" / f"{index}.png", picture(index))
        save(root / "trainB" / f"{index}.png", picture(index))


def _splits_beside_classes(root: Path) -> None:
    paired_folders(root, {"train": 2, "cats": 2})


BAD_DATA_SETS = {
    "a partner missing": (
        _lonely_a,
        r"pairs: A/x/0\.png has no partner B/x/0\.png \(nor have 2 other A/ files\): "
        r"paired folders pair A/<name> with B/<name>$",
    ),
    "channel counts": (
        _grey_and_colour,
        r"domain A's images are grey \(1 channel\) and domain B's in colour \(3 channels\)",
    ),
    "an empty domain": (_empty_domain, r"needs trainA/ and trainB/; trainB/ holds no images$"),
    "one image in a split": (
        _single_test_image,
        r"pairs/testA: domain A's test split has 1 image; a translator needs at least 2",
    ),
    "an odd width": (
        _odd_width,
        r"pairs/train: 3\.png is 17x8 px, an odd width: a side-by-side image is A on its left "
        r"half and B on its right",
    ),
    "no layout": (
        _no_layout,
        r"pairs: matches no layout of a translation data set \(it holds cats/, dogs/\); the "
        r"layouts: paired A/ \+ B/ .* unpaired trainA/ \+ trainB/",
    ),
    "mixed layouts": (
        _mixed_layouts,
        r"pairs: mixes layouts, A/, B/ \(paired\) and trainA/ \(unpaired\): keep one$",
    ),
    "a stray folder": (_stray_folder, r"pairs: extra/ beside the paired layout's A/, B/"),
    "other classes": (
        _other_classes,
        r"trainA/ has classes cat but domain B's trainB/ has no class sub-folders: the "
        r"label-aware "
        r"scores need one set of classes",
    ),
    "splits beside classes": (
        _splits_beside_classes,
        r"pairs/A: split folders \(train/\) beside cats/: put the class sub-folders inside",
    ),
}


@pytest.mark.parametrize("case", BAD_DATA_SETS, ids=str)
def test_a_bad_data_set_is_one_line_and_writes_nothing(tmp_path: Path, case: str) -> None:
    make, expected = BAD_DATA_SETS[case]
    root = tmp_path / "pairs"
    make(root)
    with pytest.raises(DataError, match=expected) as caught:
        fetch_folder(str(root), tmp_path / "raw")
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "raw").exists()


def test_a_split_made_too_small_stops_preprocess_before_any_write(tmp_path: Path) -> None:
    root = tmp_path / "pairs"
    paired_folders(root, {"x": 3})
    fetch_folder(str(root), tmp_path / "raw")
    with pytest.raises(DataError, match=r"its train split has 1 image\(s\); a translator needs"):
        preprocess_folder(params(root, test_size=2), tmp_path / "raw", tmp_path / "processed")
    assert not (tmp_path / "processed").exists()


def test_preprocess_refuses_the_raw_copy_of_another_folder(tmp_path: Path) -> None:
    root = tmp_path / "pairs"
    paired_folders(root, {"x": 4})
    fetch_folder(str(root), tmp_path / "raw")
    with pytest.raises(DataError, match=r"does not hold the data set translate\.folder names"):
        preprocess_folder(params(tmp_path / "other"), tmp_path / "raw", tmp_path / "processed")


def test_the_stages_run_on_a_users_folder(tmp_path: Path) -> None:
    """fetch, preprocess, the evaluator of B and a translator, in-process, on 16 AB images."""
    root = tmp_path / "mine"
    for index in range(8):
        side_by_side(root / "train" / "dark" / f"{index}.png", index)
        side_by_side(root / "train" / "light" / f"{index}.png", 200 + index)
    base = tmp_path / "work"
    base.mkdir()
    run_stages_in(
        base,
        ("fetch", "preprocess", "train_evaluator", "train"),
        {
            "task": "translate",
            "data": {"image_size": SIDE, "test_size": 4},
            "translate": {"folder": str(root), "epochs": 1, "batch_size": 6, "width": 4},
            "evaluator": {"epochs": 1, "min_accuracy": 0.0},
            "eval": {"kid_subset_size": 2},
        },
    )
    a, b = manifests(base / "data/processed")
    assert (a["source"], b["source"]) == ("mine/A", "mine/B")
    assert (base / "data/models/evaluator.pt").is_file()
    record = train_record(base / "data/train/run.json")
    assert record["run_id"]
    history = (base / "data/train/history.tsv").read_text().splitlines()
    assert len(history) > 1  # a header and the steps of one epoch

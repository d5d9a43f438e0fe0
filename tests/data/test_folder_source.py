"""The folder source: the user's own PNG/JPEG images, with or without class sub-folders."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ganops.config import DataConfig
from ganops.data.processing import preprocess
from ganops.data.sources import fetch_source, get_source
from ganops.errors import ConfigError, DataError
from ganops.params import parse_params

RNG = np.random.default_rng(0)


def save(path: Path, pixels: np.ndarray) -> Path:
    """Write `pixels` ((H, W) grey or (H, W, 3) colour uint8) as an image file at `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


def colour(height: int = 12, width: int = 12) -> np.ndarray:
    return RNG.integers(0, 256, size=(height, width, 3), dtype=np.uint8)


def grey(height: int = 12, width: int = 12) -> np.ndarray:
    return RNG.integers(0, 256, size=(height, width), dtype=np.uint8)


def folder_config(root: Path, **overrides: int) -> DataConfig:
    return DataConfig(source="folder", folder=str(root), **overrides)


def test_class_sub_folders_are_the_classes(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    cats = [save(root / "cats" / f"{index}.png", colour()) for index in range(3)]
    save(root / "dogs" / "a.jpg", colour())
    save(root / "dogs" / "older" / "b.jpeg", colour())
    save(root / "dogs" / ".hidden.png", colour())
    save(root / ".thumbnails" / "c.png", colour())
    (root / "notes.txt").write_text("not an image")
    cfg = folder_config(root, image_size=8, test_size=2)
    fetch_source(cfg, tmp_path / "raw")

    record = json.loads((tmp_path / "raw" / "source.json").read_text())
    names = ["cats/0.png", "cats/1.png", "cats/2.png", "dogs/a.jpg", "dogs/older/b.jpeg"]
    assert record["source"] == "folder" and sorted(record["files"]) == names
    assert record["files"]["dogs/a.jpg"]["origin"] == (root / "dogs" / "a.jpg").as_posix()
    assert (tmp_path / "raw" / "cats" / "0.png").read_bytes() == cats[0].read_bytes()

    decoded = get_source("folder").load(tmp_path / "raw")
    assert decoded.class_names == ("cats", "dogs")
    assert decoded.labels.tolist() == [0, 0, 0, 1, 1]
    first = np.asarray(Image.open(cats[0])).transpose(2, 0, 1)
    assert np.array_equal(decoded.images[0], first)  # same size: the pixels as they are
    manifest = preprocess(tmp_path / "raw", tmp_path / "processed", cfg)
    assert manifest["image_shape"] == [3, 8, 8] and manifest["class_names"] == ["cats", "dogs"]
    assert manifest["splits"]["test"]["class_counts"] == {"cats": 1, "dogs": 1}


def test_without_sub_folders_all_images_are_one_class(tmp_path: Path) -> None:
    root = tmp_path / "faces"
    for index in range(4):
        save(root / f"{index}.png", grey())
    cfg = folder_config(root, image_size=8, test_size=1)
    fetch_source(cfg, tmp_path / "raw")
    manifest = preprocess(tmp_path / "raw", tmp_path / "processed", cfg)
    assert manifest["class_names"] == ["images"]
    assert manifest["image_shape"] == [1, 8, 8]  # all grey: one channel
    assert manifest["splits"]["train"]["count"] == 3


def test_mixed_sizes_are_centre_cropped_to_the_shortest_side(tmp_path: Path) -> None:
    root = tmp_path / "mixed"
    wide = np.full((20, 30), 255, dtype=np.uint8)
    wide[:, :5] = wide[:, -5:] = 0  # the margins a centre crop removes
    save(root / "a_wide.png", wide)
    save(root / "b_tall.png", grey(height=50, width=40))
    save(root / "c_colour.jpg", colour(height=24, width=24))
    fetch_source(folder_config(root), tmp_path / "raw")
    decoded = get_source("folder").load(tmp_path / "raw")
    assert decoded.images.shape == (3, 3, 20, 20)  # one colour image makes all RGB
    assert np.all(decoded.images[0] == 255)  # grey, cropped to its centre: no margin left


def test_unreadable_images_are_named_in_one_line(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    save(root / "cats" / "good.png", colour())
    (root / "cats" / "broken.png").write_bytes(b"not a png at all")
    whole = save(root / "dogs" / "whole.jpg", colour(64, 64)).read_bytes()
    (root / "dogs" / "cut.jpg").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DataError) as caught:
        fetch_source(folder_config(root), tmp_path / "raw")
    message = str(caught.value)
    assert "\n" not in message
    assert message == f"{root}: 2 unreadable image files: cats/broken.png, dogs/cut.jpg"
    assert not (tmp_path / "raw").exists()


def test_many_unreadable_images_show_the_first_few_and_a_count(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    root.mkdir()
    for index in range(8):
        (root / f"{index}.png").write_bytes(b"")
    with pytest.raises(
        DataError, match=r": 8 unreadable image files: 0\.png, .*, 4\.png and 3 more$"
    ):
        fetch_source(folder_config(root), tmp_path / "raw")


@pytest.mark.parametrize("content", [None, ".hidden.png", "readme.txt"])
def test_a_folder_without_images_is_refused(tmp_path: Path, content: str | None) -> None:
    root = tmp_path / "empty"
    root.mkdir()
    if content:
        save(root / "x.png", grey()).rename(root / content)
    with pytest.raises(DataError, match=r"empty: the folder holds no images \(\.png, "):
        fetch_source(folder_config(root), tmp_path / "raw")


def test_layout_and_param_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"data\.folder: must name the folder of images"):
        parse_params({"data": {"source": "folder"}})
    with pytest.raises(DataError, match=r"nowhere: no such folder"):
        fetch_source(folder_config(tmp_path / "nowhere"), tmp_path / "raw")
    root = tmp_path / "photos"
    save(root / "cats" / "a.png", grey())
    save(root / "stray.png", grey())
    with pytest.raises(
        DataError, match=r"1 images \(first stray\.png\) sit beside class sub-folders"
    ):
        fetch_source(folder_config(root), tmp_path / "raw")

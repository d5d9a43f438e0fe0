"""Seeded stratified split, resizing and the manifest."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ganops.config import DataConfig
from ganops.data.dataset import UNLABELLED, load_split, read_manifest, to_training_tensor
from ganops.data.processing import (
    center_crop_resize,
    per_class_subset,
    preprocess,
    stratified_split,
)
from ganops.errors import DataError
from ganops.io import sha256_file


def test_split_is_stratified_disjoint_and_seeded() -> None:
    labels = np.repeat(np.arange(10), [500, 500, 500, 500, 500, 400, 300, 200, 100, 50])
    train, test = stratified_split(labels, test_size=1000, seed=3)
    assert len(test) == 1000 and len(train) == len(labels) - 1000
    assert not set(train) & set(test)
    share = np.bincount(labels[test], minlength=10) / np.bincount(labels, minlength=10)
    assert np.allclose(share, 1000 / len(labels), atol=0.01)
    again = stratified_split(labels, test_size=1000, seed=3)
    other = stratified_split(labels, test_size=1000, seed=4)
    assert np.array_equal(train, again[0]) and not np.array_equal(train, other[0])


def test_split_needs_training_images() -> None:
    with pytest.raises(DataError, match=r"data.test_size: 10 leaves no training images"):
        stratified_split(np.zeros(10, dtype=np.int64), test_size=10, seed=0)


def test_resize_crops_to_square_and_keeps_uint8() -> None:
    images = np.full((2, 3, 40, 30), 200, dtype=np.uint8)
    out = center_crop_resize(images, 16)
    assert out.shape == (2, 3, 16, 16) and out.dtype == np.uint8
    assert np.all(out == 200)
    same = center_crop_resize(images[:, :, :30], 30)
    assert np.array_equal(same, images[:, :, :30])


def test_manifest_describes_the_split(prepared: Path) -> None:
    processed = prepared / "processed"
    manifest = read_manifest(processed)
    assert manifest["source"] == "mnist-5k"
    assert manifest["image_shape"] == [1, 28, 28]
    assert manifest["splits"]["test"]["count"] == 1000
    assert set(manifest["splits"]["test"]["class_counts"].values()) == {100}
    assert set(manifest["splits"]["train"]["class_counts"].values()) == {400}
    for name, entry in manifest["files"].items():
        assert sha256_file(processed / name) == entry["sha256"]
    train = load_split(processed, "train")
    assert train.images.shape == (4000, 1, 28, 28) and train.images.dtype == np.uint8


def test_preprocess_is_deterministic_and_resizes(prepared: Path, tmp_path: Path) -> None:
    cfg = DataConfig()
    preprocess(prepared / "raw", tmp_path / "again", cfg)
    first = json.loads((prepared / "processed" / "manifest.json").read_text())
    second = json.loads((tmp_path / "again" / "manifest.json").read_text())
    assert first == second
    big = preprocess(prepared / "raw", tmp_path / "big", DataConfig(image_size=32))
    assert big["image_shape"] == [1, 32, 32]


def test_source_mismatch_is_refused(prepared: Path, tmp_path: Path) -> None:
    cfg = DataConfig.model_construct(**{**DataConfig().model_dump(), "source": "other"})
    with pytest.raises(DataError, match=r"holds source 'mnist-5k' but data.source is 'other'"):
        preprocess(prepared / "raw", tmp_path / "out", cfg)


def test_corrupt_processed_file_is_refused(prepared: Path, tmp_path: Path) -> None:
    preprocess(prepared / "raw", tmp_path / "p", DataConfig())
    target = tmp_path / "p" / "train_images.npy"
    target.write_bytes(target.read_bytes()[:-100])  # truncated
    with pytest.raises(DataError, match=r"train_images.npy: sha256 does not match manifest.json"):
        load_split(tmp_path / "p", "train")


def test_training_tensor_is_scaled_once() -> None:
    import torch

    pixels = np.array([[[[0, 255]]]], dtype=np.uint8)
    tensor = to_training_tensor(pixels, torch.device("cpu"))
    assert tensor.dtype == torch.float32
    assert tensor.flatten().tolist() == [-1.0, 1.0]


def test_a_per_class_subset_is_seeded_stratified_and_inside_the_train_split(
    prepared: Path, tmp_path: Path
) -> None:
    full = load_split(prepared / "processed", "train")
    manifest = preprocess(prepared / "raw", tmp_path / "ten", DataConfig(train_per_class=10))
    assert manifest["train_per_class"] == 10
    assert set(manifest["splits"]["train"]["class_counts"].values()) == {10}
    assert manifest["splits"]["test"] == read_manifest(prepared / "processed")["splits"]["test"]
    subset = load_split(tmp_path / "ten", "train")
    test = load_split(tmp_path / "ten", "test")
    assert np.array_equal(test.images, load_split(prepared / "processed", "test").images)
    # every kept image is one of the full train split's, none of the test split's
    full_rows = {image.tobytes() for image in full.images}
    assert all(image.tobytes() in full_rows for image in subset.images)
    again = preprocess(prepared / "raw", tmp_path / "again", DataConfig(train_per_class=10))
    assert again == manifest
    other = preprocess(
        prepared / "raw", tmp_path / "other", DataConfig(train_per_class=10, split_seed=1)
    )
    assert other["files"]["train_images.npy"] != manifest["files"]["train_images.npy"]


def test_the_default_manifest_does_not_mention_a_subset(prepared: Path) -> None:
    assert "train_per_class" not in read_manifest(prepared / "processed")


def test_more_per_class_than_the_smallest_class_is_refused_before_writing(
    prepared: Path, tmp_path: Path
) -> None:
    with pytest.raises(DataError) as caught:
        preprocess(prepared / "raw", tmp_path / "out", DataConfig(train_per_class=401))
    assert str(caught.value) == (
        "data.train_per_class: 401 is more than the 400 training images of class 0, "
        "the smallest class"
    )
    assert not (tmp_path / "out").exists()
    labels = np.array([0, 0, 0, 1, 1, 2, 2, 2])
    assert np.bincount(labels[per_class_subset(labels, 2, seed=0)]).tolist() == [2, 2, 2]


def test_labelled_per_class_keeps_every_image_and_hides_all_but_n_labels_a_class(
    prepared: Path, tmp_path: Path
) -> None:
    full = load_split(prepared / "processed", "train")
    manifest = preprocess(prepared / "raw", tmp_path / "ten", DataConfig(labelled_per_class=10))
    split = load_split(tmp_path / "ten", "train")
    # the images are the full train split's, in order; only labels are gone
    assert np.array_equal(split.images, full.images)
    known = ~split.unlabelled
    assert np.array_equal(split.labels[known], full.labels[known])
    assert set(split.labels[split.unlabelled]) == {UNLABELLED}
    assert np.bincount(split.labels[known]).tolist() == [10] * 10
    assert not split.fully_labelled and full.fully_labelled
    assert len(split.labelled().labels) == 100
    assert manifest["labelled_per_class"] == 10
    assert manifest["splits"]["train"]["count"] == len(full.labels)
    assert manifest["splits"]["train"]["unlabelled"] == len(full.labels) - 100
    assert set(manifest["splits"]["train"]["class_counts"].values()) == {10}
    # the test split keeps every label
    assert load_split(tmp_path / "ten", "test").labels.min() >= 0
    assert manifest["splits"]["test"] == read_manifest(prepared / "processed")["splits"]["test"]
    # seeded: the same choice again, another with another split seed
    again = preprocess(prepared / "raw", tmp_path / "again", DataConfig(labelled_per_class=10))
    assert again == manifest
    preprocess(
        prepared / "raw", tmp_path / "other", DataConfig(labelled_per_class=10, split_seed=1)
    )
    other = load_split(tmp_path / "other", "train")
    assert not np.array_equal(other.labels == UNLABELLED, split.labels == UNLABELLED)


def test_labelled_per_class_within_a_training_subset(prepared: Path, tmp_path: Path) -> None:
    cfg = DataConfig(train_per_class=20, labelled_per_class=5)
    manifest = preprocess(prepared / "raw", tmp_path / "out", cfg)
    split = load_split(tmp_path / "out", "train")
    assert len(split.labels) == 200 and manifest["splits"]["train"]["unlabelled"] == 150
    assert np.bincount(split.labelled().labels).tolist() == [5] * 10
    assert manifest["train_per_class"] == 20 and manifest["labelled_per_class"] == 5


def test_more_labels_a_class_than_the_smallest_class_is_refused_before_writing(
    prepared: Path, tmp_path: Path
) -> None:
    with pytest.raises(DataError) as caught:
        preprocess(prepared / "raw", tmp_path / "out", DataConfig(labelled_per_class=401))
    assert str(caught.value) == (
        "data.labelled_per_class: 401 is more than the 400 training images of class 0, "
        "the smallest class"
    )
    assert not (tmp_path / "out").exists()


def test_the_default_manifest_does_not_mention_labels_kept(prepared: Path) -> None:
    manifest = read_manifest(prepared / "processed")
    assert "labelled_per_class" not in manifest and "unlabelled" not in manifest["splits"]["train"]

"""Latents, grids and interpolation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganops.config import SampleConfig
from ganops.errors import DataError
from ganops.io import sha256_file
from ganops.models import GeneratorSpec, build_generator
from ganops.sampling import (
    LABELS_FILE,
    MANIFEST,
    SAMPLES_FILE,
    class_rows_grid,
    generate,
    interpolation_latents,
    interpolation_rows,
    label_batch,
    latent_batch,
    load_samples,
    make_grid,
    png_bytes,
    slerp,
    to_uint8,
    write_samples,
)


def test_latents_are_seeded() -> None:
    cpu = torch.device("cpu")
    assert torch.equal(latent_batch(4, 3, 7, cpu), latent_batch(4, 3, 7, cpu))
    assert not torch.equal(latent_batch(4, 3, 7, cpu), latent_batch(4, 3, 8, cpu))


def test_uint8_conversion_covers_the_range() -> None:
    images = torch.tensor([[[[-1.0, 0.0, 1.0, 2.0]]]])
    assert to_uint8(images).tolist() == [[[[0, 128, 255, 255]]]]


def test_grid_layout() -> None:
    images = np.zeros((10, 1, 4, 5), dtype=np.uint8)
    images[3] = 255
    grid = make_grid(images, columns=4, padding=1)
    assert grid.shape == (3 * 5 + 1, 4 * 6 + 1, 1)
    assert grid[1:5, 1 + 3 * 6 : 1 + 3 * 6 + 5].min() == 255  # image 3: row 0, column 3
    assert make_grid(np.zeros((64, 3, 2, 2), np.uint8)).shape == (8 * 4 + 2, 8 * 4 + 2, 3)


def test_png_encodes_gray_and_colour() -> None:
    import io

    for channels, mode in ((1, "L"), (3, "RGB")):
        picture = np.zeros((6, 7, channels), np.uint8)
        image = Image.open(io.BytesIO(png_bytes(picture)))
        assert image.mode == mode and image.size == (7, 6)


def test_slerp_hits_its_endpoints_and_keeps_norm() -> None:
    start, end = torch.randn(3, 64), torch.randn(3, 64)
    path = slerp(start, end, torch.linspace(0, 1, 5))
    assert path.shape == (3, 5, 64)
    assert torch.allclose(path[:, 0], start, atol=1e-5)
    assert torch.allclose(path[:, -1], end, atol=1e-5)
    # midpoints stay near the typical norm instead of shrinking towards the origin
    assert path[:, 2].norm(dim=1).min() > 0.8 * min(start.norm(dim=1).min(), end.norm(dim=1).min())
    assert interpolation_latents(2, 4, 8, seed=0).shape == (8, 8)


def test_generate_batches_and_restores_mode() -> None:
    generator = torch.nn.Sequential(
        torch.nn.Linear(2, 4), torch.nn.Tanh(), torch.nn.Unflatten(1, (1, 2, 2))
    )
    generator.train()
    out = generate(generator, torch.randn(7, 2), batch_size=3)
    assert out.shape == (7, 1, 2, 2) and out.dtype == np.uint8
    assert generator.training


class ClassShade(torch.nn.Module):
    """A stand-in conditional generator: every pixel of the image for class k is k / 10 of
    the way from black to white, whatever z, so a picture shows which label made it."""

    num_classes = 10

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        shade = labels.float() / self.num_classes * 2 - 1  # (B,) in [-1, 1)
        return shade[:, None, None, None].expand(len(z), 1, 28, 28)


def shade_of(label: int) -> int:
    """The uint8 pixel value `ClassShade` gives class `label`."""
    image = ClassShade()(torch.zeros(1, 8), torch.tensor([label]))
    return int(to_uint8(image)[0, 0, 0, 0])


CPU = torch.device("cpu")
CONDITIONAL = GeneratorSpec("dcgan", 8, 4, (1, 28, 28), num_classes=10)
SMALL = SampleConfig(
    num_samples=60, batch_size=16, grid_size=20, interpolation_rows=3, interpolation_steps=4
)


class LatentShade(torch.nn.Module):
    """A stand-in generator whose images show z's first entry; it takes (and ignores) labels
    when `num_classes` is set."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.num_classes = num_classes

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        assert (labels is None) == (self.num_classes == 0)
        return torch.tanh(z[:, :1, None, None]).expand(len(z), 1, 28, 28)


def test_labels_are_seeded_and_uniform() -> None:
    labels = label_batch(5000, 10, seed=1, device=CPU)
    assert labels.dtype == torch.int64 and labels.shape == (5000,)
    assert torch.equal(labels, label_batch(5000, 10, seed=1, device=CPU))
    assert not torch.equal(labels, label_batch(5000, 10, seed=2, device=CPU))
    counts = torch.bincount(labels, minlength=10)
    assert counts.min() > 400 and counts.max() < 600  # 500 expected per class


def test_a_conditional_generator_gets_the_latents_of_an_unconditional_one(
    tmp_path: Path,
) -> None:
    unconditional = GeneratorSpec("dcgan", 8, 4, (1, 28, 28))
    write_samples(LatentShade(0), unconditional, SMALL, tmp_path / "plain", CPU)
    write_samples(LatentShade(10), CONDITIONAL, SMALL, tmp_path / "conditional", CPU)
    plain, conditional = load_samples(tmp_path / "plain"), load_samples(tmp_path / "conditional")
    assert np.array_equal(plain[0], conditional[0])


def test_generate_hands_each_batch_its_labels() -> None:
    labels = torch.tensor([3, 1, 4, 1, 5, 9, 2])
    images = generate(ClassShade(), torch.zeros(7, 8), batch_size=3, labels=labels)
    assert images[:, 0, 0, 0].tolist() == [shade_of(k) for k in labels.tolist()]


def test_conditional_samples_carry_their_labels_and_a_grid_row_per_class(tmp_path: Path) -> None:
    files = write_samples(ClassShade(), CONDITIONAL, SMALL, tmp_path / "samples", CPU)
    assert set(files) == {SAMPLES_FILE, LABELS_FILE, "grid.png", "interpolation.png", MANIFEST}
    images, labels = load_samples(tmp_path / "samples")
    assert labels is not None and labels.dtype == np.int64 and labels.shape == (60,)
    assert images[:, 0, 0, 0].tolist() == [shade_of(k) for k in labels.tolist()]
    assert np.array_equal(labels, label_batch(60, 10, SMALL.seed, CPU).numpy())

    manifest = json.loads(files[MANIFEST].read_text())
    assert manifest["num_classes"] == 10 and manifest["count"] == 60
    assert manifest["files"][LABELS_FILE]["sha256"] == sha256_file(files[LABELS_FILE])

    # 20 grid images for 10 classes: 2 columns, one row per class; 28 px shown as 84 px
    grid = np.asarray(Image.open(files["grid.png"]))
    assert grid.shape == (10 * 86 + 2, 2 * 86 + 2)
    for row in range(10):
        for column in range(2):
            top, left = 2 + 86 * row, 2 + 86 * column
            assert (grid[top : top + 84, left : left + 84] == shade_of(row)).all()
    # interpolation: each row keeps one class (row r: class r), and every class shows: the 3
    # rows asked for become 10, one a class
    sheet = np.asarray(Image.open(files["interpolation.png"]))
    assert sheet.shape == (10 * 86 + 2, 4 * 86 + 2)
    for row in range(10):
        assert (sheet[2 + 86 * row, 2 : 4 * 86 : 86] == shade_of(row)).all()


def test_the_interpolation_sheet_shows_every_class_alike() -> None:
    assert [interpolation_rows(rows, 10) for rows in (1, 8, 10, 11, 20)] == [10, 10, 10, 20, 20]
    assert interpolation_rows(8, 0) == 8  # unconditional: as asked
    assert interpolation_rows(8, 3) == 9


def test_a_class_rows_grid_keeps_each_class_on_its_row() -> None:
    labels = np.array([4, 4, 4, 1, 1, 7, 7, 7])
    images = (labels * 20).astype(np.uint8)[:, None, None, None].repeat(2, 2).repeat(2, 3)
    grid = class_rows_grid(images, labels)  # (N, 1, 2, 2): shade = 20 * class
    assert grid.shape == (3 * 4 + 2, 3 * 4 + 2, 1)  # 3 classes, the largest has 3 images
    cells = grid[2::4, 2::4, 0][:3, :3]  # one pixel of each cell
    assert cells.tolist() == [[80, 80, 80], [20, 20, 0], [140, 140, 140]]


def test_a_conditional_dcgan_samples_and_more_classes_than_grid_cells(tmp_path: Path) -> None:
    cfg = SMALL.model_copy(update={"grid_size": 4})  # fewer cells than classes: one column
    generator = build_generator(CONDITIONAL)
    files = write_samples(generator, CONDITIONAL, cfg, tmp_path / "samples", CPU)
    assert np.asarray(Image.open(files["grid.png"])).shape == (10 * 86 + 2, 1 * 86 + 2)
    images, labels = load_samples(tmp_path / "samples")
    assert images.shape == (60, 1, 28, 28) and labels is not None


def test_unconditional_samples_have_no_labels(tmp_path: Path) -> None:
    spec = GeneratorSpec("dcgan", 8, 4, (1, 28, 28))
    files = write_samples(build_generator(spec), spec, SMALL, tmp_path / "samples", CPU)
    assert LABELS_FILE not in files and not (tmp_path / "samples" / LABELS_FILE).exists()
    assert "num_classes" not in json.loads(files[MANIFEST].read_text())
    images, labels = load_samples(tmp_path / "samples")
    assert images.shape == (60, 1, 28, 28) and labels is None
    grid = np.asarray(Image.open(files["grid.png"]))
    assert grid.shape == (4 * 86 + 2, 5 * 86 + 2)  # the first 20 samples, 5 a row, 3x size


def test_tampered_labels_are_refused(tmp_path: Path) -> None:
    files = write_samples(ClassShade(), CONDITIONAL, SMALL, tmp_path / "samples", CPU)
    np.save(files[LABELS_FILE], np.zeros(60, np.int64))
    with pytest.raises(DataError, match=r"labels\.npy: sha256 does not match manifest\.json"):
        load_samples(tmp_path / "samples")


def test_grids_scale_small_images_up_to_a_readable_size_without_blur() -> None:
    images = np.arange(2 * 1 * 28 * 28, dtype=np.uint8).reshape(2, 1, 28, 28)
    grid = make_grid(images, columns=2, padding=0, min_side=64)
    assert grid.shape == (84, 168, 1)  # 28 px x 3, the smallest whole factor reaching 64
    assert (grid[:3, :3, 0] == images[0, 0, 0, 0]).all()  # nearest neighbour: no new values
    assert set(np.unique(grid)) <= set(np.unique(images))
    assert make_grid(images, min_side=16).shape == make_grid(images).shape  # big enough already

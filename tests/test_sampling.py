"""Latents, grids and interpolation."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from ganops.sampling import (
    generate,
    interpolation_latents,
    latent_batch,
    make_grid,
    png_bytes,
    slerp,
    to_uint8,
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

"""Latent sampling, image grids and latent-space interpolation.

Latents are always drawn on the CPU from a seeded generator and then moved, so the same
seed gives the same latents on every device.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image
from torch import nn
from tqdm import tqdm

from ganops.io import (
    atomic_dir,
    read_json_record,
    save_npy,
    sha256_file,
    verify_file,
    write_bytes,
    write_json,
)
from ganops.models import GeneratorSpec

if TYPE_CHECKING:
    from ganops.config import SampleConfig

SAMPLES_FILE = "samples.npy"
MANIFEST = "manifest.json"


def latent_batch(n: int, latent_dim: int, seed: int, device: torch.device) -> torch.Tensor:
    """`(n, latent_dim)` standard-normal latents, identical for a seed on any device."""
    rng = torch.Generator(device="cpu").manual_seed(seed)
    return torch.randn(n, latent_dim, generator=rng).to(device)


def class_grid_labels(num_classes: int, per_class: int, device: torch.device) -> torch.Tensor:
    """`(num_classes * per_class,)` labels `0, ..., 0, 1, ..., 1, ...`: images generated
    for them and tiled by `make_grid(images, columns=per_class)` show one class per row."""
    if num_classes < 1 or per_class < 1:
        raise ValueError(
            f"a class grid needs at least one class and one image per class, "
            f"got {num_classes} and {per_class}"
        )
    return torch.arange(num_classes, device=device).repeat_interleave(per_class)


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """Images in [-1, 1] `(B, C, H, W)` -> uint8 `(B, C, H, W)` on the CPU."""
    pixels = (images.detach().float() + 1.0) * 127.5
    return pixels.round().clamp(0, 255).to(torch.uint8).cpu().numpy()  # type: ignore[no-any-return]


@torch.no_grad()
def generate(
    generator: nn.Module, latents: torch.Tensor, batch_size: int, progress: bool = False
) -> np.ndarray:
    """Run `generator` (in eval mode) over `latents` in batches; uint8 `(N, C, H, W)`."""
    was_training = generator.training
    generator.eval()
    chunks = []
    batches = range(0, latents.shape[0], batch_size)
    shown = None if progress else True  # None: a bar on a terminal, nothing in logs
    for start in tqdm(batches, desc="sample", unit="batch", disable=shown, leave=False):
        chunks.append(to_uint8(generator(latents[start : start + batch_size])))
    generator.train(was_training)
    return np.concatenate(chunks)


def make_grid(images: np.ndarray, columns: int | None = None, padding: int = 2) -> np.ndarray:
    """Tile uint8 `(N, C, H, W)` images into one `(rows*H', columns*W', C)` uint8 picture."""
    count, channels, height, width = images.shape
    columns = columns or math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    cell_h, cell_w = height + padding, width + padding
    grid = np.zeros((rows * cell_h + padding, columns * cell_w + padding, channels), np.uint8)
    for index, image in enumerate(images):
        row, column = divmod(index, columns)
        top, left = padding + row * cell_h, padding + column * cell_w
        grid[top : top + height, left : left + width] = image.transpose(1, 2, 0)
    return grid


def slerp(start: torch.Tensor, end: torch.Tensor, fractions: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between latent rows (White 2016): `(R, D), (R, D), (S,)`
    -> `(R, S, D)`. Gaussian latents live near a sphere, so straight lines cut through
    the low-density interior; arcs stay where the generator was trained."""
    start_unit = start / start.norm(dim=1, keepdim=True)
    end_unit = end / end.norm(dim=1, keepdim=True)
    omega = torch.acos((start_unit * end_unit).sum(1).clamp(-1.0, 1.0))[:, None, None]  # (R, 1, 1)
    t = fractions[None, :, None]  # (1, S, 1)
    sin_omega = torch.sin(omega).clamp_min(1e-7)
    out = (
        torch.sin((1 - t) * omega) * start[:, None] + torch.sin(t * omega) * end[:, None]
    ) / sin_omega
    linear = (1 - t) * start[:, None] + t * end[:, None]
    return torch.where(omega < 1e-4, linear, out)


def interpolation_latents(rows: int, steps: int, latent_dim: int, seed: int) -> torch.Tensor:
    """`(rows * steps, latent_dim)`: each row walks from one random latent to another."""
    ends = latent_batch(2 * rows, latent_dim, seed, torch.device("cpu"))
    path = slerp(ends[:rows], ends[rows:], torch.linspace(0.0, 1.0, steps))  # (R, S, D)
    return path.reshape(rows * steps, latent_dim)


def png_bytes(picture: np.ndarray) -> bytes:
    """Encode a `(H, W, C)` uint8 picture (C = 1 or 3) as PNG."""
    image = Image.fromarray(picture[:, :, 0] if picture.shape[2] == 1 else picture)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def save_png(path: Path, picture: np.ndarray) -> None:
    """Write a `(H, W, C)` uint8 picture as a PNG, atomically."""
    write_bytes(path, png_bytes(picture))


def write_samples(
    generator: nn.Module,
    spec: GeneratorSpec,
    cfg: SampleConfig,
    out: Path,
    device: torch.device,
) -> dict[str, Path]:
    """Write `samples.npy` (uint8 `(N, C, H, W)`), `grid.png`, `interpolation.png` and a
    `manifest.json` of sha256s into `out`, replaced whole; returns the final paths."""
    latents = latent_batch(cfg.num_samples, spec.latent_dim, cfg.seed, device)
    images = generate(generator, latents, cfg.batch_size, progress=True)
    path = interpolation_latents(
        cfg.interpolation_rows, cfg.interpolation_steps, spec.latent_dim, cfg.seed + 1
    ).to(device)
    strip = generate(generator, path, cfg.batch_size)
    pictures = {
        "grid.png": make_grid(images[: cfg.grid_size]),
        "interpolation.png": make_grid(strip, columns=cfg.interpolation_steps),
    }
    with atomic_dir(out) as staging:
        save_npy(staging / SAMPLES_FILE, images)
        for name, picture in pictures.items():
            save_png(staging / name, picture)
        files = sorted(p.name for p in staging.iterdir())
        write_json(
            staging / MANIFEST,
            {
                "count": int(images.shape[0]),
                "image_shape": list(images.shape[1:]),
                "seed": cfg.seed,
                "files": {name: {"sha256": sha256_file(staging / name)} for name in files},
            },
        )
    return {name: out / name for name in (SAMPLES_FILE, *pictures, MANIFEST)}


def load_samples(folder: Path) -> np.ndarray:
    """`samples.npy` from a `write_samples` folder, verified against its manifest."""
    manifest = read_json_record(folder / MANIFEST, producer="sample")
    entry = manifest.get("files", {}).get(SAMPLES_FILE, {})
    verify_file(folder / SAMPLES_FILE, entry.get("sha256"), MANIFEST, producer="sample")
    images: np.ndarray = np.load(folder / SAMPLES_FILE, allow_pickle=False)
    return images

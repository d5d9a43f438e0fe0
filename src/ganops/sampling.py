"""Latent sampling, image grids and latent-space interpolation.

Latents (and the class labels of a conditional generator) are always drawn on the CPU from a
seeded generator and then moved, so the same seed gives the same inputs on every device.
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

from ganops.errors import ConfigError, DataError
from ganops.io import (
    atomic_dir,
    read_json_record,
    refuse_foreign_folder,
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
LABELS_FILE = "labels.npy"
MANIFEST = "manifest.json"
_LABEL_STREAM = 1  # spawn key of the labels' random stream, apart from the latents'


def latent_batch(n: int, latent_dim: int, seed: int, device: torch.device) -> torch.Tensor:
    """`(n, latent_dim)` standard-normal latents, identical for a seed on any device."""
    rng = torch.Generator(device="cpu").manual_seed(seed)
    return torch.randn(n, latent_dim, generator=rng).to(device)


def label_batch(n: int, num_classes: int, seed: int, device: torch.device) -> torch.Tensor:
    """`(n,)` int64 class labels drawn uniformly, identical for a seed on any device. They come
    from a stream of their own, so a seed gives a conditional generator the same latents
    (`latent_batch`) as an unconditional one."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(_LABEL_STREAM,)))
    return torch.from_numpy(rng.integers(0, num_classes, size=n, dtype=np.int64)).to(device)


def class_labels(
    count: int,
    classes: list[int] | None,
    spec: GeneratorSpec,
    device: torch.device,
    option: str = "classes",
) -> torch.Tensor | None:
    """The labels `(count,)` of `count` samples: None for an unconditional generator; else
    `classes` (default: every class) in equal consecutive blocks, in the order given. A class
    the generator lacks, or any class for an unconditional one, is a `ConfigError` naming
    `option` (where the classes came from: a CLI flag, a request's field)."""
    if not spec.num_classes:
        if classes:
            raise ConfigError(f"{option}: this generator is unconditional and takes no class")
        return None
    chosen = classes or list(range(spec.num_classes))
    for label in chosen:
        if not 0 <= label < spec.num_classes:
            raise ConfigError(
                f"{option}: {label} is not a class of this generator (0 to {spec.num_classes - 1})"
            )
    block = torch.arange(count) * len(chosen) // count  # (count,) index into `chosen`
    return torch.tensor(chosen, dtype=torch.int64)[block].to(device)


def cycled_labels(count: int, num_classes: int, device: torch.device) -> torch.Tensor | None:
    """`(count,)` labels `0, 1, ..., num_classes - 1, 0, 1, ...`: every class alike, in a fixed
    order; None for an unconditional generator (`num_classes` 0)."""
    if not num_classes:
        return None
    return torch.arange(count, device=device) % num_classes


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
    generator: nn.Module,
    latents: torch.Tensor,
    batch_size: int,
    progress: bool = False,
    labels: torch.Tensor | None = None,
) -> np.ndarray:
    """Run `generator` (in eval mode) over `latents` `(N, D)`, and the class `labels` `(N,)`
    of a conditional one, in batches; uint8 `(N, C, H, W)`."""
    was_training = generator.training
    generator.eval()
    chunks = []
    batches = range(0, latents.shape[0], batch_size)
    shown = None if progress else True  # None: a bar on a terminal, nothing in logs
    for start in tqdm(batches, desc="sample", unit="batch", disable=shown, leave=False):
        batch = slice(start, start + batch_size)
        conditioning = () if labels is None else (labels[batch],)
        chunks.append(to_uint8(generator(latents[batch], *conditioning)))
    generator.train(was_training)
    return np.concatenate(chunks)


def make_grid(
    images: np.ndarray, columns: int | None = None, padding: int = 2, min_side: int = 0
) -> np.ndarray:
    """Tile uint8 `(N, C, H, W)` images into one `(rows*H', columns*W', C)` uint8 picture,
    each image scaled up by a whole factor (nearest neighbour, no blur) to at least
    `min_side` px: 28 px digits are too small to judge on screen (`READABLE_PX`)."""
    factor = max(1, math.ceil(min_side / min(images.shape[2:]))) if len(images) else 1
    if factor > 1:
        images = images.repeat(factor, axis=2).repeat(factor, axis=3)
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


READABLE_PX = 64  # the smallest side of an image in a grid meant for eyes (MLflow, PNGs)


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


def class_grid(
    generator: nn.Module, spec: GeneratorSpec, cfg: SampleConfig, device: torch.device
) -> np.ndarray:
    """A conditional generator's grid: one row per class, `grid_size // num_classes` columns
    (at least one). Each column keeps one latent, so along it only the class changes."""
    per_class = max(1, cfg.grid_size // spec.num_classes)
    columns = latent_batch(per_class, spec.latent_dim, cfg.seed, device)  # (per_class, D)
    latents = columns.repeat(spec.num_classes, 1)  # (num_classes * per_class, D)
    labels = class_grid_labels(spec.num_classes, per_class, device)
    images = generate(generator, latents, cfg.batch_size, labels=labels)
    return make_grid(images, per_class, min_side=READABLE_PX)


def interpolation_rows(requested: int, num_classes: int) -> int:
    """Rows of the interpolation sheet: `requested`, or for a conditional generator (row r
    keeps class r mod K) that rounded up to a whole number of rows per class, so that every
    class shows (8 rows of 10 digits would never show an 8 or a 9)."""
    if not num_classes:
        return requested
    return math.ceil(requested / num_classes) * num_classes


def class_rows_grid(images: np.ndarray, labels: np.ndarray, min_side: int = 0) -> np.ndarray:
    """Tile uint8 `images` `(N, C, H, W)` with one row per class in `labels` `(N,)` (in the
    order the classes first appear), as many columns as the largest class has images; a class
    with fewer leaves its row's last cells blank. `(H', W', C)` uint8, as `make_grid`."""
    order = list(dict.fromkeys(labels.tolist()))
    rows = [images[labels == label] for label in order]
    columns = max(len(row) for row in rows)
    blank = np.zeros((columns, *images.shape[1:]), images.dtype)
    cells = [np.concatenate([row, blank[len(row) :]]) for row in rows]  # (columns, C, H, W) each
    return make_grid(np.concatenate(cells), columns=columns, min_side=min_side)


def write_samples(
    generator: nn.Module,
    spec: GeneratorSpec,
    cfg: SampleConfig,
    out: Path,
    device: torch.device,
) -> dict[str, Path]:
    """Write `samples.npy` (uint8 `(N, C, H, W)`), `grid.png`, `interpolation.png` and a
    `manifest.json` of sha256s into `out`, replaced whole; returns the final paths.

    A conditional generator draws a uniform class per sample, saved as `labels.npy` (int64
    `(N,)`); its grid shows one row per class and each interpolation row keeps one class,
    every class in as many rows (`interpolation_rows`).
    """
    latents = latent_batch(cfg.num_samples, spec.latent_dim, cfg.seed, device)
    rows = interpolation_rows(cfg.interpolation_rows, spec.num_classes)
    steps = cfg.interpolation_steps
    path = interpolation_latents(rows, steps, spec.latent_dim, cfg.seed + 1).to(device)
    labels = (
        label_batch(cfg.num_samples, spec.num_classes, cfg.seed, device)
        if spec.num_classes
        else None
    )
    row_labels = cycled_labels(rows, spec.num_classes, device)  # one class a row
    strip_labels = None if row_labels is None else row_labels.repeat_interleave(steps)
    images = generate(generator, latents, cfg.batch_size, progress=True, labels=labels)
    strip = generate(generator, path, cfg.batch_size, labels=strip_labels)
    arrays = {SAMPLES_FILE: images}
    about: dict[str, object] = {}
    if labels is None:
        grid = make_grid(images[: cfg.grid_size], min_side=READABLE_PX)
    else:
        grid = class_grid(generator, spec, cfg, device)
        arrays[LABELS_FILE] = labels.cpu().numpy()
        about["num_classes"] = spec.num_classes
    sheet = make_grid(strip, columns=steps, min_side=READABLE_PX)
    pictures = {"grid.png": grid, "interpolation.png": sheet}
    with atomic_dir(out) as staging:
        for name, array in arrays.items():
            save_npy(staging / name, array)
        for name, picture in pictures.items():
            save_png(staging / name, picture)
        files = sorted(p.name for p in staging.iterdir())
        write_json(
            staging / MANIFEST,
            {
                "count": int(images.shape[0]),
                "image_shape": list(images.shape[1:]),
                "seed": cfg.seed,
                **about,
                "files": {name: {"sha256": sha256_file(staging / name)} for name in files},
            },
        )
    return {name: out / name for name in (*arrays, *pictures, MANIFEST)}


def _load_listed(folder: Path, name: str, files: dict[str, dict[str, str]]) -> np.ndarray:
    """`folder/name`, verified against its sha256 in the manifest's `files`."""
    verify_file(folder / name, files.get(name, {}).get("sha256"), MANIFEST, producer="sample")
    array: np.ndarray = np.load(folder / name, allow_pickle=False)
    return array


def load_samples(folder: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """The uint8 images `(N, C, H, W)` of a `write_samples` folder and, when a conditional
    generator made them, their int64 class labels `(N,)` (else None), verified against the
    manifest."""
    manifest = read_json_record(folder / MANIFEST, producer="sample")
    files = manifest.get("files", {})
    images = _load_listed(folder, SAMPLES_FILE, files)
    if LABELS_FILE not in files:
        return images, None
    labels = _load_listed(folder, LABELS_FILE, files)
    if labels.dtype != np.int64 or labels.shape != (len(images),):
        raise DataError(
            f"{folder / LABELS_FILE}: expected int64 labels of shape ({len(images)},), got "
            f"{labels.dtype} of shape {labels.shape}; rerun the sample stage"
        )
    return images, labels


FOLDER_FORMAT = "ganops-image-folder/1"


def _safe_folder_name(name: str) -> str:
    if not name or name in (".", "..") or "/" in name or "\\" in name:
        raise DataError(f"class name {name!r} cannot name a folder")
    return name


def write_image_folder(
    out: Path,
    images: np.ndarray,
    labels: np.ndarray | None,
    class_names: tuple[str, ...],
    about: dict[str, object],
) -> dict[str, int]:
    """Write uint8 `images` `(N, C, H, W)` as PNG files into `out`, replaced whole: with
    class `labels` `(N,)`, one sub-folder per class named by `class_names` (the layout
    `torchvision.datasets.ImageFolder` reads); without, the files directly in `out`. A
    `manifest.json` beside them lists the count per class and `about` (the generator, its
    run, the seed). Returns the count per class (or `{"": N}` without labels).

    An existing non-empty `out` that this function did not write is refused, not replaced.
    """
    refuse_foreign_folder(out, MANIFEST, "ganops sample", FOLDER_FORMAT)
    folders = (
        [""] * len(images)
        if labels is None
        else [_safe_folder_name(class_names[label]) for label in labels]
    )
    counts = {name: folders.count(name) for name in dict.fromkeys(folders)}
    with atomic_dir(out) as staging:
        for folder in counts:
            (staging / folder).mkdir(exist_ok=True)
        # plain writes: the staging folder as a whole is what lands atomically
        for index, (image, folder) in enumerate(zip(images, folders, strict=True)):
            picture = image.transpose(1, 2, 0)  # (H, W, C)
            (staging / folder / f"{index:06d}.png").write_bytes(png_bytes(picture))
        write_json(
            staging / MANIFEST,
            {
                "format": FOLDER_FORMAT,
                "count": len(images),
                "image_shape": list(images.shape[1:]),
                "class_counts": counts if labels is not None else {},
                **about,
            },
        )
    return counts

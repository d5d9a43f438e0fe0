"""Atomic file writes, checksums and torch files: every file the pipeline writes lands whole
or not at all, and every torch file loads with `weights_only=True`."""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch

from ganops.errors import DataError, first_line

_CHUNK = 1 << 20


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _umask()  # temporary files get the permissions a plain open() would give


@contextmanager
def atomic_open(path: Path, mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary file beside `path`; on success fsync it and rename it into place.

    A crash or exception leaves `path` as it was (absent or the previous version).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    os.fchmod(fd, 0o666 & ~_UMASK)
    try:
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_dir(dest: Path) -> Iterator[Path]:
    """Yield a temporary sibling directory; on success it replaces `dest` whole.

    An interrupted or failed writer leaves `dest` as it was and removes the temporary one.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent))
    staging.chmod(0o777 & ~_UMASK)
    try:
        yield staging
        if dest.exists():
            shutil.rmtree(dest) if dest.is_dir() else dest.unlink()
        staging.rename(dest)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` atomically."""
    with atomic_open(path, "wb") as handle:
        handle.write(data)


def write_text(path: Path, text: str) -> None:
    """Write UTF-8 `text` to `path` atomically."""
    write_bytes(path, text.encode("utf-8"))


def write_json(path: Path, payload: Any) -> None:
    """Write `payload` as indented, key-sorted JSON (stable bytes for DVC)."""
    write_text(path, json.dumps(payload, indent=2, sort_keys=True) + "\n")


def save_npy(path: Path, array: np.ndarray) -> None:
    """Save `array` in .npy format atomically (no pickled objects)."""
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    write_bytes(path, buffer.getvalue())


def is_model_file(model: str) -> bool:
    """Whether a `--model` value names a file rather than an MLflow model URI
    (`models:/NAME/1`, `runs:/ID/PATH`, `s3://...`): a path that exists is a file, even with a
    colon in its name; otherwise anything without a URI's scheme separator is."""
    return Path(model).exists() or ("://" not in model and ":/" not in model)


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verify_file(path: Path, sha256: object, record: str, producer: str) -> None:
    """Check `path` exists and matches the sha256 that `record` (written by `producer`) holds."""
    if not path.is_file():
        raise DataError(f"{path}: missing; rerun the {producer} stage")
    if sha256_file(path) != sha256:
        raise DataError(
            f"{path}: sha256 does not match {record} (corrupt or modified); "
            f"rerun the {producer} stage"
        )


def read_json_record(path: Path, producer: str) -> dict[str, Any]:
    """Read a JSON object written by stage `producer`; a `DataError` names the stage to rerun."""
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: missing; run the {producer} stage first") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DataError(
            f"{path}: corrupt ({type(error).__name__}); rerun the {producer} stage"
        ) from None
    if not isinstance(payload, dict):
        raise DataError(f"{path}: corrupt (not a JSON object); rerun the {producer} stage")
    return payload


def refuse_foreign_folder(out: Path, manifest: str, producer: str, folder_format: str) -> None:
    """An existing, non-empty `out` whose `manifest` does not say `producer` wrote it in
    `folder_format` is refused (a `DataError`), never replaced."""
    if not out.exists() or (out.is_dir() and not any(out.iterdir())):
        return
    try:
        ours = read_json_record(out / manifest, producer=producer).get("format")
    except DataError:
        ours = None
    if ours != folder_format:
        raise DataError(f"{out} exists and was not written by {producer}: not replacing it")


def save_torch(path: Path, payload: dict[str, Any]) -> None:
    """`torch.save` through memory, then an atomic write: the bytes do not depend on `path`."""
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    write_bytes(path, buffer.getvalue())


def _damaged_entry(path: Path) -> str | None:
    """The first entry of a torch.save zip archive whose bytes fail their CRC-32, if any.

    torch.load does not check the CRCs, so a flipped bit in a tensor would load silently.
    Files that are not zip archives are left to torch.load to judge.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError):
        return None


def load_torch(path: Path, what: str) -> dict[str, Any]:
    """`torch.load(weights_only=True)` with one-line errors for missing, corrupt or unsafe files."""
    if not path.is_file():
        raise DataError(f"{path}: {what} not found")
    damaged = _damaged_entry(path)
    if damaged:
        raise DataError(f"{path}: {what} is corrupt ({damaged} fails its CRC-32 check)")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise DataError(
            f"{path}: refused to load {what}: it holds objects other than tensors and plain "
            f"values, which weights_only loading does not unpickle ({first_line(error, 120)})"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as error:
        raise DataError(
            f"{path}: {what} is corrupt or truncated ({type(error).__name__})"
        ) from None
    if not isinstance(payload, dict):
        raise DataError(f"{path}: not a ganops {what}")
    return payload

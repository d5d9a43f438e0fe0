"""Decoders of published dataset file formats: IDX (MNIST, Fashion-MNIST) and CIFAR binary.

Both are plain bytes with a fixed layout, read with NumPy; nothing is unpickled.
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np

from ganops.errors import DataError

_IDX_UNSIGNED_BYTE = 0x08
CIFAR_SIDE = 32
CIFAR_RECORD_BYTES = 1 + 3 * CIFAR_SIDE * CIFAR_SIDE  # a label byte, then R, G, B planes


def idx_bytes(array: np.ndarray) -> bytes:
    """`array` (uint8) as an (uncompressed) IDX file: what `read_idx` reads once gunzipped."""
    if array.dtype != np.uint8:
        raise ValueError(f"IDX of unsigned bytes holds uint8, got {array.dtype}")
    header = bytes([0, 0, _IDX_UNSIGNED_BYTE, array.ndim])
    return header + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def read_idx(path: Path) -> np.ndarray:
    """Decode a gzipped IDX file of unsigned bytes into a uint8 array of its stated shape.

    IDX: two zero bytes, a type byte (0x08 = unsigned byte), the number of dimensions, each
    dimension as a big-endian uint32, then the values.
    """
    try:
        with gzip.open(path, "rb") as handle:
            data = handle.read()
    except (OSError, EOFError, zlib.error) as error:
        raise DataError(f"{path}: not a readable gzip file ({error})") from None
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] != _IDX_UNSIGNED_BYTE:
        raise DataError(f"{path}: not an IDX file of unsigned bytes")
    header = 4 + 4 * data[3]
    if len(data) < header:
        raise DataError(f"{path}: IDX header cut short")
    shape = struct.unpack(f">{data[3]}I", data[4:header])
    if math.prod(shape) != len(data) - header:
        raise DataError(
            f"{path}: IDX header states shape {shape} but {len(data) - header} values follow"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def read_cifar_binary(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Decode a CIFAR binary batch into uint8 images `(N, 3, 32, 32)` and int64 labels `(N,)`."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise DataError(f"{path}: cannot be read ({error.strerror})") from None
    if not data or len(data) % CIFAR_RECORD_BYTES:
        raise DataError(
            f"{path}: {len(data)} bytes is not a whole number of "
            f"{CIFAR_RECORD_BYTES}-byte CIFAR records"
        )
    records = np.frombuffer(data, dtype=np.uint8).reshape(-1, CIFAR_RECORD_BYTES)
    images = records[:, 1:].reshape(-1, 3, CIFAR_SIDE, CIFAR_SIDE)  # (N, 3, 32, 32)
    return images, records[:, 0].astype(np.int64)

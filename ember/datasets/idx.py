"""Reader for IDX files, the MNIST container format (gzipped or not).

Layout: a 4-byte magic `00 00 <dtype code> <ndim>`, then `ndim` big-endian
uint32 dimensions, then the row-major big-endian data and nothing else.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from pathlib import Path

import numpy as np

# IDX dtype codes; multi-byte types are big-endian on disk.
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (plain or gzip, detected from its bytes) to a numpy array.

    The result is a writable array in native byte order. Raises
    `FileNotFoundError` if the file is missing and `ValueError` (naming the
    file) for corrupt gzip data, a bad magic number, or a data size that does
    not match the header.

    >>> images = read_idx("t10k-images-idx3-ubyte.gz")  # doctest: +SKIP
    >>> images.shape, images.dtype  # doctest: +SKIP
    ((10000, 28, 28), dtype('uint8'))
    """
    path = Path(path)
    raw = path.read_bytes()
    # Sniff instead of trusting the extension: files get renamed/decompressed.
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise ValueError(f"{path}: corrupt or truncated gzip data ({exc})") from exc
    return parse_idx(raw, name=str(path))


def parse_idx(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Decode the (already decompressed) bytes of an IDX file.

    `name` only labels error messages.

    >>> parse_idx(bytes([0, 0, 0x08, 1, 0, 0, 0, 2, 7, 9])).tolist()
    [7, 9]
    """
    if len(data) < 4:
        raise ValueError(f"{name}: not an IDX file: {len(data)} bytes, shorter than the magic")
    code, ndim = data[2], data[3]
    if data[0] != 0 or data[1] != 0 or code not in IDX_DTYPES:
        raise ValueError(
            f"{name}: bad IDX magic number 0x{data[:4].hex()} (expected 0x0000TTNN "
            f"with type TT in {{{', '.join(f'{c:02x}' for c in IDX_DTYPES)}}})"
        )
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(
            f"{name}: truncated IDX header: {ndim} dims need {header} bytes, file has {len(data)}"
        )
    shape = struct.unpack(f">{ndim}I", data[4:header])
    dtype = IDX_DTYPES[code]
    count = math.prod(shape)
    expected, found = count * dtype.itemsize, len(data) - header
    if found < expected:
        raise ValueError(
            f"{name}: truncated IDX data: shape {shape} of {dtype.name} needs "
            f"{expected} bytes, found {found}"
        )
    if found > expected:
        raise ValueError(
            f"{name}: IDX size mismatch: shape {shape} of {dtype.name} needs "
            f"{expected} bytes, found {found} ({found - expected} trailing)"
        )
    array = np.frombuffer(data, dtype=dtype, count=count, offset=header).reshape(shape)
    # astype copies: frombuffer views are read-only and may be big-endian.
    return array.astype(dtype.newbyteorder("="))

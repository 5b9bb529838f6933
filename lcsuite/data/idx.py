"""Reader for the IDX files of MNIST (LeCun's format), gzip-compressed or raw.

An IDX file is: 2 zero bytes, a type byte (0x08 = uint8), a byte with the number of
dimensions d, d big-endian uint32 sizes, then the data. Labels are ``idx1`` (N,), images
``idx3`` (N, 28, 28).
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np
import torch

from lcsuite.data.dataset import CorruptDataError, DataNotFoundError

__all__ = ["read_idx"]


def _read_bytes(path: Path) -> bytes:
    if not path.is_file():
        raise DataNotFoundError(f"{path}: no such file")
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as handle:
                return handle.read()
        return path.read_bytes()
    except (OSError, EOFError, zlib.error) as error:
        raise CorruptDataError(f"{path}: cannot decompress/read ({error})") from error


def read_idx(path, expected_ndim: int) -> torch.Tensor:
    """Read a uint8 IDX file into a uint8 tensor of ``expected_ndim`` dimensions.

    Raises:
        DataNotFoundError: the file is missing.
        CorruptDataError: bad magic number, wrong number of dimensions or truncated data; the
            message names the file.
    """
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise CorruptDataError(f"{path}: not a uint8 IDX file (bad magic number {data[:4].hex()})")
    ndim = data[3]
    if ndim != expected_ndim:
        raise CorruptDataError(f"{path}: IDX file has {ndim} dimensions, expected {expected_ndim}")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise CorruptDataError(f"{path}: truncated IDX header")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    count = int(np.prod(shape))
    if len(data) - header != count:
        raise CorruptDataError(
            f"{path}: IDX header announces {count} bytes for shape {shape}, "
            f"file has {len(data) - header} (truncated or corrupt)"
        )
    array = np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)
    return torch.from_numpy(array.copy())

"""Data files for the data tests: the real MNIST test set (when present), IDX writers, and CIFAR
batches in the official on-disk format.

CIFAR batches come in two flavours:

- :func:`write_cifar`: pickled by today's Python and numpy (``pickle.dump``: protocol 4,
  ``numpy._core.multiarray._reconstruct`` under numpy 2, ``bytes`` as BINBYTES);
- :func:`official_batch_bytes`: byte-for-byte the form of the official files: protocol 2 as
  Python 2 wrote it, strings as ``SHORT_BINSTRING``/``BINSTRING``, the array through
  ``numpy.core.multiarray._reconstruct``, ``numpy.ndarray`` and ``numpy.dtype`` (the names of
  numpy 1.x), whatever numpy runs the tests.
"""

from __future__ import annotations

import io
import os
import pickle
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

MNIST_TEST_FILES = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


def _shared_mnist() -> Path:
    """The shared MNIST test set: ``$LCSUITE_DATA/mnist`` if set, else ``../shared/data/mnist``
    beside the repository, else ``/work/shared/data/mnist``."""
    candidates = [Path(p) / "mnist" for p in os.environ.get("LCSUITE_DATA", "").split(os.pathsep) if p]
    candidates += [Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist", Path("/work/shared/data/mnist")]
    return next((c for c in candidates if (c / MNIST_TEST_FILES[0]).is_file()), candidates[-1])


MNIST_DIR = _shared_mnist()
needs_mnist = pytest.mark.skipif(
    not all((MNIST_DIR / name).is_file() for name in MNIST_TEST_FILES),
    reason=f"the real MNIST test set ({', '.join(MNIST_TEST_FILES)}) is not at {MNIST_DIR}: "
           "set LCSUITE_DATA to a folder holding mnist/",
)


def copy_mnist_test(folder: Path) -> Path:
    """Copy the two official MNIST test files into ``folder`` (created); returns it."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in MNIST_TEST_FILES:
        shutil.copyfile(MNIST_DIR / name, folder / name)
    return folder


def write_idx(path: Path, array: np.ndarray, magic_type: int = 0x08) -> None:
    """A uint8 IDX file of ``array`` (``magic_type`` other than 0x08 makes it invalid)."""
    header = bytes([0, 0, magic_type, array.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def cifar_layout(num_classes: int) -> tuple[str, list[str], bytes]:
    """(folder name, batch file names, label key) of CIFAR-10 or CIFAR-100."""
    if num_classes == 10:
        return "cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"], b"labels"
    return "cifar-100-python", ["train", "test"], b"fine_labels"


def batch_entry(name: str, label_key: bytes, num_classes: int, per_batch: int, rng) -> dict:
    """A batch dict as the official files hold it; labels 0 and num_classes - 1 both occur."""
    labels = rng.integers(0, num_classes, per_batch).tolist()
    labels[:2] = [0, num_classes - 1]
    return {b"batch_label": name.encode(), b"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
            label_key: labels}


def write_cifar(root: Path, num_classes: int, per_batch: int = 7, corrupt: str | None = None,
                official: bool = False) -> Path:
    """All batch files of CIFAR-``num_classes`` under ``root``; ``corrupt`` names a batch that is
    truncated to 50 bytes; ``official`` writes them as :func:`official_batch_bytes`."""
    rng = np.random.default_rng(num_classes)
    folder_name, names, key = cifar_layout(num_classes)
    folder = root / folder_name
    folder.mkdir(parents=True)
    for name in names:
        entry = batch_entry(name, key, num_classes, per_batch, rng)
        (folder / name).write_bytes(official_batch_bytes(entry) if official else pickle.dumps(entry))
    if corrupt:
        path = folder / corrupt
        path.write_bytes(path.read_bytes()[:50])
    return folder


class _Global:
    """A global reference written verbatim as ``GLOBAL module\\nname``."""

    def __init__(self, module: str, name: str):
        self.module, self.name = module, name

    def __call__(self, *args):  # the pickler wants a callable in a reduce tuple; never called
        raise TypeError("a name written into a pickle, not a function")


class _Python2Pickler(pickle._Pickler):
    """Protocol 2 as Python 2 wrote the CIFAR batches: bytes as ``str`` opcodes, numpy arrays
    and dtypes through numpy 1.x's global names."""

    dispatch = dict(pickle._Pickler.dispatch)

    def save_python2_str(self, obj: bytes):
        size = len(obj)
        head = pickle.SHORT_BINSTRING + bytes([size]) if size < 256 else pickle.BINSTRING + struct.pack("<i", size)
        self.write(head + obj)
        self.memoize(obj)

    def save_global_name(self, obj: _Global):
        self.write(pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode("ascii"))

    dispatch[bytes] = save_python2_str
    dispatch[_Global] = save_global_name

    def reducer_override(self, obj):
        if isinstance(obj, np.ndarray):
            state = (1, obj.shape, obj.dtype, False, obj.tobytes())
            return _Global("numpy.core.multiarray", "_reconstruct"), (_Global("numpy", "ndarray"), (0,), b"b"), state
        if isinstance(obj, np.dtype):
            return _Global("numpy", "dtype"), (obj.str[1:].encode(), 0, 1), (3, b"|", None, None, None, -1, -1, 0)
        return NotImplemented


def official_batch_bytes(entry: dict) -> bytes:
    """``entry`` pickled as the official CIFAR batches are (see the module docstring)."""
    buffer = io.BytesIO()
    _Python2Pickler(buffer, protocol=2).dump(entry)
    return buffer.getvalue()

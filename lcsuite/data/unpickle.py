"""A restricted unpickler for the CIFAR python batches: data only, no code.

A pickle can name any importable callable and call it while loading, so a plain ``pickle.load``
of a planted or tampered batch file runs whatever it names. The official batches (protocol 2,
written by Python 2) hold a dict of byte strings, lists of ints and one uint8 array; the only
globals they name are numpy's array reconstruction: ``numpy.core.multiarray._reconstruct``,
``numpy.ndarray`` and ``numpy.dtype``. :class:`BatchUnpickler` resolves exactly those (and
numpy 2's ``numpy._core.multiarray._reconstruct``, which batches re-pickled by numpy 2 name)
and refuses every other global before anything is called.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from lcsuite.data.dataset import CorruptDataError

__all__ = ["ALLOWED_GLOBALS", "BatchUnpickler", "load_batch"]

ALLOWED_GLOBALS = frozenset({
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
})


def _reconstruct():
    """numpy's array reconstruction function, imported from where this numpy keeps it."""
    try:
        from numpy._core.multiarray import _reconstruct as function
    except ImportError:  # numpy < 1.26 has no numpy._core
        from numpy.core.multiarray import _reconstruct as function
    return function


class RefusedGlobal(pickle.UnpicklingError):
    """A pickle named a global outside :data:`ALLOWED_GLOBALS`."""

    def __init__(self, module: str, name: str):
        super().__init__(f"refused global {module}.{name}")
        self.qualified_name = f"{module}.{name}"


class BatchUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` that resolves only :data:`ALLOWED_GLOBALS` (else :class:`RefusedGlobal`)."""

    def find_class(self, module: str, name: str):
        if (module, name) not in ALLOWED_GLOBALS:
            raise RefusedGlobal(module, name)
        return {"_reconstruct": _reconstruct(), "ndarray": np.ndarray, "dtype": np.dtype}[name]

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("persistent ids are not allowed")


def load_batch(path) -> dict:
    """The dict stored in a CIFAR batch pickle at ``path`` (keys and strings as ``bytes``).

    Raises:
        CorruptDataError: the pickle names a refused global (the message names the file and the
            global; nothing was called) or is not a readable pickle of a dict.
    """
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            entry = BatchUnpickler(handle, encoding="bytes").load()
    except RefusedGlobal as error:
        raise CorruptDataError(
            f"{path}: refused to unpickle: it names the global {error.qualified_name}, which CIFAR "
            "batches never contain (only numpy array reconstruction is allowed); nothing was executed"
        ) from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, IndexError, AttributeError,
            MemoryError, OverflowError) as error:
        raise CorruptDataError(f"{path}: not a readable CIFAR pickle batch ({type(error).__name__}: {error})") from error
    if not isinstance(entry, dict):
        raise CorruptDataError(f"{path}: a CIFAR batch holds a dict, this pickle holds {type(entry).__name__}")
    return entry

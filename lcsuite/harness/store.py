"""Item result files: one immutable HDF5 file per measured claim item (schema_version 2).

A file holds what was measured and where it came from, never a verdict (verdicts belong to a
run: :mod:`lcsuite.harness.runs`). Layout, see also ``docs/architecture.md``:

- root attrs: ``schema_version``; ``key`` (``<paper>/<claim>/<item>``); ``spec`` (JSON of the
  :class:`~lcsuite.harness.spec.ItemSpec`) and ``spec_hash``; ``status`` (``complete`` or
  ``error``; ``partial`` only in a partial file, :mod:`lcsuite.harness.partial`) and
  ``message``; ``provenance`` (JSON: run id, start time, elapsed seconds, per-seed timings, data
  sets with their file digests, library versions, device, determinism settings, code manifest,
  git commit, executor, seeds resumed from a partial); ``reuse_key``; ``meta_sha256`` (digest of
  all of the above); ``complete``, written last (a file without it is half-written).
- ``/quantities/<path>``: one dataset per quantity, attrs ``dims`` (JSON list, first ``seed``),
  ``timing`` (wall-clock seconds) and ``sha256`` (of dtype, shape and bytes).

Files are written under a temporary name in the same folder and renamed (atomic). Every read
verifies the digests: damage is a :class:`CorruptResult` naming the file and the dataset.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lcsuite.harness.atomic import atomic_write_path
from lcsuite.harness.enums import MeasurementStatus
from lcsuite.harness.quantities import Quantity
from lcsuite.harness.spec import ItemSpec, canonical_json

__all__ = [
    "SCHEMA_VERSION",
    "CorruptResult",
    "StoredItem",
    "write_item",
    "read_item",
    "copy_item",
    "array_sha256",
]

SCHEMA_VERSION = 2


class CorruptResult(Exception):
    """A result file that cannot be read, is partial, or fails its checksums."""


@dataclass
class StoredItem:
    """One item's measurement, as written and as read back.

    Attributes:
        spec: what was measured.
        status: ``complete``, or ``error`` (the experiment stopped; ``message`` says why).
        provenance: see the module docstring; ``provenance["data"]`` lists the data sets.
        quantities: ``{path: Quantity}``, first dim ``seed``.
        reuse_key: digest of everything the measurement depends on (DECISIONS D1).
        path: the file (set by :func:`write_item` / :func:`read_item`).
    """

    spec: ItemSpec
    status: MeasurementStatus
    message: str
    provenance: dict[str, Any]
    quantities: dict[str, Quantity] = field(default_factory=dict)
    reuse_key: str = ""
    path: Path | None = None

    @property
    def key(self) -> str:
        return self.spec.key

    @property
    def data(self) -> list[dict]:
        return list(self.provenance.get("data", []))

    @property
    def elapsed_s(self) -> float:
        return float(self.provenance.get("elapsed_s", 0.0))

    def meta(self) -> dict[str, Any]:
        """The root attrs covered by ``meta_sha256``."""
        return {"key": self.key, "spec": self.spec.to_dict(), "spec_hash": self.spec.spec_hash(),
                "status": str(self.status), "message": self.message, "provenance": self.provenance,
                "reuse_key": self.reuse_key}


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def array_sha256(values: np.ndarray) -> str:
    """Digest of an array's dtype, shape and bytes (C order)."""
    values = np.ascontiguousarray(values)
    header = f"{values.dtype.str}|{values.shape}|".encode()
    return hashlib.sha256(header + values.tobytes()).hexdigest()


def write_item(path: Path, item: StoredItem) -> Path:
    """Write ``item`` to ``path`` atomically (temporary file, then rename); returns the path."""
    import h5py

    path = Path(path)
    meta = item.meta()
    with atomic_write_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["schema_version"] = SCHEMA_VERSION
        for name, value in meta.items():
            f.attrs[name] = value if isinstance(value, str) else canonical_json(value)
        f.attrs["meta_sha256"] = _digest(canonical_json(meta))
        group = f.create_group("quantities")
        for qpath, quantity in item.quantities.items():
            dataset = group.create_dataset(qpath, data=quantity.values)
            dataset.attrs["dims"] = json.dumps(list(quantity.dims))
            dataset.attrs["timing"] = bool(quantity.timing)
            dataset.attrs["sha256"] = array_sha256(quantity.values)
        f.flush()
        f.attrs["complete"] = True
    item.path = path
    return path


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _read_meta(f, path: Path) -> dict[str, Any]:
    attrs = {key: f.attrs[key] for key in f.attrs}
    if not attrs.get("complete"):
        raise CorruptResult(f"{path}: no completion marker (partial write)")
    version = int(attrs.get("schema_version", 0))
    if version != SCHEMA_VERSION:
        raise CorruptResult(f"{path}: schema_version {version}, this lcsuite reads {SCHEMA_VERSION}")
    meta = {}
    for name in ("key", "spec", "spec_hash", "status", "message", "provenance", "reuse_key"):
        if name not in attrs:
            raise CorruptResult(f"{path}: root attribute {name!r} is missing")
        text = _text(attrs[name])
        meta[name] = json.loads(text) if name in ("spec", "provenance") else text
    if _digest(canonical_json(meta)) != _text(attrs.get("meta_sha256", "")):
        raise CorruptResult(f"{path}: root attributes fail their checksum (meta_sha256)")
    return meta


def _read_quantities(f, path: Path) -> dict[str, Quantity]:
    import h5py

    quantities: dict[str, Quantity] = {}

    def visit(name, obj):
        if not isinstance(obj, h5py.Dataset):
            return
        values = np.asarray(obj[()])
        if array_sha256(values) != _text(obj.attrs.get("sha256", "")):
            raise CorruptResult(f"{path}: dataset quantities/{name} fails its checksum")
        dims = tuple(json.loads(_text(obj.attrs["dims"])))
        quantities[name] = Quantity(values, dims, bool(obj.attrs.get("timing", False)))

    f["quantities"].visititems(visit)
    return quantities


def read_item(path: Path) -> StoredItem:
    """Read and verify one result file; raises :class:`CorruptResult` (naming what is wrong)."""
    import h5py

    path = Path(path)
    try:
        with h5py.File(path, "r") as f:
            meta = _read_meta(f, path)
            quantities = _read_quantities(f, path)
    except CorruptResult:
        raise
    except Exception as exc:  # h5py raises OSError/KeyError/... for damaged files
        raise CorruptResult(f"{path}: cannot read ({type(exc).__name__}: {exc})") from exc
    spec = ItemSpec.from_dict(meta["spec"])
    if spec.spec_hash() != meta["spec_hash"] or spec.key != meta["key"]:
        raise CorruptResult(f"{path}: spec does not match its key or hash")
    return StoredItem(spec, MeasurementStatus(meta["status"]), meta["message"], meta["provenance"],
                      quantities, meta["reuse_key"], path)


def copy_item(source: Path, destination: Path) -> StoredItem:
    """Verify ``source``, then copy it (never a link) to ``destination`` atomically."""
    item = read_item(source)
    with atomic_write_path(destination) as tmp:
        shutil.copyfile(source, tmp)
    item.path = destination
    return item

"""The HDF5 result store (schema_version 1, see docs/architecture.md).

Layout: ``<results>/<run-id>/<claim-id>/<item>.h5``, one file per claim item per run, written
to a temporary name in the same directory and renamed atomically. A file is complete when its
root attr ``complete`` is true (written last); anything else is treated as absent.

Run ids: ``YYYYmmdd-HHMMSS-<6 hex>`` (UTC), chosen once per pytest invocation by the controller
(the xdist workers receive it through ``workerinput``). ``<results>/LATEST`` holds the run id
of the most recent run and is written when a run starts, so that a run killed half-way is the
one the next run reuses from.

Reuse: an item is reused when a complete file with the same ``spec_hash`` exists in the current
run or in the previous run (``LATEST`` before this run started); it is hard-linked (or copied)
into the current run and keeps its verdict. The ``spec_hash`` covers the claim spec, tier, item
params, seeds and the code version (lcsuite version + a hash of the experiment's source file).

Root attrs beyond the documented set (added, never replacing): ``complete``, ``run_id``,
``timings`` (JSON: per-seed seconds), ``code_version``.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np

from lcsuite.harness.quantities import Quantity

__all__ = [
    "SCHEMA_VERSION",
    "ExpectationRecord",
    "ItemResult",
    "CorruptResult",
    "item_path",
    "item_filename",
    "write_item",
    "read_item",
    "is_complete",
    "iter_run",
    "latest_run",
    "read_latest",
    "write_latest",
    "write_latest_once",
    "new_run_id",
    "find_reusable",
    "link_into",
]

SCHEMA_VERSION = 1
LATEST_FILE = "LATEST"
_JSON_ATTRS = ("params", "seeds", "data", "timings")


class CorruptResult(Exception):
    """A result file that h5py cannot open or that lacks the completion marker."""


@dataclass
class ExpectationRecord:
    """One evaluated expectation as stored under ``/expectations/<i>``."""

    check: str
    description: str
    passed: bool
    expected: str
    measured: str
    where: str
    numbers: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class ItemResult:
    """One claim item's stored result."""

    path: Path
    attrs: dict[str, Any]
    quantities: dict[str, Quantity]
    expectations: list[ExpectationRecord]
    headline: dict[str, float]

    @property
    def verdict(self) -> str:
        return self.attrs["verdict"]

    @property
    def claim_id(self) -> str:
        return self.attrs["claim_id"]

    @property
    def item(self) -> str:
        return self.attrs["item"]


def new_run_id() -> str:
    """A fresh, sortable run id: ``YYYYmmdd-HHMMSS-<6 hex>`` in UTC."""
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)


def item_filename(item: str) -> str:
    """File name of an item id (``init=he`` -> ``init=he.h5``); path separators replaced."""
    return item.replace("/", "_").replace(os.sep, "_") + ".h5"


def item_path(results_dir: Path, run_id: str, claim_id: str, item: str) -> Path:
    return Path(results_dir) / run_id / claim_id / item_filename(item)


def read_latest(results_dir: Path) -> str | None:
    """The run id in ``<results>/LATEST``, or None."""
    try:
        run_id = (Path(results_dir) / LATEST_FILE).read_text().strip()
    except OSError:
        return None
    return run_id or None


def write_latest(results_dir: Path, run_id: str) -> None:
    """Point ``<results>/LATEST`` at ``run_id`` (atomically)."""
    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    tmp = results_dir / f".{LATEST_FILE}.{os.getpid()}.tmp"
    tmp.write_text(run_id + "\n")
    os.replace(tmp, results_dir / LATEST_FILE)


_LATEST_WRITTEN: set[tuple[str, str]] = set()


def write_latest_once(results_dir: Path, run_id: str) -> None:
    """:func:`write_latest` once per process and run (called when a run's first item starts)."""
    key = (str(Path(results_dir).resolve()), run_id)
    if key not in _LATEST_WRITTEN:
        write_latest(results_dir, run_id)
        _LATEST_WRITTEN.add(key)


def latest_run(results_dir: Path) -> Path | None:
    """The directory of the latest run: ``LATEST`` if valid, else the newest run directory."""
    results_dir = Path(results_dir)
    run_id = read_latest(results_dir)
    if run_id and (results_dir / run_id).is_dir():
        return results_dir / run_id
    runs = sorted(p for p in results_dir.glob("*") if p.is_dir() and not p.name.startswith("."))
    return runs[-1] if runs else None


def _attr_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, (bool, int, float, str, np.number, np.bool_)):
        return value
    return json.dumps(value, sort_keys=True, default=str)


def write_item(
    path: Path,
    attrs: Mapping[str, Any],
    quantities: Mapping[str, Quantity],
    expectations: list[ExpectationRecord],
    headline: Mapping[str, float],
) -> Path:
    """Write one item's result atomically: temporary file, then ``os.replace``.

    ``attrs`` are the root attrs (``params``, ``seeds``, ``data``, ``timings`` are stored as
    JSON); ``schema_version`` and ``complete`` are added here, ``complete`` last.
    """
    import h5py

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(2)}.tmp")
    try:
        with h5py.File(tmp, "w") as f:
            f.attrs["schema_version"] = SCHEMA_VERSION
            for key, value in attrs.items():
                f.attrs[key] = json.dumps(value, default=str) if key in _JSON_ATTRS else _attr_value(value)
            group = f.create_group("quantities")
            for qpath, quantity in quantities.items():
                dataset = group.create_dataset(qpath, data=quantity.values)
                dataset.attrs["dims"] = json.dumps(list(quantity.dims))
            egroup = f.create_group("expectations")
            for index, record in enumerate(expectations):
                g = egroup.create_group(str(index))
                for key in ("check", "description", "expected", "measured", "where"):
                    g.attrs[key] = getattr(record, key)
                g.attrs["passed"] = bool(record.passed)
                for name, numbers in record.numbers.items():
                    g.create_dataset(name, data=np.asarray(numbers))
            hgroup = f.create_group("headline")
            for name, number in headline.items():
                hgroup.attrs[name] = float(number)
            f.flush()
            f.attrs["complete"] = True
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def _decode(value: Any) -> Any:
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, np.generic):
        value = value.item()
    return value


def read_item(path: Path) -> ItemResult:
    """Read one item file; raises :class:`CorruptResult` if unreadable or incomplete."""
    import h5py

    path = Path(path)
    try:
        with h5py.File(path, "r") as f:
            attrs = {key: _decode(value) for key, value in f.attrs.items()}
            if not attrs.get("complete"):
                raise CorruptResult(f"{path}: no completion marker (partial write)")
            for key in _JSON_ATTRS:
                if key in attrs and isinstance(attrs[key], str):
                    attrs[key] = json.loads(attrs[key])
            quantities: dict[str, Quantity] = {}

            def visit(name, obj):
                if isinstance(obj, h5py.Dataset):
                    dims = tuple(json.loads(_decode(obj.attrs["dims"])))
                    quantities[name] = Quantity(obj[()] if obj.ndim == 0 else obj[...], dims)

            f["quantities"].visititems(visit)
            quantities = {k: Quantity(np.asarray(q.values), q.dims) for k, q in quantities.items()}
            expectations = []
            egroup = f["expectations"]
            for key in sorted(egroup, key=int):
                g = egroup[key]
                expectations.append(
                    ExpectationRecord(
                        check=_decode(g.attrs["check"]),
                        description=_decode(g.attrs["description"]),
                        passed=bool(g.attrs["passed"]),
                        expected=_decode(g.attrs["expected"]),
                        measured=_decode(g.attrs["measured"]),
                        where=_decode(g.attrs["where"]),
                        numbers={name: g[name][()] for name in g},
                    )
                )
            headline = {k: float(v) for k, v in f["headline"].attrs.items()}
    except CorruptResult:
        raise
    except Exception as exc:  # h5py raises OSError/KeyError/... for damaged files
        raise CorruptResult(f"{path}: cannot read ({type(exc).__name__}: {exc})") from exc
    return ItemResult(path, attrs, quantities, expectations, headline)


def is_complete(path: Path) -> bool:
    """True if ``path`` is a readable result file with the completion marker."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            return bool(f.attrs.get("complete", False))
    except Exception:
        return False


def _spec_hash_of(path: Path) -> str | None:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            if not f.attrs.get("complete", False):
                return None
            return _decode(f.attrs.get("spec_hash"))
    except Exception:
        return None


def iter_run(run_dir: Path) -> Iterator[ItemResult]:
    """Every complete item result of a run, sorted by claim and item; skips partial files."""
    for path in sorted(Path(run_dir).glob("*/*.h5")):
        if path.name.startswith("."):
            continue
        try:
            yield read_item(path)
        except CorruptResult:
            continue


def find_reusable(
    results_dir: Path, run_ids: list[str], claim_id: str, item: str, spec_hash: str
) -> Path | None:
    """A complete result of this item with this ``spec_hash`` in one of ``run_ids``, or None."""
    for run_id in run_ids:
        candidate = item_path(results_dir, run_id, claim_id, item)
        if candidate.exists() and _spec_hash_of(candidate) == spec_hash:
            return candidate
    return None


def link_into(source: Path, destination: Path) -> Path:
    """Put an existing (immutable) result at ``destination``: hard link, else copy; atomic."""
    source, destination = Path(source), Path(destination)
    if source.resolve() == destination.resolve():
        return destination
    destination.parent.mkdir(parents=True, exist_ok=True)
    tmp = destination.with_name(f".{destination.name}.{os.getpid()}.link.tmp")
    try:
        os.link(source, tmp)
    except OSError:
        shutil.copy2(source, tmp)
    os.replace(tmp, destination)
    return destination

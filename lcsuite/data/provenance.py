"""Where a data set came from, down to the bytes read; stored with every result.

A :class:`Provenance` names the data set, the split, the size and the folder read, and lists
every file read as a :class:`FileRecord` (name, size, sha256, the published digest where one
exists, a status). Statuses:

- a file is ``verified`` when its digest equals the published one (or one derived from a
  published file and recorded in :mod:`lcsuite.data.checksums`), else ``unverified``, with a
  reason: ``"no published digest"`` or ``"digest mismatch: md5 X, published Y"``;
- a data set is ``substitute`` (a stand-in, not the named data set), ``verified`` (files were
  read and every one is verified) or ``unverified`` (anything else).

:func:`data_label` renders the short label of tables and reports (``mnist (test, n=10000)``,
with ``[unverified]`` or ``[substitute]`` appended when so); :func:`data_digests` gives the
``{"<data set>/<file>": sha256}`` map that identifies the bytes a result was computed from.
Both take the dict of :meth:`Provenance.to_dict` (as stored with results), so they also read
results stored before files were recorded: those count as unverified.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping

__all__ = [
    "DATA_STATUSES",
    "SUBSTITUTE",
    "UNVERIFIED",
    "VERIFIED",
    "FileRecord",
    "Provenance",
    "data_digests",
    "data_label",
    "provenance_status",
]

VERIFIED, UNVERIFIED, SUBSTITUTE = "verified", "unverified", "substitute"
DATA_STATUSES = (VERIFIED, UNVERIFIED, SUBSTITUTE)


@dataclass(frozen=True)
class FileRecord:
    """One file a data set was read from.

    Attributes:
        name: path relative to the provenance's ``source`` folder, e.g.
            ``"t10k-images-idx3-ubyte.gz"`` or ``"data_batch_1"``.
        size: size in bytes.
        sha256: hex sha256 of the file's bytes (always computed; results key on it).
        status: ``"verified"`` or ``"unverified"``.
        reason: why unverified (empty when verified).
        published_algorithm: ``"md5"`` or ``"sha256"`` of the known digest, or None.
        published_digest: the known hex digest, or None when none exists.
        published_source: where the known digest comes from.
    """

    name: str
    size: int
    sha256: str
    status: str
    reason: str = ""
    published_algorithm: str | None = None
    published_digest: str | None = None
    published_source: str = ""

    def __post_init__(self):
        if self.status not in (VERIFIED, UNVERIFIED):
            raise ValueError(f"file status must be 'verified' or 'unverified', got {self.status!r}")


@dataclass(frozen=True)
class Provenance:
    """Where a data set came from; stored with every result.

    Attributes:
        name: data set name, e.g. ``"mnist"``, ``"cifar10"``; a substitute's name says it is one
            (``"digits (MNIST substitute)"``).
        split: ``"train"`` or ``"test"`` (the split actually loaded).
        size: number of examples.
        source: path of the folder read, or ``"substitute"``.
        substitute: True when the data is not the named real data set.
        note: preprocessing and anything a reader of the result must know.
        files: every file read (empty for substitutes).
    """

    name: str
    split: str
    size: int
    source: str
    substitute: bool = False
    note: str = ""
    files: tuple[FileRecord, ...] = ()

    @property
    def status(self) -> str:
        """``"substitute"``, ``"verified"`` (files read, all verified) or ``"unverified"``."""
        if self.substitute:
            return SUBSTITUTE
        if self.files and all(record.status == VERIFIED for record in self.files):
            return VERIFIED
        return UNVERIFIED

    @property
    def unverified_files(self) -> tuple[FileRecord, ...]:
        return tuple(record for record in self.files if record.status != VERIFIED)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dict: the attributes, ``files`` as a list of dicts, and ``status``."""
        entry = dataclasses.asdict(self)
        entry["files"] = [dataclasses.asdict(record) for record in self.files]
        entry["status"] = self.status
        return entry

    def with_note(self, extra: str, **changes) -> "Provenance":
        note = f"{self.note}; {extra}" if self.note else extra
        return dataclasses.replace(self, note=note, **changes)


def provenance_status(provenance: Mapping[str, Any]) -> str:
    """The data status of a provenance dict: its ``status``, else ``substitute`` when it says
    so (``substitute`` true or ``source == "substitute"``), else ``unverified``."""
    status = provenance.get("status")
    if status in DATA_STATUSES:
        return str(status)
    if provenance.get("substitute") or str(provenance.get("source", "")).lower() == SUBSTITUTE:
        return SUBSTITUTE
    return UNVERIFIED


def data_label(provenance: Mapping[str, Any]) -> str:
    """The short label of a provenance dict for tables and reports.

    Examples: ``mnist (test, n=10000)``, ``mnist (test, n=10000) [unverified]``,
    ``digits (MNIST substitute) (train, n=1797) [substitute]``. Reads the older keys
    ``dataset`` (for ``name``) and ``n`` (for ``size``) too.
    """
    name = str(provenance.get("name") or provenance.get("dataset") or "data")
    details = [str(provenance["split"])] if provenance.get("split") else []
    size = provenance.get("size", provenance.get("n"))
    if size is not None:
        details.append(f"n={size}")
    label = f"{name} ({', '.join(details)})" if details else name
    status = provenance_status(provenance)
    return label if status == VERIFIED else f"{label} [{status}]"


def data_digests(provenance: Mapping[str, Any]) -> dict[str, str]:
    """``{"<data set name>/<file name>": sha256}`` of the files a provenance dict lists, e.g.
    ``{"mnist/t10k-images-idx3-ubyte.gz": "8d42...", ...}``; empty for substitutes."""
    name = str(provenance.get("name") or provenance.get("dataset") or "data")
    return {f"{name}/{record['name']}": str(record["sha256"]) for record in provenance.get("files") or ()}

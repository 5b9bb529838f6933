"""Known digests of the official data files, and the check of one file against them.

Published digests: the md5 sums torchvision lists for the files it downloads and checks
(``torchvision.datasets.MNIST.resources``; ``CIFAR10`` / ``CIFAR100.train_list`` and
``.test_list``; copied from torchvision 0.29.1). They are the digests of the official MNIST
``.gz`` files and of the CIFAR python batches inside the official archives.

Derived digests: nobody publishes digests of MNIST's uncompressed IDX files. The sha256 of the
two uncompressed test files was computed from the official ``.gz`` files, after checking that
their md5 equals the published one: ``sha256(gzip.decompress(t10k-*-ubyte.gz))``. The training
set's uncompressed files have no known digest: they stay ``unverified (no published digest)``.

Only digests recorded here decide trust; the digest cache (:mod:`lcsuite.data.digests`) only
saves re-reading files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lcsuite.data.dataset import CorruptDataError
from lcsuite.data.digests import file_digests
from lcsuite.data.provenance import UNVERIFIED, VERIFIED, FileRecord

__all__ = ["KNOWN_DIGESTS", "KnownDigest", "file_record", "file_records", "known_digest"]


@dataclass(frozen=True)
class KnownDigest:
    """A digest the bytes of an official file must have.

    Attributes:
        algorithm: ``"md5"`` or ``"sha256"``.
        digest: lower-case hex.
        kind: ``"published"`` or ``"derived"`` (computed here from a verified published file).
        source: where it comes from, for the provenance.
    """

    algorithm: str
    digest: str
    kind: str
    source: str


_TORCHVISION_MNIST = "published: torchvision.datasets.MNIST.resources"
_TORCHVISION_CIFAR10 = "published: torchvision.datasets.CIFAR10 train_list/test_list"
_TORCHVISION_CIFAR100 = "published: torchvision.datasets.CIFAR100 train_list/test_list"
_DERIVED = "derived: sha256 of the decompressed official {} (md5 as published)"


def _published(source: str, digests: dict[str, str]) -> dict[str, KnownDigest]:
    return {name: KnownDigest("md5", digest, "published", source) for name, digest in digests.items()}


# {data set: {file name: known digest}}
KNOWN_DIGESTS: dict[str, dict[str, KnownDigest]] = {
    "mnist": {
        **_published(_TORCHVISION_MNIST, {
            "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
            "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
            "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
        }),
        # sha256(gzip.decompress(official .gz)), computed from files whose md5 matched above.
        "t10k-images-idx3-ubyte": KnownDigest(
            "sha256", "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7", "derived",
            _DERIVED.format("t10k-images-idx3-ubyte.gz")),
        "t10k-labels-idx1-ubyte": KnownDigest(
            "sha256", "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2", "derived",
            _DERIVED.format("t10k-labels-idx1-ubyte.gz")),
    },
    "cifar10": _published(_TORCHVISION_CIFAR10, {
        "data_batch_1": "c99cafc152244af753f735de768cd75f",
        "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
        "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
        "data_batch_4": "634d18415352ddfa80567beed471001a",
        "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
        "test_batch": "40351d587109b95175f43aff81a1287e",
    }),
    "cifar100": _published(_TORCHVISION_CIFAR100, {
        "train": "16019d7e3df5f24257cddd939b257f8d",
        "test": "f0ef6b0ae62326f3e7ffdfab6717acfc",
    }),
}


def known_digest(dataset: str, file_name: str) -> KnownDigest | None:
    """The known digest of ``file_name`` of ``dataset`` (``mnist``, ``cifar10``, ``cifar100``)."""
    return KNOWN_DIGESTS.get(dataset, {}).get(file_name)


def file_record(path, dataset: str, source_folder=None, known: KnownDigest | None = None) -> FileRecord:
    """Digest ``path`` (through the digest cache) and check it against the known digest.

    Args:
        path: the file.
        dataset: ``mnist``, ``cifar10`` or ``cifar100`` (selects the table), or another data
            set's name (no table: the file is unverified unless ``known`` is given).
        source_folder: the record's name is relative to it (default: the file's folder).
        known: the digest the file must have, for a data set without a table here (a plugin's
            own published digest); default: :func:`known_digest` of ``dataset``.

    Raises:
        OSError: the file cannot be read.
    """
    path = Path(path)
    name = str(path.relative_to(source_folder)) if source_folder is not None else path.name
    digests = file_digests(path)
    known = known or known_digest(dataset, path.name)
    if known is None:
        return FileRecord(name, digests.size, digests.sha256, UNVERIFIED, "no published digest")
    actual = getattr(digests, known.algorithm)
    status, reason = VERIFIED, ""
    if actual != known.digest:
        status = UNVERIFIED
        reason = f"digest mismatch: {known.algorithm} {actual}, {known.kind} {known.digest}"
    return FileRecord(name, digests.size, digests.sha256, status, reason,
                      known.algorithm, known.digest, known.source)


def file_records(paths, dataset: str) -> tuple[FileRecord, ...]:
    """:func:`file_record` of each path, for a loader's provenance.

    Raises:
        CorruptDataError: a file cannot be read (the message names it).
    """
    try:
        return tuple(file_record(path, dataset) for path in paths)
    except OSError as error:
        raise CorruptDataError(f"{error.filename}: cannot read ({error.strerror or error})") from error

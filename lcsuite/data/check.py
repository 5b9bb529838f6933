"""Which data sets the data folders hold, and whether their bytes are the official ones.

:func:`check_data` looks at the folders the loaders search (:func:`candidate_roots`) and, for
each data set and split, at the files the loaders would read. Each split gets one status:

- ``verified``: every file matches its known digest (:mod:`lcsuite.data.checksums`);
- ``unverified``: readable, but some file has no known digest or another one (the detail says
  which and why); loaders use it only where unverified data is allowed;
- ``corrupt``: a file cannot be read or parsed (truncated, wrong format, refused pickle);
- ``partial``: some of the split's files are missing (the detail names them);
- ``missing``: none of its files were found.

Files that match their digests are not parsed again; the others are, to tell well-formed
unverified data from corrupt files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from lcsuite.data.checksums import file_records
from lcsuite.data.cifar import CIFAR_LAYOUT, cifar_folder_in, missing_batches, read_batch
from lcsuite.data.dataset import CorruptDataError
from lcsuite.data.mnist import MNIST_FILES, locate_mnist, read_mnist_pair
from lcsuite.data.provenance import UNVERIFIED, VERIFIED, FileRecord
from lcsuite.data.resolve import candidate_roots

__all__ = ["CORRUPT", "MISSING", "PARTIAL", "SplitCheck", "check_data"]

CORRUPT, PARTIAL, MISSING = "corrupt", "partial", "missing"
SPLITS = ("train", "test")


@dataclass(frozen=True)
class SplitCheck:
    """The state of one split of one data set.

    Attributes:
        dataset: ``"mnist"``, ``"cifar10"`` or ``"cifar100"``.
        split: ``"train"`` or ``"test"``.
        status: ``verified``, ``unverified``, ``corrupt``, ``partial`` or ``missing``.
        folder: the folder the loaders would read, or None when nothing was found.
        detail: one line: what matched, or why not.
        files: the records of the files read (empty unless verified or unverified).
    """

    dataset: str
    split: str
    status: str
    folder: str | None
    detail: str
    files: tuple[FileRecord, ...] = ()

    @property
    def usable(self) -> bool:
        """Whether a loader can use it (verified, or unverified where that is allowed)."""
        return self.status in (VERIFIED, UNVERIFIED)


def _verify(dataset: str, split: str, folder: Path, paths: Sequence[Path],
            parse: Callable[[list[Path]], object]) -> SplitCheck:
    """Check ``paths`` against their digests; parse them (``parse(unverified paths)``) unless
    all match."""
    try:
        records = file_records(paths, dataset)
        unverified = [record for record in records if record.status != VERIFIED]
        if unverified:
            parse([folder / record.name for record in unverified])
    except CorruptDataError as error:
        return SplitCheck(dataset, split, CORRUPT, str(folder), str(error))
    if unverified:
        detail = "; ".join(f"{record.name}: {record.reason}" for record in unverified)
        return SplitCheck(dataset, split, UNVERIFIED, str(folder), detail, records)
    kinds = sorted({record.published_source.split(":")[0] for record in records})
    detail = f"{len(records)} files match their {' and '.join(kinds)} digests"
    return SplitCheck(dataset, split, VERIFIED, str(folder), detail, records)


def _check_mnist(roots: Sequence[Path], split: str) -> SplitCheck:
    located = locate_mnist(roots, split)
    if located is None:
        names = ", ".join(f"{stem}[.gz]" for stem in MNIST_FILES[split])
        return SplitCheck("mnist", split, MISSING, None, f"{names} not found")
    if not located.complete:
        return SplitCheck("mnist", split, PARTIAL, str(located.folder), located.missing())
    pair = (located.images, located.labels)
    return _verify("mnist", split, located.folder, pair, lambda _: read_mnist_pair(*pair))


def _check_cifar(roots: Sequence[Path], num_classes: int, split: str) -> SplitCheck:
    dataset, layout = f"cifar{num_classes}", CIFAR_LAYOUT[num_classes]
    folder = cifar_folder_in(roots, num_classes)
    if folder is None:
        return SplitCheck(dataset, split, MISSING, None, f"{layout['folder']}/ not found")
    missing = missing_batches(folder, num_classes, split)
    if missing:
        return SplitCheck(dataset, split, PARTIAL, str(folder), f"{', '.join(missing)} missing")
    paths = [folder / name for name in layout[split]]
    return _verify(dataset, split, folder, paths,
                   lambda unverified: [read_batch(path, layout["label_key"]) for path in unverified])


def check_data(root=None) -> list[SplitCheck]:
    """One :class:`SplitCheck` per data set and split (mnist, cifar10, cifar100 × train, test),
    for the data the loaders would find in ``root`` and ``$LCSUITE_DATA``; folders that do not
    exist are skipped (the caller reports them)."""
    roots = [folder for folder in candidate_roots(root) if folder.is_dir()]
    checks = [_check_mnist(roots, split) for split in SPLITS]
    checks += [_check_cifar(roots, num_classes, split) for num_classes in (10, 100) for split in SPLITS]
    return checks

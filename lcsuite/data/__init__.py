"""Data sets with their provenance.

Every loader returns a :class:`Dataset` (``inputs`` float32, ``targets`` int64,
``provenance``). Real data: :func:`load_mnist` (IDX), :func:`load_cifar` (pickle batches, read
with a restricted unpickler). Every file read is checked against its known digest
(:mod:`lcsuite.data.checksums`) and listed in the provenance with its sha256 and status.
Substitutes (labelled, never silent): :func:`digits_substitute`, :func:`cifar_substitute`.
Resolution for the claims, refusing what the caller does not allow: :func:`resolve_mnist`,
:func:`resolve_cifar`; inventory: :func:`check_data`. Labels and digests of stored provenance
dicts: :func:`data_label`, :func:`data_digests`. Augmentation: :func:`random_crop_flip`.
"""

from lcsuite.data.augment import random_crop_flip
from lcsuite.data.check import SplitCheck, check_data
from lcsuite.data.checksums import KNOWN_DIGESTS, KnownDigest, file_record
from lcsuite.data.cifar import CIFAR_MEAN_STD, load_cifar, normalize_cifar
from lcsuite.data.dataset import CorruptDataError, DataError, DataNotFoundError, Dataset, UnverifiedDataError
from lcsuite.data.digests import cache_dir, file_digests
from lcsuite.data.download import download_cifar, download_mnist
from lcsuite.data.idx import read_idx
from lcsuite.data.mnist import PAPER_CROP, load_mnist
from lcsuite.data.provenance import FileRecord, Provenance, data_digests, data_label, provenance_status
from lcsuite.data.resolve import (
    ALLOW_UNVERIFIED_OPTION,
    ENV_VAR,
    candidate_roots,
    require_verified,
    resolve_cifar,
    resolve_mnist,
)
from lcsuite.data.registry import DATASETS, data_policy, load_dataset
from lcsuite.data.staleness import stale_data_reasons
from lcsuite.data.substitutes import cifar_substitute, digits_substitute

__all__ = [
    "ALLOW_UNVERIFIED_OPTION",
    "CIFAR_MEAN_STD",
    "DATASETS",
    "ENV_VAR",
    "KNOWN_DIGESTS",
    "KnownDigest",
    "PAPER_CROP",
    "CorruptDataError",
    "DataError",
    "DataNotFoundError",
    "Dataset",
    "FileRecord",
    "Provenance",
    "SplitCheck",
    "UnverifiedDataError",
    "cache_dir",
    "candidate_roots",
    "check_data",
    "cifar_substitute",
    "data_digests",
    "data_label",
    "data_policy",
    "digits_substitute",
    "download_cifar",
    "download_mnist",
    "file_digests",
    "file_record",
    "load_cifar",
    "load_dataset",
    "load_mnist",
    "normalize_cifar",
    "provenance_status",
    "random_crop_flip",
    "read_idx",
    "require_verified",
    "resolve_cifar",
    "resolve_mnist",
    "stale_data_reasons",
]

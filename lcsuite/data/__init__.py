"""Data sets of the paper with their provenance.

Every loader returns a :class:`Dataset` (``inputs`` float32, ``targets`` int64,
``provenance``). Real data: :func:`load_mnist` (IDX), :func:`load_cifar` (pickle batches).
Substitutes (labelled, never silent): :func:`digits_substitute`, :func:`cifar_substitute`.
Tier-aware resolution for the claims: :func:`resolve_mnist`, :func:`resolve_cifar`;
inventory: :func:`describe_data`. Augmentation: :func:`random_crop_flip`.
"""

from lcsuite.data.augment import random_crop_flip
from lcsuite.data.cifar import CIFAR_MEAN_STD, load_cifar, normalize_cifar
from lcsuite.data.dataset import CorruptDataError, DataNotFoundError, Dataset, Provenance
from lcsuite.data.download import download_cifar, download_mnist
from lcsuite.data.idx import read_idx
from lcsuite.data.mnist import PAPER_CROP, load_mnist
from lcsuite.data.resolve import ENV_VAR, TIERS, candidate_roots, describe_data, resolve_cifar, resolve_mnist
from lcsuite.data.substitutes import cifar_substitute, digits_substitute

__all__ = [
    "CIFAR_MEAN_STD",
    "ENV_VAR",
    "PAPER_CROP",
    "TIERS",
    "CorruptDataError",
    "DataNotFoundError",
    "Dataset",
    "Provenance",
    "candidate_roots",
    "cifar_substitute",
    "describe_data",
    "digits_substitute",
    "download_cifar",
    "download_mnist",
    "load_cifar",
    "load_mnist",
    "normalize_cifar",
    "random_crop_flip",
    "read_idx",
    "resolve_cifar",
    "resolve_mnist",
]

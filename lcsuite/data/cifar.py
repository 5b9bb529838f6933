"""CIFAR-10/100 from the python pickle batches (the layout torchvision downloads).

``cifar-10-batches-py/`` holds ``data_batch_1`` .. ``data_batch_5`` and ``test_batch``; each is a
pickle (read with the restricted unpickler of :mod:`lcsuite.data.unpickle`) of a dict with ``b"data"`` (N, 3072) uint8 (channel-major 3x32x32) and ``b"labels"``.
``cifar-100-python/`` holds ``train`` and ``test`` with ``b"fine_labels"`` (100 classes).

Inputs are (N, 3, 32, 32) float32, scaled to [0, 1] and normalised per channel with the
fb.resnet.torch constants (the code the paper trains with), unless ``normalize=False``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from lcsuite.data.checksums import file_records
from lcsuite.data.dataset import CorruptDataError, DataNotFoundError, Dataset, Provenance
from lcsuite.data.unpickle import load_batch

__all__ = ["CIFAR_LAYOUT", "CIFAR_MEAN_STD", "cifar_folder_in", "load_cifar", "missing_batches", "normalize_cifar",
           "read_batch"]

CIFAR_LAYOUT = {
    10: dict(
        folder="cifar-10-batches-py",
        train=[f"data_batch_{i}" for i in range(1, 6)],
        test=["test_batch"],
        label_key=b"labels",
    ),
    100: dict(folder="cifar-100-python", train=["train"], test=["test"], label_key=b"fine_labels"),
}

# Per-channel (mean, std) of the training set in [0, 1] units, as in fb.resnet.torch.
CIFAR_MEAN_STD = {
    10: ((125.3 / 255, 123.0 / 255, 113.9 / 255), (63.0 / 255, 62.1 / 255, 66.7 / 255)),
    100: ((129.3 / 255, 124.1 / 255, 112.4 / 255), (68.2 / 255, 65.4 / 255, 70.4 / 255)),
}


def _check(num_classes: int, split: str) -> dict:
    if num_classes not in CIFAR_LAYOUT:
        raise ValueError(f"num_classes must be 10 or 100, got {num_classes!r}")
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    return CIFAR_LAYOUT[num_classes]


def cifar_folder_in(roots, num_classes: int = 10) -> Path | None:
    """The ``cifar-10-batches-py`` / ``cifar-100-python`` folder at or under ``roots`` (one
    folder or a sequence, searched in order), or None.

    Looks at ``root/<folder>``, ``root/cifar{10,100}/<folder>`` and ``root`` itself. A folder
    with the official name counts as found when any of its batch files is there (the loader
    then names the missing ones); ``root`` under another name when it holds the test batch.
    """
    layout = _check(num_classes, "test")
    for root in [roots] if isinstance(roots, (str, os.PathLike)) else roots:
        root = Path(root)
        for folder in (root / layout["folder"], root / f"cifar{num_classes}" / layout["folder"], root):
            names = layout["train"] + layout["test"] if folder.name == layout["folder"] else layout["test"]
            if any((folder / name).is_file() for name in names):
                return folder
    return None


def missing_batches(folder: Path, num_classes: int, split: str) -> list[str]:
    """Names of the batch files of ``split`` that are not in ``folder``."""
    return [name for name in _check(num_classes, split)[split] if not (folder / name).is_file()]


def read_batch(path: Path, label_key: bytes) -> tuple[np.ndarray, np.ndarray]:
    """``(data (N, 3072) uint8, labels (N,) int64)`` of one batch file.

    Raises:
        CorruptDataError: unreadable, refused (see :mod:`lcsuite.data.unpickle`), or wrong shapes.
    """
    entry = load_batch(path)
    try:
        data = np.asarray(entry[b"data"], dtype=np.uint8)
        labels = np.asarray(entry[label_key], dtype=np.int64)
    except (KeyError, TypeError, ValueError, OverflowError) as error:
        raise CorruptDataError(f"{path}: not a CIFAR batch ({type(error).__name__}: {error})") from error
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or labels.ndim != 1 or len(data) != len(labels):
        raise CorruptDataError(
            f"{path}: expected data (N, 3072) and N labels, got data {data.shape}, labels {labels.shape}"
        )
    return data, labels


def normalize_cifar(images: torch.Tensor, num_classes: int = 10) -> torch.Tensor:
    """(N, 3, H, W) in [0, 1] -> per-channel standardised with :data:`CIFAR_MEAN_STD`."""
    mean, std = (torch.tensor(v, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
                 for v in CIFAR_MEAN_STD[num_classes])
    return (images - mean) / std


def load_cifar(
    root,
    num_classes: int = 10,
    split: str = "train",
    normalize: bool = True,
    limit: int | None = None,
) -> Dataset:
    """Load CIFAR-10 (``num_classes=10``) or CIFAR-100 ``split`` from ``root``.

    Returns:
        Dataset with inputs (N, 3, 32, 32) float32 and targets (N,) int64.

    Raises:
        DataNotFoundError: folder or a batch file missing (the message names it).
        CorruptDataError: a batch file cannot be unpickled or has the wrong shape.
    """
    layout = _check(num_classes, split)
    folder = cifar_folder_in(root, num_classes)
    if folder is None:
        raise DataNotFoundError(
            f"{root}: CIFAR-{num_classes} not found (expected {Path(root) / layout['folder']}"
            f"/{layout['test'][0]} and the other batches)"
        )
    missing = missing_batches(folder, num_classes, split)
    if missing:
        raise DataNotFoundError(f"{folder}: CIFAR-{num_classes} {split} split incomplete: "
                                f"{', '.join(missing)} missing")
    parts = [read_batch(folder / name, layout["label_key"]) for name in layout[split]]
    data = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise CorruptDataError(f"{folder}: labels outside 0..{num_classes - 1}")
    if limit is not None:
        data, labels = data[:limit], labels[:limit]
    images = torch.from_numpy(data).view(-1, 3, 32, 32).float().div_(255.0)
    note = "scaled to [0, 1]"
    if normalize:
        images = normalize_cifar(images, num_classes)
        note += ", per-channel normalised (fb.resnet.torch mean/std)"
    if limit is not None:
        note += f", first {limit} examples"
    files = file_records([folder / name for name in layout[split]], f"cifar{num_classes}")
    provenance = Provenance(f"cifar{num_classes}", split, len(labels), str(folder), False, note, files)
    return Dataset(images.contiguous(), torch.from_numpy(labels), provenance, num_classes=num_classes)

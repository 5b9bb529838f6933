"""MNIST from its IDX files, with the paper's optional center crop + resize.

Accepted layouts under a folder ``root`` (gzip ``.gz`` or uncompressed files):

- ``root/`` with the four IDX files directly (LeCun's names, e.g. ``t10k-images-idx3-ubyte.gz``);
- ``root/mnist/`` likewise;
- torchvision's ``root/MNIST/raw/`` (and ``root/mnist/MNIST/raw/``).

Inputs are scaled to [0, 1] as float32 of shape (N, 1, S, S). The paper's Fig. 1/2 and
App. B "center-crop and resize to 12" is ``image_size=12``: lcsuite crops the central 20x20
window (the box MNIST's digits are size-normalised into, so no stroke pixels are lost) and
area-averages it to 12x12. Other sizes can be asked for with ``crop`` / ``image_size``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from lcsuite.data.checksums import file_records
from lcsuite.data.dataset import CorruptDataError, DataNotFoundError, Dataset, Provenance
from lcsuite.data.idx import read_idx
from lcsuite.data.preprocess import center_crop, resize, standardize as standardize_images

__all__ = ["MNIST_FILES", "PAPER_CROP", "MnistFiles", "find_mnist", "load_mnist", "locate_mnist", "mnist_files_in",
           "not_found_message"]

MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
PAPER_CROP = 20  # central window cropped before resizing to 12x12 (see module docstring)
_SUBFOLDERS = (".", "mnist", "MNIST/raw", "mnist/MNIST/raw", "MNIST")


def _find_file(folder: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


@dataclass(frozen=True)
class MnistFiles:
    """The IDX files of one split found in one folder; a file not there is None."""

    split: str
    folder: Path
    images: Path | None
    labels: Path | None

    @property
    def complete(self) -> bool:
        return self.images is not None and self.labels is not None

    def missing(self) -> str:
        """Which file is missing beside the one found, e.g. ``"t10k-images-idx3-ubyte.gz found
        but t10k-labels-idx1-ubyte[.gz] is missing (images without labels)"``."""
        images_stem, labels_stem = MNIST_FILES[self.split]
        found, absent, what = ((self.images, labels_stem, "images without labels") if self.images
                               else (self.labels, images_stem, "labels without images"))
        return f"{found.name} found but {absent}[.gz] is missing ({what})"

    def incomplete_error(self) -> DataNotFoundError:
        """The loaders' error for an incomplete split: one line naming the folder and the file."""
        return DataNotFoundError(f"{self.folder}: MNIST {self.split} split incomplete: {self.missing()}")


def mnist_files_in(folder, split: str) -> MnistFiles | None:
    """The ``split`` files directly in ``folder`` (complete or not), or None if neither is there."""
    folder = Path(folder)
    images, labels = (_find_file(folder, stem) for stem in MNIST_FILES[_check_split(split)])
    return MnistFiles(split, folder, images, labels) if images or labels else None


def locate_mnist(roots, split: str) -> MnistFiles | None:
    """Search ``roots`` (one folder or a sequence, in order) in the accepted layouts: the first
    folder holding both files of ``split``, else the first holding one of them (incomplete),
    else None."""
    roots = [roots] if isinstance(roots, (str, os.PathLike)) else roots
    found = [f for root in roots for f in (mnist_files_in(Path(root) / sub, split) for sub in _SUBFOLDERS) if f]
    return next((f for f in found if f.complete), found[0] if found else None)


def find_mnist(root, split: str) -> tuple[Path, Path] | None:
    """(images, labels) paths of the complete ``split`` under ``root``, or None."""
    located = locate_mnist(root, split)
    return (located.images, located.labels) if located and located.complete else None


def _check_split(split: str) -> str:
    if split not in MNIST_FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    return split


def preprocess_digits(
    images: torch.Tensor,
    image_size: int | None,
    crop: int | None,
    standardize: bool | tuple[float, float],
) -> tuple[torch.Tensor, str]:
    """(N, 1, H, W) in [0, 1] -> cropped / resized / standardised images and a note saying how."""
    notes = ["scaled to [0, 1]"]
    if crop is not None:
        images = center_crop(images, crop)
        notes.append(f"center crop {crop}x{crop}")
    if image_size is not None and image_size != images.shape[-1]:
        images = resize(images, image_size)
        notes.append(f"resized to {image_size}x{image_size} ({'area' if image_size < 28 else 'bilinear'})")
    if standardize is True:
        images, mean, std = standardize_images(images)
        notes.append(f"standardised with its own mean {mean:.4f}, std {std:.4f}")
    elif standardize:
        mean, std = standardize
        images = (images - mean) / std
        notes.append(f"standardised with mean {mean:.4f}, std {std:.4f}")
    return images.contiguous(), ", ".join(notes)


def not_found_message(root, split: str) -> str:
    """One line: the ``split`` files were found in none of the accepted layouts under ``root``."""
    names = ", ".join(f"{stem}[.gz]" for stem in MNIST_FILES[split])
    return (f"{root}: MNIST {split} files ({names}) not found (looked in "
            + ", ".join(str(Path(root) / s) for s in _SUBFOLDERS) + ")")


def read_mnist_pair(image_path: Path, label_path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (N, 28, 28) and labels (N,) uint8 of one split, checked against each other.

    Raises:
        CorruptDataError: a file is unreadable, or the two disagree (count, labels outside 0..9).
    """
    images = read_idx(image_path, expected_ndim=3)
    labels = read_idx(label_path, expected_ndim=1)
    if len(images) != len(labels):
        raise CorruptDataError(f"{image_path}: {len(images)} images but {label_path} has {len(labels)} labels")
    if labels.numel() and int(labels.max()) > 9:
        raise CorruptDataError(f"{label_path}: label {int(labels.max())} outside 0..9")
    return images, labels


def load_mnist(
    root,
    split: str = "train",
    image_size: int | None = None,
    crop: int | None = None,
    standardize: bool | tuple[float, float] = False,
    limit: int | None = None,
) -> Dataset:
    """Load MNIST ``split`` from ``root`` (see the module docstring for layouts).

    Args:
        image_size: output side length; None keeps 28. ``12`` reproduces the paper's 12x12
            inputs (``crop`` then defaults to :data:`PAPER_CROP`).
        crop: central crop before resizing; None = 20 when ``image_size < 28`` else no crop.
        standardize: False; True (the loaded set's own global mean/std); or (mean, std).
        limit: keep only the first ``limit`` examples.

    Returns:
        Dataset with inputs (N, 1, S, S) float32 and targets (N,) int64 in 0..9.

    Raises:
        DataNotFoundError: no IDX files of ``split`` under ``root``, or only one of the two (the
            message names the missing file).
        CorruptDataError: a file is unreadable or inconsistent (the message names it).
    """
    located = locate_mnist(root, _check_split(split))
    if located is None:
        raise DataNotFoundError(not_found_message(root, split))
    if not located.complete:
        raise located.incomplete_error()
    raw_images, labels = read_mnist_pair(located.images, located.labels)
    if limit is not None:
        raw_images, labels = raw_images[:limit], labels[:limit]
    if crop is None and image_size is not None and image_size < 28:
        crop = PAPER_CROP
    images = raw_images.unsqueeze(1).float().div_(255.0)
    images, note = preprocess_digits(images, image_size, crop, standardize)
    if limit is not None:
        note += f", first {limit} examples"
    files = file_records((located.images, located.labels), "mnist")
    provenance = Provenance("mnist", split, len(labels), str(located.folder), False, note, files)
    return Dataset(images, labels.long(), provenance, num_classes=10)

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

from pathlib import Path

import torch

from lcsuite.data.dataset import DataNotFoundError, Dataset, Provenance
from lcsuite.data.idx import read_idx
from lcsuite.data.preprocess import center_crop, resize, standardize as standardize_images

__all__ = ["MNIST_FILES", "PAPER_CROP", "find_mnist", "load_mnist", "mnist_files_in"]

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


def mnist_files_in(folder, split: str) -> tuple[Path, Path] | None:
    """(images, labels) paths of ``split`` directly in ``folder``, or None if either is missing."""
    folder = Path(folder)
    images, labels = (_find_file(folder, stem) for stem in MNIST_FILES[_check_split(split)])
    return (images, labels) if images and labels else None


def find_mnist(root, split: str) -> tuple[Path, Path] | None:
    """Search ``root`` in the accepted layouts; (images, labels) paths or None."""
    for sub in _SUBFOLDERS:
        found = mnist_files_in(Path(root) / sub, split)
        if found:
            return found
    return None


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
        DataNotFoundError: no IDX files of ``split`` under ``root``.
        CorruptDataError: a file is unreadable or inconsistent (the message names it).
    """
    found = find_mnist(root, split)
    if found is None:
        names = ", ".join(f"{stem}[.gz]" for stem in MNIST_FILES[split])
        raise DataNotFoundError(
            f"{root}: MNIST {split} files ({names}) not found (looked in "
            + ", ".join(str(Path(root) / s) for s in _SUBFOLDERS) + ")"
        )
    image_path, label_path = found
    raw_images = read_idx(image_path, expected_ndim=3)
    labels = read_idx(label_path, expected_ndim=1)
    if len(raw_images) != len(labels):
        raise ValueError(f"{image_path}: {len(raw_images)} images but {label_path} has {len(labels)} labels")
    if labels.numel() and int(labels.max()) > 9:
        raise ValueError(f"{label_path}: label {int(labels.max())} outside 0..9")
    if limit is not None:
        raw_images, labels = raw_images[:limit], labels[:limit]
    if crop is None and image_size is not None and image_size < 28:
        crop = PAPER_CROP
    images = raw_images.unsqueeze(1).float().div_(255.0)
    images, note = preprocess_digits(images, image_size, crop, standardize)
    if limit is not None:
        note += f", first {limit} examples"
    provenance = Provenance("mnist", split, len(labels), str(image_path.parent), False, note)
    return Dataset(images, labels.long(), provenance, num_classes=10)

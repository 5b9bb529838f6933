"""Stand-ins used when the real data set is missing. Never silent: every substitute has
``provenance.substitute == True``, ``source == "substitute"`` and a name that says so.

- :func:`digits_substitute`: scikit-learn's bundled 8x8 handwritten digits (1797 images, 10
  classes) in place of MNIST; optionally upscaled.
- :func:`cifar_substitute`: a synthetic CIFAR-shaped task (3x32x32, 10 or 100 classes),
  deterministic from a seed: each class has a smooth colour template; an example is its class
  template with random contrast, a random smooth nuisance pattern, a random shift and flip, and
  pixel noise. A linear classifier reaches about 75% test accuracy (10 classes, 5000
  training examples); CNNs do better.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from lcsuite.data.augment import random_crop_flip
from lcsuite.data.dataset import Dataset, Provenance
from lcsuite.data.mnist import preprocess_digits

__all__ = ["CIFAR_SUBSTITUTE_SIZES", "DIGITS_TEST_SIZE", "cifar_substitute", "digits_substitute"]

DIGITS_TEST_SIZE = 297  # 1797 = 1500 train + 297 test
CIFAR_SUBSTITUTE_SIZES = {"train": 5000, "test": 1000}


def digits_substitute(
    split: str = "train",
    image_size: int | None = None,
    standardize: bool | tuple[float, float] = False,
    limit: int | None = None,
) -> Dataset:
    """scikit-learn's digits as an MNIST stand-in: (N, 1, S, S) in [0, 1], labels 0..9.

    The 1797 images are split deterministically (fixed permutation, seed 0) into 1500 train and
    297 test. ``image_size`` None keeps 8x8; larger sizes are bilinear upscales.
    """
    from sklearn.datasets import load_digits

    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    digits = load_digits()
    images = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
    labels = torch.tensor(digits.target, dtype=torch.int64)
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))
    order = order[DIGITS_TEST_SIZE:] if split == "train" else order[:DIGITS_TEST_SIZE]
    if limit is not None:
        order = order[:limit]
    images, note = preprocess_digits(images[order], image_size, None, standardize)
    note = "scikit-learn load_digits (8x8, 0..16 -> [0, 1]) in place of MNIST; " + note
    provenance = Provenance("digits (MNIST substitute)", split, len(order), "substitute", True, note)
    return Dataset(images, labels[order], provenance, num_classes=10)


def _smooth_noise(generator: torch.Generator, count: int, low_res: int) -> torch.Tensor:
    """(count, 3, 32, 32) smooth random fields: N(0, 1) at low_res x low_res, upsampled."""
    coarse = torch.randn(count, 3, low_res, low_res, generator=generator)
    return F.interpolate(coarse, size=(32, 32), mode="bicubic", align_corners=False)


def cifar_substitute(
    num_classes: int = 10,
    split: str = "train",
    size: int | None = None,
    seed: int = 0,
    noise: float = 1.5,
    nuisance: float = 2.0,
) -> Dataset:
    """Synthetic CIFAR-shaped data: (N, 3, 32, 32) float32 (about zero mean, unit scale).

    Class templates depend only on ``seed`` (shared by both splits); examples depend on
    ``seed`` and ``split``. ``size`` defaults to 5000 (train) / 1000 (test). ``noise`` is the
    pixel-noise std and ``nuisance``
    the std of the smooth per-example pattern, both relative to the template scale.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if num_classes not in (10, 100):
        raise ValueError(f"num_classes must be 10 or 100, got {num_classes!r}")
    size = CIFAR_SUBSTITUTE_SIZES[split] if size is None else size
    template_rng = torch.Generator().manual_seed(10_007 * seed + num_classes)
    templates = _smooth_noise(template_rng, num_classes, 4) + 0.5 * _smooth_noise(template_rng, num_classes, 8)
    templates = templates / templates.flatten(1).std(1).view(-1, 1, 1, 1)

    example_rng = torch.Generator().manual_seed(10_007 * seed + num_classes + (1 if split == "train" else 2) * 7919)
    labels = torch.randint(num_classes, (size,), generator=example_rng)
    contrast = 1.0 + 0.3 * torch.randn(size, 1, 1, 1, generator=example_rng)
    images = contrast * templates[labels] + nuisance * _smooth_noise(example_rng, size, 4)
    # random shift by up to 3 pixels and horizontal flip (the CIFAR augmentation, reused)
    images = random_crop_flip(images, generator=example_rng, padding=3)
    images = images + noise * torch.randn(images.shape, generator=example_rng)
    # about unit std: template (1 + 0.3^2), smooth nuisance (variance ~0.81 per unit), noise
    images = images / (1.09 + 0.81 * nuisance**2 + noise**2) ** 0.5
    note = (
        f"synthetic class templates + nuisance {nuisance} + shift/flip + noise {noise} (seed {seed}); "
        "stands in for CIFAR, absolute accuracies are not comparable to the paper"
    )
    provenance = Provenance(
        f"cifar{num_classes}-shaped synthetic (CIFAR substitute)", split, size, "substitute", True, note
    )
    return Dataset(images.float().contiguous(), labels, provenance, num_classes=num_classes)

"""Explicit downloads through torchvision (network access needed). Never called implicitly:
not by loaders, resolvers or tests."""

from __future__ import annotations

from pathlib import Path

__all__ = ["download_cifar", "download_mnist"]


def download_mnist(root) -> Path:
    """Download MNIST (train + test IDX files) to ``root/MNIST/raw``; returns that folder."""
    from torchvision.datasets import MNIST

    for train in (True, False):
        MNIST(str(root), train=train, download=True)
    return Path(root) / "MNIST" / "raw"


def download_cifar(root, num_classes: int = 10) -> Path:
    """Download CIFAR-10 or CIFAR-100 (python pickle batches) under ``root``; returns the
    ``cifar-10-batches-py`` / ``cifar-100-python`` folder."""
    from torchvision.datasets import CIFAR10, CIFAR100

    if num_classes not in (10, 100):
        raise ValueError(f"num_classes must be 10 or 100, got {num_classes!r}")
    cls = CIFAR10 if num_classes == 10 else CIFAR100
    cls(str(root), train=True, download=True)
    return Path(root) / ("cifar-10-batches-py" if num_classes == 10 else "cifar-100-python")

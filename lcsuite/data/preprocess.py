"""Image preprocessing shared by the MNIST-style loaders."""

from __future__ import annotations

import torch
from torch.nn import functional as F

__all__ = ["center_crop", "resize", "standardize"]


def center_crop(images: torch.Tensor, size: int) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, size, size), the central window."""
    height, width = images.shape[-2:]
    if size > min(height, width):
        raise ValueError(f"crop {size} larger than the image ({height}x{width})")
    top, left = (height - size) // 2, (width - size) // 2
    return images[..., top : top + size, left : left + size]


def resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, size, size); area averaging when shrinking, bilinear when growing."""
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    if size < images.shape[-1]:
        return F.interpolate(images, size=(size, size), mode="area")
    return F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)


def standardize(images: torch.Tensor) -> tuple[torch.Tensor, float, float]:
    """Subtract the global mean and divide by the global std; returns (images, mean, std)."""
    mean = images.mean().item()
    std = images.std().item()
    return (images - mean) / std, mean, std

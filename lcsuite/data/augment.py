"""Batched, on-device data augmentation for the CIFAR training loops."""

from __future__ import annotations

import torch
from torch.nn import functional as F

__all__ = ["random_crop_flip"]


def random_crop_flip(
    images: torch.Tensor, generator: torch.Generator | None = None, padding: int = 4
) -> torch.Tensor:
    """The standard CIFAR augmentation: zero-pad by ``padding``, random crop back to the input
    size, random horizontal flip with probability 1/2, drawn independently per image.

    Works on whichever device ``images`` lives on (``generator`` must be on the same device);
    no host synchronisation. As in fb.resnet.torch, it is applied to already-normalised images,
    so the padding is zero in normalised units.

    Args:
        images: (N, C, H, W).
    Returns:
        (N, C, H, W), a new tensor.
    """
    n, _, height, width = images.shape
    device = images.device
    padded = F.pad(images, (padding, padding, padding, padding))
    top = torch.randint(0, 2 * padding + 1, (n, 1), generator=generator, device=device)
    left = torch.randint(0, 2 * padding + 1, (n, 1), generator=generator, device=device)
    flip = torch.rand(n, 1, generator=generator, device=device) < 0.5
    rows = top + torch.arange(height, device=device)  # (N, H)
    columns = torch.arange(width, device=device).expand(n, width)
    columns = torch.where(flip, columns.flip(1), columns) + left  # (N, W)
    batch = torch.arange(n, device=device).view(n, 1, 1)
    out = padded.permute(0, 2, 3, 1)[batch, rows.unsqueeze(2), columns.unsqueeze(1)]  # (N, H, W, C)
    return out.permute(0, 3, 1, 2).contiguous()

"""Small helpers shared by models and the training loop."""

from __future__ import annotations

from torch import nn

__all__ = ["count_parameters", "weight_layers"]


def weight_layers(model: nn.Module) -> list[nn.Module]:
    """The model's Linear and Conv layers in registration order (= forward order for lcsuite
    models). This is the order that ``train(frozen=...)`` masks index."""
    return [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d))]


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) parameter entries."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)

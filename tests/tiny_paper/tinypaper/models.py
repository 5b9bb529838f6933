"""The tiny paper's model: one Linear layer, its ``classifier``."""

import torch
from torch import nn


class TinyLinear(nn.Module):
    def __init__(self, features: int, outputs: int = 1):
        super().__init__()
        self.classifier = nn.Linear(features, outputs, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(x)


def tiny_linear(features: int, outputs: int = 1) -> nn.Module:
    """Model builder registered as ``tiny_linear``."""
    return TinyLinear(features, outputs)

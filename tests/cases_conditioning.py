"""Small float64 networks and data shared by the conditioning tests (listed once, reused)."""

from __future__ import annotations

import torch
from torch import nn

NUM_CLASSES = 3


def mlp(bn: bool = False, seed: int = 0) -> nn.Module:
    """4 → 5 → 4 → 3 ReLU MLP, optionally with BatchNorm1d after each hidden Linear."""
    torch.manual_seed(seed)
    layers = [nn.Linear(4, 5)]
    layers += [nn.BatchNorm1d(5)] if bn else []
    layers += [nn.ReLU(), nn.Linear(5, 4)]
    layers += [nn.BatchNorm1d(4)] if bn else []
    layers += [nn.ReLU(), nn.Linear(4, NUM_CLASSES)]
    return nn.Sequential(*layers).double()


def cnn(bn: bool = False, seed: int = 0) -> nn.Module:
    """Conv(2→3, k3, pad 1) → [BN] → ReLU → Conv(3→4, k3, stride 2, pad 1) → [BN] → ReLU →
    Flatten → Linear(4·3·3 → 3), on inputs (N, 2, 5, 5)."""
    torch.manual_seed(seed)
    layers = [nn.Conv2d(2, 3, 3, padding=1)]
    layers += [nn.BatchNorm2d(3)] if bn else []
    layers += [nn.ReLU(), nn.Conv2d(3, 4, 3, stride=2, padding=1)]
    layers += [nn.BatchNorm2d(4)] if bn else []
    layers += [nn.ReLU(), nn.Flatten(), nn.Linear(4 * 3 * 3, NUM_CLASSES)]
    return nn.Sequential(*layers).double()


def mlp_data(n: int = 7, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, 4, generator=g, dtype=torch.float64),
            torch.randint(0, NUM_CLASSES, (n,), generator=g))


def cnn_data(n: int = 5, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, 2, 5, 5, generator=g, dtype=torch.float64),
            torch.randint(0, NUM_CLASSES, (n,), generator=g))


CASES = {
    "mlp": (mlp, mlp_data),
    "cnn": (cnn, cnn_data),
}


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    """‖a − b‖_max / ‖b‖_max (the scale of the reference)."""
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-300))

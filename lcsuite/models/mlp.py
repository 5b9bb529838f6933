"""Multi-layer perceptrons: Linear layers with ReLU and optional BatchNorm.

An ``MLP`` of ``depth`` K is K Linear layers: K-1 hidden layers of ``width`` units, each
followed (with ``norm="bn"``) by BatchNorm1d and then ReLU, and a final Linear classifier::

    x (N, ...) -> flatten (N, in_features)
      -> [Linear(in, width) -> BN? -> ReLU] x (K-1) -> Linear(width, num_classes) -> logits (N, C)

Initialisations (weights of every Linear layer, fan_in = in_features of that layer):

- ``"random"``: W ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)), the Torch7 ``nn.Linear`` default
  ("random initialization" in Torch7-era papers); biases follow Torch7 too, U(±1/sqrt(fan_in)).
- ``"he"``: W ~ N(0, 2/fan_in) (He et al. 2015); biases are zero.

BatchNorm layers start at weight 1, bias 0. ``bias=False`` removes every Linear bias
(the bias-free networks of scale-invariance analyses).
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["MLP", "MLP_INITS", "MLP_NORMS"]

MLP_INITS = ("random", "he")
MLP_NORMS = ("none", "bn")


class MLP(nn.Module):
    """ReLU MLP with optional BatchNorm before each hidden nonlinearity.

    Args:
        in_features: size of the flattened input (e.g. 144 for 12x12 MNIST).
        num_classes: number of output logits.
        depth: number of Linear layers K >= 1 (K-1 hidden layers, then the classifier).
        width: units per hidden layer.
        norm: ``"none"`` (the paper's 'Plain') or ``"bn"`` (BatchNorm1d after each hidden
            Linear, before its ReLU; none after the classifier).
        init: ``"random"`` or ``"he"`` (see the module docstring).
        bias: whether the Linear layers have biases.

    Attributes:
        layers: ``nn.Sequential`` of all modules in forward order.
        linears: list of the K Linear layers, input side first.
        classifier: the last Linear layer (``linears[-1]``).
    """

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        depth: int,
        width: int,
        norm: str = "none",
        init: str = "random",
        bias: bool = True,
    ):
        super().__init__()
        if depth < 1:
            raise ValueError(f"depth must be >= 1 (number of Linear layers), got {depth}")
        if norm not in MLP_NORMS:
            raise ValueError(f"unknown norm {norm!r}; valid: {', '.join(MLP_NORMS)}")
        if init not in MLP_INITS:
            raise ValueError(f"unknown init {init!r}; valid: {', '.join(MLP_INITS)}")
        self.in_features = in_features
        self.num_classes = num_classes
        self.depth = depth
        self.width = width
        self.norm = norm
        self.init = init

        modules: list[nn.Module] = []
        fan_in = in_features
        for _ in range(depth - 1):
            modules.append(nn.Linear(fan_in, width, bias=bias))
            if norm == "bn":
                modules.append(nn.BatchNorm1d(width))
            modules.append(nn.ReLU())
            fan_in = width
        modules.append(nn.Linear(fan_in, num_classes, bias=bias))
        self.layers = nn.Sequential(*modules)
        self.reset_parameters()

    @property
    def linears(self) -> list[nn.Linear]:
        """The Linear layers in forward order (length ``depth``)."""
        return [m for m in self.layers if isinstance(m, nn.Linear)]

    @property
    def classifier(self) -> nn.Linear:
        """The last Linear layer (produces the logits)."""
        return self.layers[-1]

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Re-draw every weight according to ``self.init`` (uses the global torch RNG)."""
        for module in self.layers:
            if isinstance(module, nn.Linear):
                fan_in = module.in_features
                if self.init == "random":
                    bound = 1.0 / math.sqrt(fan_in)
                    module.weight.uniform_(-bound, bound)
                    if module.bias is not None:
                        module.bias.uniform_(-bound, bound)
                else:
                    module.weight.normal_(0.0, math.sqrt(2.0 / fan_in))
                    if module.bias is not None:
                        module.bias.zero_()
            elif isinstance(module, nn.BatchNorm1d):
                module.reset_parameters()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, ...) with prod(...) == in_features -> logits (N, num_classes)."""
        return self.layers(x.flatten(1))

    def extra_repr(self) -> str:
        return f"depth={self.depth}, width={self.width}, norm={self.norm!r}, init={self.init!r}"

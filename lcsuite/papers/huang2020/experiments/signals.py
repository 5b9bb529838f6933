"""Signals of a network for the scaling theorems (Thm 4.1, 4.2): the layer inputs x_k, the
output-gradients g_k = dL/dh_k and the weight-gradients dL/dW_k of every weight layer, how to
scale the weights, and the relative error of a measured signal against a predicted one."""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

import torch
from torch import nn

from lcsuite.models import weight_layers

__all__ = ["Signals", "signals", "scale_weights", "rel_err"]


class Signals(NamedTuple):
    """Per weight layer: inputs x_k, output-gradients g_k, weight-gradients (all detached)."""

    inputs: list[torch.Tensor]
    output_grads: list[torch.Tensor]
    weight_grads: list[torch.Tensor]


def signals(model: nn.Module, inputs: torch.Tensor, backward: Callable[[torch.Tensor], None]) -> Signals:
    """Run forward and ``backward(output)``; collect x_k, g_k = dL/dh_k and dL/dW_k."""
    layers = weight_layers(model)
    layer_inputs, outputs = [], []

    def record(module, args, out):
        layer_inputs.append(args[0].detach().clone())
        out.retain_grad()
        outputs.append(out)

    handles = [m.register_forward_hook(record) for m in layers]
    model.zero_grad(set_to_none=True)
    try:
        final = model(inputs)
    finally:
        for handle in handles:
            handle.remove()
    backward(final)
    return Signals(layer_inputs, [o.grad.detach().clone() for o in outputs],
                   [m.weight.grad.detach().clone() for m in layers])


def scale_weights(model: nn.Module, alphas) -> None:
    with torch.no_grad():
        for layer, alpha in zip(weight_layers(model), alphas):
            layer.weight.mul_(float(alpha))


def rel_err(measured: torch.Tensor, predicted: torch.Tensor) -> float:
    """``‖measured − predicted‖ / ‖predicted‖`` (0 when both are 0)."""
    denominator = torch.linalg.norm(predicted)
    if denominator == 0:
        return 0.0 if torch.linalg.norm(measured) == 0 else math.inf
    return float(torch.linalg.norm(measured - predicted) / denominator)

"""``preserved_state``: put back what measuring a model may change, also on error.

Measuring a model (the analysis, the monitor's own passes, an experiment forwarding data in
train mode to read a layer's input) changes it as a side effect: BatchNorm running statistics
move with every train-mode forward pass, ``requires_grad`` is switched on so that
output-gradients exist, a backward pass leaves ``.grad`` on weights, and the train/eval mode
may be switched. :func:`preserved_state` saves those on entry and restores them on exit::

    with torch.no_grad(), preserved_state(model):
        model.train()                      # BatchNorm uses batch statistics
        statistics = measure(model, x)     # running statistics move ...
    # ... and are back, as is every module's mode
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterable, Iterator

import torch
from torch import nn

__all__ = ["preserved_state"]


def _tracked(model: nn.Module, tensors: Iterable[torch.Tensor]) -> list[torch.Tensor]:
    """The model's parameters and ``tensors``, each once."""
    seen, out = set(), []
    for tensor in [*model.parameters(), *tensors]:
        if id(tensor) not in seen:
            seen.add(id(tensor))
            out.append(tensor)
    return out


@contextmanager
def preserved_state(model: nn.Module, *, buffers: bool = True, mode: bool = True,
                    tensors: Iterable[torch.Tensor] = ()) -> Iterator[None]:
    """Restore on exit (also on error) what the code inside may change of ``model``.

    Args:
        model: The model.
        buffers: Restore the values of every buffer (BatchNorm ``running_mean``,
            ``running_var``, ``num_batches_tracked``), in place.
        mode: Restore the train/eval flag of every submodule (each its own).
        tensors: Tensors outside ``model.parameters()`` (e.g. weights a parametrisation
            computes) whose ``requires_grad`` and ``.grad`` are kept like the parameters'.

    Always restored: the ``requires_grad`` flag of every parameter (and of ``tensors``), and
    the ``.grad`` (the same tensor object, with its values) of each of them that did not
    require grad on entry, so that a backward pass inside leaves no gradient on a frozen
    weight, which an optimiser holding it would apply. The ``.grad`` of tensors that did
    require grad is left to the code inside (a user's own backward pass accumulates there).
    """
    tracked = _tracked(model, tensors)
    requires_grad = [t.requires_grad for t in tracked]
    # (tensor, its .grad tensor, a copy of its values): a backward pass accumulates in place.
    frozen = [(t, t.grad, None if t.grad is None else t.grad.detach().clone())
              for t in tracked if not t.requires_grad]
    saved_buffers = {name: b.detach().clone() for name, b in model.named_buffers()} if buffers else {}
    training = [(m, m.training) for m in model.modules()] if mode else []
    try:
        yield
    finally:
        with torch.no_grad():
            for name, b in model.named_buffers():
                if name in saved_buffers:
                    b.copy_(saved_buffers[name])
        for module, was_training in training:
            module.training = was_training
        for tensor, flag in zip(tracked, requires_grad):
            tensor.requires_grad_(flag)
        for tensor, grad, values in frozen:
            if grad is not None:
                grad.copy_(values)
            tensor.grad = grad

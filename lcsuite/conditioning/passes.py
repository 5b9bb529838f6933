"""The forward and backward passes the analysis records, and the model state kept around them.

Shared by :func:`lcsuite.analyze` (which runs the passes on a whole data set) and the
training monitor (:mod:`lcsuite.monitor`, which runs them on the batches of a user's loop):

- :func:`weights_requiring_grad`: every analysed weight requires grad inside; afterwards the
  ``requires_grad`` flags, the ``.grad`` of the weights that did not require grad and
  (optionally) every buffer are as before, even on error (through
  :func:`~lcsuite.conditioning.state.preserved_state`).
- :func:`capture_passes`: per batch one forward pass and the backward passes of the chosen
  Fisher type under a :class:`~lcsuite.conditioning.capture.LayerCapture`, returning the
  summed loss and the float64 sums of the weight gradients of the sum-reduced loss.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterable

import torch
from torch import nn

from lcsuite.conditioning.capture import LayerCapture
from lcsuite.conditioning.conventions import FisherType
from lcsuite.conditioning.state import preserved_state

__all__ = ["weights_requiring_grad", "capture_passes", "check_finite_records", "check_logits"]


@contextmanager
def weights_requiring_grad(model: nn.Module, weights: list[torch.Tensor], keep_buffers: bool = True):
    """Make every tensor of ``weights`` require grad inside the block; restore on exit.

    Restored on exit (also on error, :func:`~lcsuite.conditioning.state.preserved_state`): the
    ``requires_grad`` flag of every parameter, the ``.grad`` of each weight that did not
    require grad before (a backward pass inside would otherwise leave a gradient on a frozen
    weight, which an optimiser holding it would apply), and, with ``keep_buffers``, the values
    of every buffer (BatchNorm running statistics that the passes' forward calls update in
    train mode). The train/eval mode is the caller's: the passes do not change it.
    """
    with preserved_state(model, buffers=keep_buffers, mode=False, tensors=weights):
        for w in weights:
            w.requires_grad_(True)
        yield


def check_logits(logits: torch.Tensor, targets: torch.Tensor) -> None:
    """Cross-entropy needs logits ``(N, C)``, targets in ``[0, C)`` and finite logits."""
    if logits.ndim != 2 or logits.shape[0] != targets.shape[0]:
        raise ValueError(
            f"cross-entropy needs model outputs of shape (N, C) = ({targets.shape[0]}, C), "
            f"got {tuple(logits.shape)}"
        )
    num_classes = logits.shape[1]
    if targets.min() < 0 or targets.max() >= num_classes:
        raise ValueError(
            f"targets out of class range [0, {num_classes}): min {int(targets.min())}, "
            f"max {int(targets.max())}"
        )
    if not torch.isfinite(logits).all():
        raise ValueError("model outputs (logits) contain non-finite values")


def check_finite_records(capture: LayerCapture) -> None:
    """Raise ``ValueError`` naming the first layer whose input or output-gradient was not finite."""
    for record in capture.records.values():
        if record.nonfinite is not None:
            raise ValueError(f"non-finite values in the {record.nonfinite} of layer {record.name!r}")


def _output_edge_hooks(capture: LayerCapture, edges: list) -> list:
    """Forward hooks appending the gradient edge of every captured layer output to ``edges``.

    The edge is taken when the layer runs, so it stays the layer's own output even if an
    in-place activation later rewrites the tensor (the capture's gradient hooks sit there).
    """
    get_edge = getattr(torch.autograd.graph, "get_gradient_edge", None)
    if get_edge is None:  # older torch: the per-class passes fall back to the weights
        return []

    def hook(module, args, output):
        if isinstance(output, torch.Tensor) and output.requires_grad:
            edges.append(get_edge(output))

    return [record.module.register_forward_hook(hook) for record in capture.records.values()]


def _backward_passes(model, capture, weights, xb, yb, fisher, output_edges):
    """Forward one batch, backpropagate; returns (summed loss, weight gradients).

    The per-class passes of the true Fisher only need the output-gradients seen by the
    capture's hooks, so they ask autograd for the gradients at the layer outputs
    (``output_edges``, filled by the forward pass): no weight-gradient products are formed
    and the first layer's backward is skipped. The weight gradient (weight-domination ratio)
    comes from the one data-label pass.
    """
    output_edges.clear()
    logits = model(xb)
    check_logits(logits, yb)
    loss_sum = nn.functional.cross_entropy(logits, yb, reduction="sum")
    capture.record_gradients = fisher is FisherType.EMPIRICAL
    weight_grads = torch.autograd.grad(
        loss_sum, weights, retain_graph=fisher is FisherType.TRUE, allow_unused=True
    )
    if fisher is FisherType.TRUE:
        # Sg = (1/M) Σ_i Σ_c p_ic g_ic g_icᵀ: backpropagate Σ_i sqrt(p_ic) ℓ(out_i, c) per class,
        # with p detached, so each pass adds Σ_i p_ic g_ic g_icᵀ to GᵀG.
        capture.record_gradients = True
        probs = logits.detach().softmax(dim=1)
        num_classes = logits.shape[1]
        targets_of_pass = list(output_edges) or weights
        for c in range(num_classes):
            labels = torch.full_like(yb, c)
            per_example = nn.functional.cross_entropy(logits, labels, reduction="none")
            torch.autograd.grad((probs[:, c].sqrt() * per_example).sum(), targets_of_pass,
                                retain_graph=c < num_classes - 1, allow_unused=True)
    output_edges.clear()
    return float(loss_sum.detach()), weight_grads


def capture_passes(
    model: nn.Module,
    capture: LayerCapture,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    fisher: FisherType,
) -> tuple[float, list[torch.Tensor]]:
    """Record every batch ``(inputs, targets)`` into ``capture``.

    Per batch: one forward pass, the gradient of the sum-reduced cross-entropy on the data
    labels with respect to the captured weights, and, for the true Fisher, one backward pass
    per class (see :func:`_backward_passes`). The weights must require grad (see
    :func:`weights_requiring_grad`); their ``.grad`` is not touched (``torch.autograd.grad``).

    Returns:
        ``(summed loss over all examples, [float64 sum of ∂(Σ_i ℓ_i)/∂W per captured layer])``,
        the gradient list in the order of ``capture.records``.

    Raises:
        ValueError: Logits not ``(N, C)``, targets out of range, or a non-finite value in the
            logits or in a layer's input / output-gradient (the layer is named).
    """
    weights = [record.module.weight for record in capture.records.values()]
    weight_grad_sums = [torch.zeros_like(w, dtype=torch.float64) for w in weights]
    output_edges: list = []
    edge_hooks = []
    loss_total = 0.0
    try:
        with torch.enable_grad(), capture:
            if fisher is FisherType.TRUE:
                edge_hooks = _output_edge_hooks(capture, output_edges)
            for xb, yb in batches:
                loss_sum, grads = _backward_passes(model, capture, weights, xb, yb, fisher, output_edges)
                check_finite_records(capture)
                loss_total += loss_sum
                for acc, g in zip(weight_grad_sums, grads):
                    if g is not None:
                        acc.add_(g.detach().to(torch.float64))
    finally:
        for handle in edge_hooks:
            handle.remove()
        output_edges.clear()
    return loss_total, weight_grad_sums

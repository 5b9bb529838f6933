"""Exact curvature matrices of small networks in float64 (torch.func).

Parameters: the ``weight`` of every analysed layer (``nn.Linear``, ``nn.Conv2d`` and any other
registered layer type, :mod:`lcsuite.conditioning.layer_types`), in the order of
``model.named_modules()`` (biases, BatchNorm affine parameters and others are held fixed).
Each weight is flattened row-major (``weight.reshape(-1)``, PyTorch's order), so for a Linear
layer ``vec(∂ℓ/∂W) = g ⊗ x`` and a weight block is approximated by ``Sg ⊗ Sx`` (which has the
same spectrum as the paper's ``Sx ⊗ Sg``).

Matrices (``N`` examples, per-example loss ``ℓ_i = CE(f(X)_i, y_i)``, logits ``(N, C)``):

- ``fisher="true"``: ``F = (1/N) Σ_i J_iᵀ (diag p_i − p_i p_iᵀ) J_i`` with ``J_i = ∂f(X)_i/∂θ``
  and ``p_i = softmax(f(X)_i)``; the expectation over the model's labels is exact.
- ``fisher="empirical"``: ``M = (1/N) Σ_i ∇ℓ_i ∇ℓ_iᵀ``, ``∇ℓ_i = J_iᵀ (p_i − e_{y_i})``.

``J_i`` is the Jacobian of row ``i`` of the *whole batch's* logits, so with BatchNorm in train
mode the batch statistics are differentiated (examples are coupled); the model's running
statistics are not updated. The model is copied and cast to float64; the original is
untouched.
"""

from __future__ import annotations

import copy
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn
from torch.func import functional_call, vjp, vmap

from lcsuite.conditioning.layer_types import require_layers, supported_layers
from lcsuite.conditioning.conventions import FisherType

__all__ = ["ExactCurvature", "exact_curvature", "curvature_rows", "curvature_parameter_names"]


def curvature_parameter_names(model: nn.Module) -> list[str]:
    """Names (``"<module path>.weight"``) of the parameters the exact matrices are over."""
    return [f"{name}.weight" if name else "weight" for name, _ in supported_layers(model)]


@dataclass
class ExactCurvature:
    """An exact curvature matrix over the weights of the analysed layers.

    Attributes:
        matrix: ``(P, P)`` float64, ``P`` = total number of weight entries.
        layer_names: Module paths, in parameter order.
        slices: Module path → slice of that layer's (row-major) weight entries.
        fisher: Which matrix (:class:`FisherType`).
        num_examples: ``N``.
    """

    matrix: torch.Tensor
    layer_names: list[str]
    slices: dict[str, slice]
    fisher: FisherType
    num_examples: int

    def block(self, layer_name: str) -> torch.Tensor:
        """The sub-matrix ``F_k`` of one layer's weight, ``(d_out·d_in, d_out·d_in)``."""
        s = self.slices[layer_name]
        return self.matrix[s, s]


@contextmanager
def _batchnorm_without_running_stats(model: nn.Module):
    """Let train-mode BatchNorm use batch statistics without updating running ones.

    Function transforms forbid the in-place running-stat update; with the buffers set to
    ``None`` BatchNorm normalises with the batch statistics, exactly as in train mode.
    """
    saved = []
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.training:
            saved.append((module, module.running_mean, module.running_var,
                          module.num_batches_tracked))
            module.running_mean = module.running_var = module.num_batches_tracked = None
    try:
        yield
    finally:
        for module, mean, var, count in saved:
            module.running_mean, module.running_var, module.num_batches_tracked = mean, var, count


def _check_classification(logits: torch.Tensor, targets: torch.Tensor | None):
    if logits.ndim != 2:
        raise ValueError(f"expected logits of shape (N, C), got {tuple(logits.shape)}")
    if targets is not None:
        if targets.shape != (logits.shape[0],):
            raise ValueError(
                f"targets must have shape ({logits.shape[0]},), got {tuple(targets.shape)}"
            )
        if targets.min() < 0 or targets.max() >= logits.shape[1]:
            raise ValueError(f"targets must lie in [0, {logits.shape[1]})")


def _weight_layout(model: nn.Module) -> tuple[list[str], list[str], dict[str, torch.Tensor]]:
    """Module paths, their weight keys and the detached weights of every analysed layer."""
    layers = require_layers(model)
    names = [name for name, _ in layers]
    weight_keys = curvature_parameter_names(model)
    weights = {key: model.get_submodule(n).weight.detach() for key, n in zip(weight_keys, names)}
    return names, weight_keys, weights


def _slices(names: list[str], weight_keys: list[str], weights: dict[str, torch.Tensor]) -> dict[str, slice]:
    slices, offset = {}, 0
    for name, key in zip(names, weight_keys):
        size = weights[key].numel()
        slices[name] = slice(offset, offset + size)
        offset += size
    return slices


def _iter_gradient_rows(model, inputs, targets, fisher: FisherType, chunk_size: int):
    """Yield ``(R_chunk, P)`` float64 chunks of the gradient rows ``A`` with ``AᵀA / N`` the
    exact curvature (``model`` and ``inputs`` already float64 and on one device).

    Rows are ``√p_ic J_iᵀ(p_i − e_c)`` for the true Fisher (``R = N·C``) and ``J_iᵀ(p_i − e_{y_i})``
    for the empirical one (``R = N``), weights flattened row-major in module order.
    """
    names, weight_keys, weights = _weight_layout(model)
    fixed = {k: v.detach() for k, v in model.named_parameters() if k not in weights}
    device = inputs.device

    def logits_of(w):
        return functional_call(model, {**fixed, **w}, (inputs,))

    with torch.no_grad(), _batchnorm_without_running_stats(model):
        logits, vjp_fn = vjp(logits_of, weights)
        logits = logits.detach()
        _check_classification(logits, targets)
        probs = logits.softmax(dim=1)
        num_examples, num_classes = logits.shape
        if fisher is FisherType.TRUE:
            # diag p − p pᵀ = Σ_c p_c (p − e_c)(p − e_c)ᵀ: one cotangent per (example, class).
            example = torch.arange(num_examples, device=device).repeat_interleave(num_classes)
            cls = torch.arange(num_classes, device=device).repeat(num_examples)
        else:
            example = torch.arange(num_examples, device=device)
            cls = targets.to(device=device, dtype=torch.long)
        residual = probs[example] - nn.functional.one_hot(cls, num_classes).to(torch.float64)
        if fisher is FisherType.TRUE:
            residual = residual * probs[example, cls].sqrt().unsqueeze(1)
        for start in range(0, residual.shape[0], chunk_size):
            rows, where = residual[start:start + chunk_size], example[start:start + chunk_size]
            cotangents = torch.zeros(rows.shape[0], num_examples, num_classes, dtype=torch.float64, device=device)
            cotangents[torch.arange(rows.shape[0], device=device), where] = rows
            (grads,) = vmap(vjp_fn)(cotangents)
            yield torch.cat([grads[k].reshape(rows.shape[0], -1) for k in weight_keys], dim=1)


def _prepared(model: nn.Module, inputs: torch.Tensor, targets, fisher) -> tuple:
    """``(float64 copy of model, float64 inputs, FisherType, layer names, weight slices)``."""
    fisher = FisherType.parse(fisher)
    if fisher is FisherType.EMPIRICAL and targets is None:
        raise ValueError("fisher='empirical' needs targets")
    model = copy.deepcopy(model).to(torch.float64)
    names, weight_keys, weights = _weight_layout(model)
    return model, inputs.detach().to(torch.float64), fisher, names, _slices(names, weight_keys, weights)


def exact_curvature(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor | None = None,
                    fisher: FisherType | str = FisherType.TRUE, chunk_size: int = 256) -> ExactCurvature:
    """Exact true Fisher ``F`` or second moment ``M`` over the weights of every analysed layer.

    Args:
        model: The network; used in its current train/eval mode, never modified.
        inputs: ``(N, ...)`` batch (cast to float64).
        targets: ``(N,)`` class indices; required for ``fisher="empirical"``.
        fisher: :class:`FisherType` or its string.
        chunk_size: Number of vector-Jacobian products vectorised at once.

    Returns:
        :class:`ExactCurvature` with a ``(P, P)`` float64 matrix (on the inputs' device).
    """
    model, inputs, fisher, names, slices = _prepared(model, inputs, targets, fisher)
    num_params = max(s.stop for s in slices.values())
    matrix = torch.zeros(num_params, num_params, dtype=torch.float64, device=inputs.device)
    for rows in _iter_gradient_rows(model, inputs, targets, fisher, chunk_size):
        matrix.addmm_(rows.T, rows)
    num_examples = inputs.shape[0]
    matrix /= num_examples
    return ExactCurvature(matrix, names, slices, fisher, num_examples)


def curvature_rows(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor | None = None,
                   fisher: FisherType | str = FisherType.TRUE,
                   chunk_size: int = 512) -> tuple[torch.Tensor, dict[str, slice]]:
    """The gradient rows ``A`` with ``AᵀA / N`` = :func:`exact_curvature`'s matrix.

    For spectra through the smaller Gram matrix ``AAᵀ`` when ``R < P``.

    Returns:
        ``(rows, slices)``: rows ``(R, P)`` float64 (``R = N·C`` for ``"true"``, ``N`` for
        ``"empirical"``; weights flattened row-major in module order) and module path →
        column slice of that layer's weight.
    """
    model, inputs, fisher, _, slices = _prepared(model, inputs, targets, fisher)
    rows = torch.cat(list(_iter_gradient_rows(model, inputs, targets, fisher, chunk_size)))
    return rows, slices

"""Per-layer statistics of row matrices: second moments, magnitudes, unit activity, and the
weight-domination ratio.

Rows are examples (``M`` rows), columns are features: ``X`` has shape ``(M, d)``. All
results are float64 regardless of the input dtype.
"""

from __future__ import annotations

import math

import torch

__all__ = [
    "second_moment",
    "root_mean_square_norm",
    "dying_units",
    "full_units",
    "weight_domination_ratio",
    "spectral_norm",
]


def _rows(rows: torch.Tensor) -> torch.Tensor:
    rows = torch.as_tensor(rows).detach()
    if rows.ndim != 2:
        raise ValueError(f"expected a 2-D row matrix (M, d), got shape {tuple(rows.shape)}")
    if rows.shape[0] == 0:
        raise ValueError("no rows: a second moment needs at least one example")
    return rows.to(torch.float64)


def second_moment(rows: torch.Tensor) -> torch.Tensor:
    """Uncentred second moment ``XᵀX / M`` in float64.

    Args:
        rows: ``X`` of shape ``(M, d)``.

    Returns:
        Tensor of shape ``(d, d)``, float64.
    """
    rows = _rows(rows)
    return rows.T @ rows / rows.shape[0]


def root_mean_square_norm(rows: torch.Tensor) -> float:
    """``sqrt(E‖x‖²) = sqrt(trace(XᵀX) / M)`` over the rows of ``X`` (shape ``(M, d)``)."""
    rows = _rows(rows)
    return float(rows.square().sum(dim=1).mean().sqrt())


def dying_units(rows: torch.Tensor) -> torch.Tensor:
    """Boolean mask ``(d,)`` of the columns that are zero in every row ("dying" ReLUs).

    Applied to a layer input that follows a ReLU, a column that is zero for every example is
    a neuron never activated on the data; it gives an exact zero eigenvalue of ``XᵀX``.
    """
    rows = _rows(rows)
    return (rows == 0).all(dim=0)


def full_units(rows: torch.Tensor) -> torch.Tensor:
    """Boolean mask ``(d,)`` of the columns that are positive in every row ("full" ReLUs)."""
    rows = _rows(rows)
    return (rows > 0).all(dim=0)


def spectral_norm(matrix: torch.Tensor) -> float:
    """Largest singular value of ``matrix.reshape(matrix.shape[0], -1)`` in float64.

    Computed as ``sqrt(λ_max)`` of the smaller Gram matrix ``AᵀA`` or ``AAᵀ`` (``eigvalsh``,
    float64): exact like the SVD (``σ_max² = λ_max``; the relative error of the largest
    eigenvalue is a few ulps), at the cost of one product and one small symmetric
    eigenvalue problem instead of a full SVD. Falls back to the SVD when the Gram matrix is
    not finite (non-finite entries, or entries so large that their squares overflow).
    """
    matrix = torch.as_tensor(matrix).detach().to(torch.float64)
    matrix = matrix.reshape(matrix.shape[0], -1) if matrix.ndim != 1 else matrix.reshape(1, -1)
    if matrix.numel() == 0:
        return float(torch.linalg.matrix_norm(matrix, ord=2))
    gram = matrix.T @ matrix if matrix.shape[1] <= matrix.shape[0] else matrix @ matrix.T
    if not bool(torch.isfinite(gram).all()):
        return float(torch.linalg.matrix_norm(matrix, ord=2))
    largest = float(torch.linalg.eigvalsh(gram)[-1]) if gram.shape[0] > 1 else float(gram)
    return math.sqrt(max(largest, 0.0))


def weight_domination_ratio(weight_grad: torch.Tensor, weight: torch.Tensor) -> float:
    """``σ_max(∂L/∂W) / σ_max(W)`` (the paper's Definition 1; small means weight domination).

    Conv weights ``(C_out, C_in, kh, kw)`` and their gradients are reshaped to
    ``(C_out, C_in·kh·kw)``. ``L`` is whatever loss the gradient was taken of (``analyze``
    uses the mean cross-entropy over the data, the paper's objective).

    Returns:
        The ratio (float); ``inf`` when ``W = 0`` and the gradient is not, ``nan`` when both
        are zero.

    Raises:
        ValueError: Shapes differ.
    """
    if tuple(weight_grad.shape) != tuple(weight.shape):
        raise ValueError(
            f"weight gradient shape {tuple(weight_grad.shape)} differs from weight shape "
            f"{tuple(weight.shape)}"
        )
    numerator = spectral_norm(weight_grad)
    denominator = spectral_norm(weight)
    if denominator == 0.0:
        return float("nan") if numerator == 0.0 else float("inf")
    return numerator / denominator

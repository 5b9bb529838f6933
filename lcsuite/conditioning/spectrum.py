"""Spectra of symmetric positive semi-definite matrices, lambda_max and kappa_p.

Conventions:

- A spectrum is a 1-D float64 tensor of eigenvalues in descending order.
- ``kappa_p = λ_1 / λ_⌈p·d⌉`` over the *nonzero* spectrum, where an eigenvalue counts as
  nonzero when it exceeds ``rtol · λ_1`` and ``d`` is the number of such eigenvalues
  (the paper's generalised condition number; ``p = 1`` is the usual condition number over
  the nonzero spectrum).
- The default relative tolerance (:func:`default_rtol`) for an ``n × n`` second moment
  ``XᵀX / M`` accumulated in float64 from rows ``X`` stored in a dtype with machine epsilon
  ``ε`` is ``rtol = n · max(ε64, ε²)``. Two errors bound what can be told apart from zero:
  ``eigvalsh`` in float64 is backward stable, so every eigenvalue carries an absolute error
  up to about ``n · ε64 · λ_1``; and rounding the rows to ``ε`` moves the singular values of
  ``X`` by up to about ``√n · ε · σ_1``, i.e. eigenvalues below ``n · ε² · λ_1`` are
  indistinguishable from zero. For float32 rows this gives ``n · 1.4e-14``; such a
  covariance is therefore never reported with a condition number beyond what float32 rows
  resolve. Rows produced by a deep float32 network carry larger forward errors than one
  rounding; pass a larger ``rtol`` where that matters.
- An all-zero spectrum (no eigenvalue above ``rtol · λ_1``, including ``λ_1 <= 0``) has no
  nonzero part: :func:`kappa` returns ``inf`` for it (an infinitely ill-conditioned
  matrix carries no curvature in any direction), and :func:`lambda_max` returns ``0.0``.
"""

from __future__ import annotations

import math

import torch

__all__ = [
    "default_rtol",
    "symmetric_spectrum",
    "lambda_max",
    "nonzero_spectrum",
    "kappa",
    "kronecker_spectrum",
]


def default_rtol(dim: int, dtype: torch.dtype = torch.float64) -> float:
    """``n · max(ε64, ε(dtype)²)``: relative tolerance below which eigenvalues count as zero.

    See the module docstring for why.

    Args:
        dim: Side length ``n`` of the matrix (at least 1 is used).
        dtype: The dtype the rows of ``X`` were stored in (the network's dtype).
    """
    eps = torch.finfo(dtype).eps
    return max(int(dim), 1) * max(torch.finfo(torch.float64).eps, eps * eps)


def _as_float64_vector(eigs, what: str = "spectrum") -> torch.Tensor:
    eigs = torch.as_tensor(eigs).detach().to(device="cpu", dtype=torch.float64).reshape(-1)
    if eigs.numel() == 0:
        raise ValueError(f"empty {what}: there are no eigenvalues")
    if not torch.isfinite(eigs).all():
        bad = "NaN" if torch.isnan(eigs).any() else "inf"
        raise ValueError(f"{what} contains {bad} values")
    return eigs


def symmetric_spectrum(matrix: torch.Tensor) -> torch.Tensor:
    """Descending float64 eigenvalues of a symmetric matrix.

    The matrix is cast to float64 first and symmetrised as ``(A + Aᵀ) / 2`` so that rounding
    asymmetry of an accumulated second moment does not matter.

    Args:
        matrix: Square tensor of shape ``(n, n)``, any floating dtype.

    Returns:
        Tensor of shape ``(n,)``, float64, descending, on the CPU.

    Raises:
        ValueError: Not a square 2-D matrix, empty, or containing NaN/inf.
    """
    matrix = torch.as_tensor(matrix).detach().to(device="cpu", dtype=torch.float64)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"expected a square matrix, got shape {tuple(matrix.shape)}")
    if matrix.numel() == 0:
        raise ValueError("empty matrix: there are no eigenvalues")
    if not torch.isfinite(matrix).all():
        bad = "NaN" if torch.isnan(matrix).any() else "inf"
        raise ValueError(f"matrix contains {bad} values")
    symmetric = 0.5 * (matrix + matrix.T)
    return torch.linalg.eigvalsh(symmetric).flip(0)


def lambda_max(eigs) -> float:
    """Largest eigenvalue of a spectrum (``0.0`` when it is not positive).

    Args:
        eigs: Eigenvalues, shape ``(n,)``, any order.
    """
    eigs = _as_float64_vector(eigs)
    return max(float(eigs.max()), 0.0)


def nonzero_spectrum(eigs, rtol: float | None = None) -> torch.Tensor:
    """The eigenvalues above ``rtol · λ_1``, descending, float64.

    Args:
        eigs: Eigenvalues, shape ``(n,)``, any order.
        rtol: Relative tolerance; ``None`` means :func:`default_rtol` ``(n, float64)``.

    Returns:
        Tensor of shape ``(d,)``, ``0 <= d <= n``; empty when ``λ_1 <= 0``.
    """
    eigs = torch.sort(_as_float64_vector(eigs), descending=True).values
    rtol = default_rtol(eigs.numel()) if rtol is None else float(rtol)
    if not (rtol >= 0.0 and math.isfinite(rtol)):
        raise ValueError(f"rtol must be a finite number >= 0, got {rtol}")
    top = float(eigs[0])
    if top <= 0.0:
        return eigs[:0]
    return eigs[eigs > rtol * top]


def kappa(eigs, p: float = 1.0, rtol: float | None = None) -> float:
    """Generalised condition number ``kappa_p = λ_1 / λ_⌈p·d⌉`` over the nonzero spectrum.

    Args:
        eigs: Eigenvalues, shape ``(n,)``, any order; finite.
        p: Fraction of the nonzero spectrum, ``0 < p <= 1``. ``⌈p·d⌉`` is computed after
            rounding ``p·d`` to 9 decimals, so that e.g. ``0.7 · 10`` gives index 7, not 8.
        rtol: Relative zero tolerance; ``None`` means :func:`default_rtol` ``(n, float64)``.

    Returns:
        ``kappa_p >= 1``; ``1.0`` for a single nonzero eigenvalue; ``inf`` when no eigenvalue
        is nonzero (see the module docstring).

    Raises:
        ValueError: ``p`` outside ``(0, 1]``, or ``eigs`` empty or not finite.
    """
    p = float(p)
    if not (0.0 < p <= 1.0):
        raise ValueError(f"p must lie in (0, 1], got {p}")
    nonzero = nonzero_spectrum(eigs, rtol)
    d = nonzero.numel()
    if d == 0:
        return math.inf
    index = max(1, math.ceil(round(p * d, 9)))
    return float(nonzero[0] / nonzero[index - 1])


def kronecker_spectrum(a_eigs, b_eigs) -> torch.Tensor:
    """Spectrum of ``A ⊗ B`` from the spectra of ``A`` and ``B``, never forming ``A ⊗ B``.

    Every eigenvalue of ``A ⊗ B`` is a product ``α_i β_j`` (Horn & Johnson, Thm 4.2.12;
    the paper's Lemma 1), so the spectrum is the outer product of the two spectra.

    Args:
        a_eigs: Eigenvalues of ``A``, shape ``(m,)``.
        b_eigs: Eigenvalues of ``B``, shape ``(n,)``.

    Returns:
        Tensor of shape ``(m·n,)``, float64, descending.
    """
    a = _as_float64_vector(a_eigs, "first spectrum")
    b = _as_float64_vector(b_eigs, "second spectrum")
    return torch.sort(torch.outer(a, b).reshape(-1), descending=True).values

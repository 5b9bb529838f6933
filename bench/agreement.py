"""Numerical agreement between lcsuite and a peer library; a disagreement fails loudly."""

from __future__ import annotations

import torch

__all__ = ["AgreementError", "relative_error", "spectral_relative_error", "check"]

DEFAULT_RTOL = 1e-8  # float64 on both sides: same sums by different code paths


class AgreementError(AssertionError):
    """lcsuite and a peer library computed different numbers for the same quantity."""


def relative_error(ours: torch.Tensor, reference: torch.Tensor) -> float:
    """``max|ours − reference| / max|reference|`` (entrywise, relative to the reference's scale)."""
    ours = torch.as_tensor(ours).detach().to("cpu", torch.float64)
    reference = torch.as_tensor(reference).detach().to("cpu", torch.float64)
    if ours.shape != reference.shape:
        return float("inf")
    return float((ours - reference).abs().max() / reference.abs().max().clamp_min(1e-300))


def spectral_relative_error(spectrum: torch.Tensor, matrix: torch.Tensor) -> float:
    """Error of a descending spectrum against ``eigvalsh(matrix)``, relative to ``λ_max``."""
    matrix = torch.as_tensor(matrix).detach().to("cpu", torch.float64)
    reference = torch.linalg.eigvalsh(0.5 * (matrix + matrix.T)).flip(0)
    return relative_error(spectrum, reference)


def check(errors: dict[str, float], rtol: float = DEFAULT_RTOL) -> dict[str, float]:
    """Raise :class:`AgreementError` naming every quantity whose error exceeds ``rtol``.

    Args:
        errors: quantity ("curvlinops KFAC A, layers.0") -> relative error.

    Returns:
        ``errors`` unchanged, when all agree.
    """
    bad = {name: err for name, err in errors.items() if not err <= rtol}  # NaN fails too
    if bad:
        lines = "\n".join(f"  {name}: relative error {err:.3g}" for name, err in bad.items())
        raise AgreementError(f"lcsuite and the peer disagree beyond rtol={rtol:g}:\n{lines}")
    return errors

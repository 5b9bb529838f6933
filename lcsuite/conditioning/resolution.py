"""Numerical resolution of ``kappa_p``: is a value settled by the precision of its rows?

``kappa_p = λ_1 / λ_⌈p·d⌉`` over the nonzero spectrum (:func:`lcsuite.conditioning.spectrum.kappa`)
is a ratio to one eigenvalue; when that eigenvalue sits near the numerical floor, rounding the
rows at the precision the network and its data are stored in moves it by a large factor, and
with it ``kappa_p``. This module says, from a rounding model and never from a verdict, which
values are *resolved* (they move by at most ``tolerance``, 1%, under such rounding) and gives
bounds for the others.

Rounding model. The second moment is ``XᵀX / M`` with rows ``X`` that carry a relative error
``δ`` (``‖ΔX‖₂ ≤ δ·σ_1(X)``; default ``δ = ε`` of float32, the precision of the network's
weights and data, at which a perturbation is as legitimate a measurement as the original).
First-order singular-value perturbation gives ``|Δσ_j| ≤ δ·σ_1``, so the eigenvalue
``λ_j = σ_j²`` moves by at most ``r_j = 2δ·sqrt(λ_1·λ_j)`` through its rows, and by the float64
eigensolver's backward error ``n·ε64·λ_1`` on top: ``Δ_j = r_j + n·ε64·λ_1``.

An eigenvalue's zero-ness (``λ_j > rtol·λ_1``) is uncertain when ``λ_j ± r_j`` straddle the
cut-off (the cut-off already covers the eigensolver's error: the default ``rtol`` is that
error bound), so ``d`` lies in ``[d_min, d_max]`` and the defining index ``⌈p·d⌉`` in
``[i_min, i_max]``. Exact zeros (a dying unit's all-zero column) stay zero. Then::

    lower = (λ_1 − Δ_1) / (λ_{i_min} + Δ_{i_min})
    upper = (λ_1 + Δ_1) / max(λ_{i_max} − Δ_{i_max}, rtol·λ_1)

(the cap: a nonzero eigenvalue exceeds ``rtol·λ_1`` by definition, so ``kappa_p ≤ 1/rtol``).
The value is *resolved* when ``i_min = i_max`` and ``[lower, upper]`` lies within
``±tolerance`` of it, i.e. (for ``d`` settled) when ``2δ·sqrt(kappa_p) ≲ tolerance``:
``kappa_p`` up to about ``(0.005/ε32)² ≈ 1.8e9`` for float32 rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from lcsuite.conditioning.spectrum import kappa

__all__ = ["KappaBounds", "kappa_bounds", "FLOAT32_ROW_ERROR", "RESOLVED_TOLERANCE", "kappa_resolution_snapshot"]

FLOAT32_ROW_ERROR = float(torch.finfo(torch.float32).eps)
"""Default relative row error ``δ``: one float32 spacing (the network's and the data's dtype)."""
RESOLVED_TOLERANCE = 0.01
"""A resolved ``kappa_p`` moves by at most this fraction under the rounding model (DECISIONS D6)."""
_RESOLUTION_SUFFIXES = ("lower", "upper", "resolved")


@dataclass(frozen=True)
class KappaBounds:
    """``kappa_p`` with its rounding bounds: ``lower <= value <= upper``; ``resolved`` when the
    bounds lie within ``±tolerance`` of ``value`` and ``d`` is settled."""

    value: float
    lower: float
    upper: float
    resolved: bool


def _ceil_index(p: float, d: int) -> int:
    return max(1, math.ceil(round(p * d, 9)))


def kappa_bounds(eigs, p: float, rtol: float, row_error: float = FLOAT32_ROW_ERROR,
                 tolerance: float = RESOLVED_TOLERANCE) -> KappaBounds:
    """``kappa_p`` of the spectrum ``eigs`` (shape ``(n,)``, any order) with bounds under rows
    rounded at relative ``row_error`` (see the module docstring). ``rtol`` is the zero
    tolerance ``kappa`` uses. An all-zero spectrum gives ``inf`` for all three (resolved)."""
    value = kappa(eigs, p, rtol)
    eigs = torch.sort(torch.as_tensor(eigs, dtype=torch.float64).reshape(-1), descending=True).values
    top = float(eigs[0])
    if not math.isfinite(value) or top <= 0.0:
        return KappaBounds(value, value, value, True)
    rows = 2.0 * float(row_error) * torch.sqrt(top * eigs.clamp(min=0.0))
    move = rows + eigs.numel() * torch.finfo(torch.float64).eps * top
    cut = rtol * top
    d_min, d_max = int((eigs - rows > cut).sum()), int((eigs + rows > cut).sum())
    i_min, i_max = _ceil_index(p, d_min), _ceil_index(p, max(d_max, 1))
    low_top, high_top = top - float(move[0]), top + float(move[0])
    lower = low_top / float(eigs[i_min - 1] + move[i_min - 1])
    upper = high_top / max(float(eigs[i_max - 1] - move[i_max - 1]), cut)
    lower, upper = min(lower, value), max(upper, value)
    resolved = i_min == i_max and upper <= value * (1 + tolerance) and lower >= value * (1 - tolerance)
    return KappaBounds(value, lower, upper, bool(resolved))


def _factor_and_p(name: str) -> tuple[str, float]:
    factor, _, rest = name.partition("/")
    if factor not in ("input", "grad") or not rest.startswith("kappa_p"):
        raise KeyError(f"not a kappa statistic of Sx or Sg: {name!r} (expected input|grad/kappa_p<P>)")
    return factor, float(rest[len("kappa_p"):]) / 100.0


def kappa_resolution_snapshot(analysis, names, row_error: float = FLOAT32_ROW_ERROR) -> dict:
    """For each ``<input|grad>/kappa_p<P>`` in ``names``: ``{name}_lower``, ``{name}_upper`` and
    ``{name}_resolved`` (1.0 / 0.0), float64 arrays ``(layer,)`` over the analysed layers, each
    layer's spectrum judged with its own stored zero tolerance."""
    out = {}
    for name in names:
        factor, p = _factor_and_p(name)
        bounds = [kappa_bounds(getattr(layer, f"{factor}_spectrum"), p, getattr(layer, f"{factor}_rtol"), row_error)
                  for layer in analysis.layers]
        out[f"{name}_lower"] = [b.lower for b in bounds]
        out[f"{name}_upper"] = [b.upper for b in bounds]
        out[f"{name}_resolved"] = [float(b.resolved) for b in bounds]
    return {key: np.asarray(values, dtype=np.float64) for key, values in out.items()}

"""Proposition 1: the spectrum of a Kronecker product of PSD factors.

For PSD ``Sx`` (d_x × d_x) and ``Sg`` (d_g × d_g), ``F = Sx ⊗ Sg`` has the outer product of the
factor spectra as its spectrum, so ``λmax(F) = λmax(Sx)·λmax(Sg)`` and ``κ(F) = κ(Sx)·κ(Sg)``
(κ over the nonzero spectrum). This experiment forms ``F`` explicitly in float64 for random
pairs and compares.

Random pairs: sizes uniform in ``1..max_size``; each factor is ``A Aᵀ`` with ``A = Q diag(√s)``,
``Q`` orthonormal, ``s`` log-uniform in ``[1/factor_kappa_max, 1]`` (full rank) or with
``d - rank`` zeros (``rank_deficient_fraction`` of the factors), times a scale
``10^U(log10_scale_min, log10_scale_max)``. Eigenvalues above ``nonzero_rtol · λmax`` count as
nonzero.
"""

from __future__ import annotations

import numpy as np

from lcsuite.experiments import ExperimentContext, experiment

PER_PAIR = ("pair",)
OUTPUTS = {
    "lambda_max/explicit": PER_PAIR,
    "lambda_max/product": PER_PAIR,
    "kappa/explicit": PER_PAIR,
    "kappa/product": PER_PAIR,
    "spectrum/max_error_over_lambda_max": PER_PAIR,
    "kappa_p50/explicit": PER_PAIR,
    "kappa_p50/product": PER_PAIR,
    "kappa_p50/relative_gap": PER_PAIR,
    "size/kronecker": PER_PAIR,
}


def _random_psd(rng: np.random.Generator, size: int, params: dict) -> np.ndarray:
    kappa_max = float(params["factor_kappa_max"])
    spectrum = np.exp(rng.uniform(-np.log(kappa_max), 0.0, size))
    spectrum[0] = 1.0  # λmax fixed so the largest factor eigenvalue is well separated from noise
    if size > 1 and rng.random() < params["rank_deficient_fraction"]:
        rank = int(rng.integers(1, size))
        spectrum[rank:] = 0.0
    q, _ = np.linalg.qr(rng.standard_normal((size, size)))
    scale = 10.0 ** rng.uniform(params["log10_scale_min"], params["log10_scale_max"])
    matrix = (q * spectrum) @ q.T * scale
    return (matrix + matrix.T) / 2  # exactly symmetric


def _nonzero(eigenvalues: np.ndarray, rtol: float) -> np.ndarray:
    """Eigenvalues above ``rtol · λmax``, descending."""
    descending = np.sort(eigenvalues)[::-1]
    return descending[descending > rtol * descending[0]]


def _kappa_p(eigenvalues: np.ndarray, p: float, rtol: float) -> float:
    """``λ_1 / λ_⌈p·d⌉`` over the nonzero spectrum (d = number of nonzero eigenvalues)."""
    nonzero = _nonzero(eigenvalues, rtol)
    index = max(1, int(np.ceil(p * len(nonzero)))) - 1
    return float(nonzero[0] / nonzero[index])


def _outer_spectrum(sx_eigs: np.ndarray, sg_eigs: np.ndarray) -> np.ndarray:
    try:  # the conditioning package's implementation, once it exists
        from lcsuite.conditioning.spectrum import kronecker_spectrum

        return np.sort(np.asarray(kronecker_spectrum(sx_eigs, sg_eigs), dtype=np.float64).ravel())[::-1]
    except ImportError:
        return np.sort(np.outer(sx_eigs, sg_eigs).ravel())[::-1]


@experiment("kronecker_spectrum", outputs=OUTPUTS)
def kronecker_spectrum(ctx: ExperimentContext) -> dict:
    """Explicit ``eigvalsh(Sx ⊗ Sg)`` against the factors' spectra, per random pair."""
    params, rng = ctx.params, ctx.rng()
    rtol = float(params["nonzero_rtol"])
    rows: dict[str, list[float]] = {path: [] for path in OUTPUTS}
    for pair in range(int(params["pairs"])):
        sx = _random_psd(rng, int(rng.integers(1, params["max_size"] + 1)), params)
        sg = _random_psd(rng, int(rng.integers(1, params["max_size"] + 1)), params)
        explicit = np.linalg.eigvalsh(np.kron(sx, sg))
        sx_eigs, sg_eigs = np.linalg.eigvalsh(sx), np.linalg.eigvalsh(sg)
        outer = _outer_spectrum(sx_eigs, sg_eigs)
        explicit_desc = np.sort(explicit)[::-1]
        rows["lambda_max/explicit"].append(explicit_desc[0])
        rows["lambda_max/product"].append(sx_eigs.max() * sg_eigs.max())
        rows["kappa/explicit"].append(_kappa_p(explicit, 1.0, rtol))
        rows["kappa/product"].append(_kappa_p(sx_eigs, 1.0, rtol) * _kappa_p(sg_eigs, 1.0, rtol))
        rows["spectrum/max_error_over_lambda_max"].append(np.max(np.abs(explicit_desc - outer)) / explicit_desc[0])
        rows["kappa_p50/explicit"].append(_kappa_p(explicit, 0.5, rtol))
        rows["kappa_p50/product"].append(_kappa_p(sx_eigs, 0.5, rtol) * _kappa_p(sg_eigs, 0.5, rtol))
        rows["size/kronecker"].append(len(explicit))
        if pair % 50 == 49:
            ctx.progress(f"kronecker_spectrum: {pair + 1} pairs")
        rows["kappa_p50/relative_gap"].append(abs(rows["kappa_p50/explicit"][-1] / rows["kappa_p50/product"][-1] - 1))
    return {path: np.asarray(values, dtype=np.float64) for path, values in rows.items()}

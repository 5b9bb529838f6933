"""Proposition 1: the spectrum of a Kronecker product of PSD factors.

For PSD ``Sx`` (d_x × d_x) and ``Sg`` (d_g × d_g), ``F = Sx ⊗ Sg`` has the outer product of the
factor spectra as its spectrum, so ``λmax(F) = λmax(Sx)·λmax(Sg)`` and ``κ(F) = κ(Sx)·κ(Sg)``
(κ over the nonzero spectrum). Partial condition numbers ``κ_p`` (p < 100%) do not factor in
general: the ⌈p·d⌉-th largest product is not the product of the factors' ⌈p·d⌉-th largest.

Experiment ``kronecker_spectrum``, param ``source`` (a grid key):

- ``"random_pairs"``: ``pairs`` random PSD pairs chosen by hypothesis
  (:func:`lcsuite.harness.sampling.hypothesis_examples`, seeded by ``ctx.seed``). Per factor
  hypothesis draws the size ``1..max_size``, the rank ``1..size``, ``log10 κ`` in
  ``[0, log10 factor_kappa_max]``, ``log10`` of the scale in
  ``[log10_scale_min, log10_scale_max]`` and a seed for the eigenbasis. The factor is
  ``scale · Q diag(s) Qᵀ`` with ``Q`` Haar-orthonormal, ``s_1 = 1``, ``s_rank = 1/κ``, the
  others log-uniform in between and ``s_i = 0`` beyond the rank. ``F`` is formed explicitly
  and diagonalised with ``eigvalsh`` in float64. Eigenvalues above ``nonzero_rtol · λmax``
  count as nonzero. Dim ``pair``.
- ``"network"``: :func:`~lcsuite.papers.huang2020.experiments.network_factors.network_factor_spectra` on the ``Sx``,
  ``Sg`` captured from an MLP after a few full-batch GD steps on MNIST (params
  ``network_depth``, ``network_width``, ``network_examples``, ``network_steps``,
  ``network_lr``). Dim ``layer``.

Both sources return the same paths (the claim's checks apply to both):

- ``lambda_max/explicit``, ``lambda_max/product``: λmax(F) and λmax(Sx)·λmax(Sg).
- ``kappa/explicit``, ``kappa/product``, ``kappa/rel_err`` (``|explicit/product − 1|``).
- ``kappa/rounding_bound``: ``n·ε64·κ`` (n = d_x·d_g), the relative error on κ that
  ``eigvalsh``'s backward error (``≲ n·ε64·λmax`` per eigenvalue) allows;
  ``kappa/tolerance = max(kappa_rtol, kappa/rounding_bound)``.
- ``spectrum/max_error_over_lambda_max``: ``max_i |λ_i(F) − (outer product)_i| / λmax(F)``
  over the eigenvalues compared, ``spectrum/eigenvalues_compared``: all ``n`` for random
  pairs; for the network the two that its measurement compares (λmax and the smallest nonzero
  eigenvalue, ``λmax/κ``).
- ``kappa_p50/{explicit,product,ratio,relative_gap}`` and the same for ``kappa_p80``:
  ``ratio = κ_p(F) / (κ_p(Sx)·κ_p(Sg))``, ``relative_gap = |ratio − 1|``.
- ``size/kronecker``: n. Random pairs add ``size/sx``, ``size/sg``, ``rank/sx``, ``rank/sg``,
  ``log10_scale/sx``, ``log10_scale/sg``, ``log10_kappa/sx``, ``log10_kappa/sg``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from lcsuite.conditioning import kappa, kronecker_spectrum as outer_spectrum
from lcsuite.harness.experiments import ExperimentContext, experiment
from lcsuite.harness.sampling import hypothesis_examples
from lcsuite.papers.huang2020.experiments.network_factors import network_factor_spectra

SOURCES = ("random_pairs", "network")
PARTIAL_KAPPAS = {"kappa_p50": 0.5, "kappa_p80": 0.8}
EPS64 = float(np.finfo(np.float64).eps)
SHARED_PATHS = (
    "lambda_max/explicit", "lambda_max/product",
    "kappa/explicit", "kappa/product", "kappa/rel_err", "kappa/rounding_bound", "kappa/tolerance",
    "spectrum/max_error_over_lambda_max", "spectrum/eigenvalues_compared",
    *(f"{tag}/{what}" for tag in PARTIAL_KAPPAS for what in ("explicit", "product", "ratio", "relative_gap")),
    "size/kronecker",
)
RANDOM_PAIR_PATHS = tuple(f"{what}/{factor}" for what in ("size", "rank", "log10_scale", "log10_kappa")
                          for factor in ("sx", "sg"))
NETWORK_PARAMS = {"depth": "network_depth", "width": "network_width", "num_examples": "network_examples",
                  "steps": "network_steps", "lr": "network_lr"}


def _outputs(params) -> dict[str, tuple[str, ...]]:
    source = params.get("source", "random_pairs")
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; valid: {', '.join(SOURCES)}")
    if source == "network":
        return {path: ("layer",) for path in SHARED_PATHS}
    return {path: ("pair",) for path in SHARED_PATHS + RANDOM_PAIR_PATHS}


# --- random pairs --------------------------------------------------------------------------------


class FactorSpec(NamedTuple):
    """One random PSD factor as hypothesis drew it."""

    size: int
    rank: int
    log10_kappa: float
    log10_scale: float
    basis_seed: int


def factor_strategy(params):
    """Hypothesis strategy of :class:`FactorSpec` within the claim's ranges."""
    from hypothesis import strategies as st

    @st.composite
    def factor(draw):
        size = draw(st.integers(1, int(params["max_size"])))
        return FactorSpec(
            size=size,
            rank=draw(st.integers(1, size)),
            log10_kappa=draw(st.floats(0.0, math.log10(float(params["factor_kappa_max"])))),
            log10_scale=draw(st.floats(float(params["log10_scale_min"]), float(params["log10_scale_max"]))),
            basis_seed=draw(st.integers(0, 2**32 - 1)),
        )

    return st.tuples(factor(), factor())


def psd_matrix(spec: FactorSpec) -> np.ndarray:
    """``scale · Q diag(s) Qᵀ`` (float64, exactly symmetric, shape ``(size, size)``)."""
    rng = np.random.default_rng(spec.basis_seed)
    spectrum = np.zeros(spec.size)
    spectrum[:spec.rank] = 10.0 ** -rng.uniform(0.0, spec.log10_kappa, spec.rank)
    spectrum[0] = 1.0
    if spec.rank > 1:
        spectrum[spec.rank - 1] = 10.0 ** -spec.log10_kappa
    q, r = np.linalg.qr(rng.standard_normal((spec.size, spec.size)))
    q = q * np.sign(np.diag(r))  # Haar-distributed
    matrix = (q * spectrum) @ q.T * 10.0 ** spec.log10_scale
    return (matrix + matrix.T) / 2


def explicit_matrix(sx: np.ndarray, sg: np.ndarray) -> np.ndarray:
    """``Sx ⊗ Sg`` formed explicitly, ``(d_x·d_g, d_x·d_g)``."""
    return np.kron(sx, sg)


def _compare_pair(sx: np.ndarray, sg: np.ndarray, nonzero_rtol: float) -> dict[str, float]:
    """Explicit ``eigvalsh(Sx ⊗ Sg)`` against the factors' spectra: one row of every shared path."""
    explicit = np.sort(np.linalg.eigvalsh(explicit_matrix(sx, sg)))[::-1].copy()
    sx_eigs, sg_eigs = np.linalg.eigvalsh(sx), np.linalg.eigvalsh(sg)
    outer = outer_spectrum(sx_eigs, sg_eigs).numpy()
    n = explicit.size
    row = {
        "lambda_max/explicit": explicit[0],
        "lambda_max/product": sx_eigs.max() * sg_eigs.max(),
        "spectrum/max_error_over_lambda_max": np.max(np.abs(explicit - outer)) / explicit[0],
        "spectrum/eigenvalues_compared": n,
        "size/kronecker": n,
    }
    for tag, p in {"kappa": 1.0, **PARTIAL_KAPPAS}.items():
        row[f"{tag}/explicit"] = kappa(explicit, p, rtol=nonzero_rtol)
        row[f"{tag}/product"] = kappa(sx_eigs, p, rtol=nonzero_rtol) * kappa(sg_eigs, p, rtol=nonzero_rtol)
    return row


def _random_pairs(ctx: ExperimentContext) -> dict[str, list[float]]:
    params = ctx.params
    pairs = hypothesis_examples(factor_strategy(params), int(params["pairs"]), ctx.seed)
    rows: dict[str, list[float]] = {path: [] for path in _outputs(params)}
    for index, (x_spec, g_spec) in enumerate(pairs):
        row = _compare_pair(psd_matrix(x_spec), psd_matrix(g_spec), float(params["nonzero_rtol"]))
        for path, value in row.items():
            rows[path].append(value)
        for factor, spec in (("sx", x_spec), ("sg", g_spec)):
            rows[f"size/{factor}"].append(spec.size)
            rows[f"rank/{factor}"].append(spec.rank)
            rows[f"log10_scale/{factor}"].append(spec.log10_scale)
            rows[f"log10_kappa/{factor}"].append(spec.log10_kappa)
        if index % 50 == 49:
            ctx.progress(f"kronecker_spectrum: {index + 1} pairs")
    rows["kappa/rounding_bound"] = [
        n * EPS64 * k for n, k in zip(rows["size/kronecker"], rows["kappa/product"])]
    return rows


# --- factors captured from a network -------------------------------------------------------------


def _network(ctx: ExperimentContext) -> dict[str, list[float]]:
    network = {name: ctx.params[key] for name, key in NETWORK_PARAMS.items()}
    measured = {path: np.asarray(value[0], dtype=np.float64)
                for path, value in network_factor_spectra(ctx, network).items()}
    rows = {path: list(measured[path]) for path in SHARED_PATHS if path in measured}
    lmax_e, lmax_p = measured["lambda_max/explicit"], measured["lambda_max/product"]
    smallest_e = lmax_e / measured["kappa/explicit"]
    smallest_p = lmax_p / measured["kappa/product"]
    rows["spectrum/max_error_over_lambda_max"] = list(
        np.maximum(np.abs(lmax_e - lmax_p), np.abs(smallest_e - smallest_p)) / lmax_e)
    rows["spectrum/eigenvalues_compared"] = [2.0] * len(lmax_e)
    return rows


# --- the experiment -------------------------------------------------------------------------------


@experiment("kronecker_spectrum", outputs=_outputs,
            params=("factor_kappa_max", "kappa_rtol", "log10_scale_max", "log10_scale_min", "max_size", "network_depth", "network_examples", "network_lr", "network_steps", "network_width", "nonzero_rtol", "pairs", "source",))
def kronecker_spectrum(ctx: ExperimentContext) -> dict:
    """Explicit ``eigvalsh(Sx ⊗ Sg)`` against the factors' spectra, per random pair or layer.

    Params: source (``"random_pairs"`` or ``"network"``), kappa_rtol, and those of the source
    (module docstring). Returns every path of :func:`_outputs` as float64 ``(pair,)`` or
    ``(layer,)`` arrays.
    """
    source = ctx.params.get("source", "random_pairs")
    rows = _network(ctx) if source == "network" else _random_pairs(ctx)
    explicit, product = np.asarray(rows["kappa/explicit"]), np.asarray(rows["kappa/product"])
    rows["kappa/rel_err"] = list(np.abs(explicit / product - 1.0))
    rows["kappa/tolerance"] = list(np.maximum(float(ctx.params["kappa_rtol"]), rows["kappa/rounding_bound"]))
    for tag in PARTIAL_KAPPAS:
        ratio = np.asarray(rows[f"{tag}/explicit"]) / np.asarray(rows[f"{tag}/product"])
        rows[f"{tag}/ratio"], rows[f"{tag}/relative_gap"] = list(ratio), list(np.abs(ratio - 1.0))
    dims = _outputs(ctx.params)
    return {path: (np.asarray(rows[path], dtype=np.float64), dims[path]) for path in dims}

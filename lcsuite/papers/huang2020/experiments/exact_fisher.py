"""Exact curvature of small MLPs against the layer-wise (Kronecker) analysis (Sec. 3, App. B).

Experiments:

- ``kfac_approximation`` (Fig. 2): per layer, λmax and κ_p of the exact sub-FIM ``F_k``
  against those of ``Sx ⊗ Sg`` (true Fisher ``Sg``, :func:`lcsuite.analyze`).
- ``layerwise_vs_full`` (Fig. 1, A1–A4): the exact full ``F`` (true Fisher) and ``M``
  (empirical second moment of sample gradients) and their per-layer blocks, Plain vs BN.

How the exact matrices are computed. A curvature matrix over the Linear weights is
``C = AᵀA / N`` with ``A`` the ``(R, P)`` stack of gradient rows (:func:`curvature_rows`):
for the true Fisher one row ``√p_ic · J_iᵀ(p_i − e_c)`` per (example i, class c), ``R = N·C``;
for ``M`` one row ``J_iᵀ(p_i − e_{y_i})`` per example, ``R = N``. ``AᵀA`` and ``AAᵀ`` have the
same nonzero eigenvalues, so :func:`nonzero_curvature_spectrum` diagonalises whichever is
smaller (``min(R, P)`` square). This is exact, not an approximation: full matrices of
``P ≈ 5–8k`` weights are never formed when ``R < P``. ``AᵀA / N`` equals
:func:`lcsuite.conditioning.exact_curvature`'s matrix (checked in the tests).

Networks are :class:`lcsuite.models.MLP` at random init (Torch7 uniform, the paper's [29]) in
train mode (BN uses batch statistics, which are differentiated: the paper's Eqn. 8 and the
proof of Thm 4.2, Eqn. 15), cast to float64; Linear layers have biases only with ``bias = true``
(the paper's Eqn. 3 has none; Torch7's biases are the claims' declared variant). Inputs are
MNIST center-cropped (:data:`lcsuite.data.PAPER_CROP`) and resized to 12×12, pixels in [0, 1].
Each seed draws the network and a random subset of ``num_examples`` examples; Plain and BN
nets of one seed share their Linear weights (BN adds no random parameters).

Sampling. The exact true-Fisher block ``F_k`` of a layer with ``P_k`` weights is the Gram of at
most ``N·(C−1)`` independent rows (the C rows of an example sum to zero after weighting), ``M_k``
of at most ``N``. ``kfac_approximation`` compares only the layers whose sampling ratio
``N·(C−1) / P_k`` reaches ``min_rows_per_weight`` (the claim states it, with its derivation);
the others are left out and counted (``layers_not_valid``).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from lcsuite.conditioning import (
    analyze,
    curvature_rows,
    default_rtol,
    kappa,
    nonzero_spectrum,
)
from lcsuite.harness.experiments import ExperimentContext, experiment
from lcsuite.papers.huang2020.experiments.data import mnist_subset
from lcsuite.models import MLP

__all__ = [
    "nonzero_curvature_spectrum",
    "mnist_subset",
    "paired_mlp",
    "KAPPA_PS",
]

KAPPA_PS = {"p50": 0.5, "p80": 0.8, "p100": 1.0}
NORMS = ("none", "bn")
ROWS_PER_CHUNK = 64
"""Vector-Jacobian products vectorised at once in :func:`curvature_rows`. Each allocates
``N × width`` intermediates per layer; 512 at once spends more in page faults than the
vectorisation saves (the rows of an 8x24 BN net, N = 500, one thread: 13.6 s of CPU at 512,
8.6 s of it in the kernel, against 5.1 s at 64)."""


# --- exact curvature through gradient rows ----------------------------------------------------


def nonzero_curvature_spectrum(rows: torch.Tensor, num_examples: int) -> torch.Tensor:
    """Nonzero eigenvalues of ``rowsᵀ rows / N``, descending, float64.

    Diagonalises the smaller of ``AᵀA`` (``P×P``) and ``AAᵀ`` (``R×R``): they share their
    nonzero eigenvalues. Zero means ``≤ default_rtol(min(R, P)) · λmax`` (float64 rows).
    """
    small = rows @ rows.T if rows.shape[0] <= rows.shape[1] else rows.T @ rows
    eigs = torch.linalg.eigvalsh(small / num_examples).flip(0)
    return nonzero_spectrum(eigs, default_rtol(small.shape[0]))


def _lambda_max(spectrum: torch.Tensor) -> float:
    """λmax of an already-nonzero spectrum; 0 when it is empty (e.g. every ReLU dead)."""
    return float(spectrum[0]) if len(spectrum) else 0.0


def _kappas(spectrum: torch.Tensor) -> dict[str, float]:
    """κ_p of an already-nonzero spectrum for each p of :data:`KAPPA_PS`."""
    return {tag: kappa(spectrum, p, rtol=0.0) if len(spectrum) else math.inf for tag, p in KAPPA_PS.items()}


# --- data and networks --------------------------------------------------------------------------


def paired_mlp(ctx: ExperimentContext, depth: int, width: int, norm: str, in_features: int, classes: int,
               bias: bool = False) -> MLP:
    """A random-init MLP in train mode, float64; same Linear weights (and biases, with
    ``bias``) for both norms of a seed."""
    torch.manual_seed(ctx.seed)
    model = MLP(in_features, classes, depth, width, norm=norm, init="random", bias=bias)
    return model.to(device=ctx.device, dtype=torch.float64).train()


def linear_biases(params) -> bool:
    """The ``bias`` param: whether the Linear layers have (Torch7) biases; required, a boolean."""
    value = params.get("bias")
    if not isinstance(value, bool):
        raise ValueError(f"bias = {value!r}: expected true or false (Linear biases; the paper's Eqn. 3 has none)")
    return value


def _kron_layers(model, inputs, targets):
    """``analyze`` with the true Fisher on float64 data: module path → LayerAnalysis."""
    result = analyze(model, inputs.to(torch.float64), targets, fisher="true")
    return {layer.name: layer for layer in result.layers}


# --- Fig. 2 -------------------------------------------------------------------------------------

KFAC_PATHS = ("exact/rank", "kron/rank", "layer_size", "layer_index", "rows_per_weight")


def _kfac_outputs(params):
    paths = {f"{src}/lambda_max": ("layer",) for src in ("exact", "kron")}
    paths.update({f"{src}/kappa_{tag}": ("layer",) for src in ("exact", "kron") for tag in KAPPA_PS})
    paths.update({path: ("layer",) for path in KFAC_PATHS})
    paths["layers_not_valid"] = ()
    return paths


def sampled_layers(slices: dict[str, slice], effective_rows: int, min_rows_per_weight: float) -> dict[str, int]:
    """Module path → 1-based layer index of the layers with ``effective_rows ≥ c · P_k``
    (``c = min_rows_per_weight``, ``P_k`` the layer's weights), input side first."""
    return {name: index + 1 for index, (name, cols) in enumerate(slices.items())
            if effective_rows >= min_rows_per_weight * (cols.stop - cols.start)}


@experiment("kfac_approximation", outputs=_kfac_outputs,
            params=("bias", "depth", "min_rows_per_weight", "norm", "num_examples", "width",))
def kfac_approximation(ctx: ExperimentContext) -> dict:
    """Exact sub-FIM ``F_k`` vs ``Sx ⊗ Sg`` per layer (Fig. 2): λmax, κ_p, nonzero rank.

    Params: depth, width, norm (``"none"``/``"bn"``), bias, num_examples, min_rows_per_weight
    (``c``). Outputs have dim ``layer``: the layers with ``N·(C−1) ≥ c·P_k`` (input side first;
    ``layer_index`` is their 1-based index in the net, ``rows_per_weight`` their ``N·(C−1)/P_k``);
    ``layers_not_valid`` counts the layers left out. No layer meeting it is a ValueError.
    """
    p = ctx.params
    inputs, targets, classes = mnist_subset(ctx, int(p["num_examples"]))
    model = paired_mlp(ctx, int(p["depth"]), int(p["width"]), p["norm"], inputs[0].numel(), classes,
                       linear_biases(p))
    rows, slices = curvature_rows(model, inputs, targets, "true", ROWS_PER_CHUNK)
    effective_rows = len(targets) * (classes - 1)
    compared = sampled_layers(slices, effective_rows, float(p["min_rows_per_weight"]))
    if not compared:
        raise ValueError(f"num_examples = {len(targets)}: no layer has N·(C−1) = {effective_rows} ≥ "
                         f"min_rows_per_weight = {p['min_rows_per_weight']} times its weights")
    kron = _kron_layers(model, inputs, targets)
    out: dict[str, list] = {path: [] for path in _kfac_outputs(p) if path != "layers_not_valid"}
    for name, index in compared.items():
        ctx.progress(f"kfac_approximation: layer {index} ({name})")
        cols = slices[name]
        exact = nonzero_curvature_spectrum(rows[:, cols], len(targets))
        approx = kron[name].fim_spectrum()
        for src, spectrum in (("exact", exact), ("kron", approx)):
            out[f"{src}/lambda_max"].append(_lambda_max(spectrum))
            out[f"{src}/rank"].append(len(spectrum))
            for tag, value in _kappas(spectrum).items():
                out[f"{src}/kappa_{tag}"].append(value)
        out["layer_size"].append(cols.stop - cols.start)
        out["layer_index"].append(index)
        out["rows_per_weight"].append(effective_rows / (cols.stop - cols.start))
    result = {path: (np.asarray(v, dtype=np.float64), ("layer",)) for path, v in out.items()}
    return {**result, "layers_not_valid": float(len(slices) - len(compared))}


# --- Fig. 1 / A1–A4 -----------------------------------------------------------------------------

CURVATURES = {"F": "true", "M": "empirical"}


def parse_arch(arch: str) -> tuple[int, int]:
    """``"8x24"`` → (depth 8, width 24)."""
    depth, width = arch.lower().split("x")
    return int(depth), int(width)


def _curvatures(params) -> list[str]:
    """The curvature matrices asked for (``curvatures``: a list of ``"F"``/``"M"``; default both)."""
    names = list(params.get("curvatures", list(CURVATURES)))
    unknown = [name for name in names if name not in CURVATURES]
    if unknown or not names:
        raise ValueError(f"curvatures = {names!r}: expected a non-empty list of {', '.join(CURVATURES)}")
    return names


def _full_outputs(params):
    paths = {}
    for mat in _curvatures(params):
        paths[f"{mat}/full/lambda_max"] = ("norm",)
        paths[f"{mat}/layer/lambda_max"] = ("norm", "layer")
        paths[f"{mat}/full/lambda_max_ratio"] = ()
        paths[f"{mat}/layer/lambda_max_ratio"] = ("layer",)
        paths[f"{mat}/layer/lambda_max_ratio_min"] = ()
        for tag in KAPPA_PS:
            paths[f"{mat}/full/kappa_{tag}"] = ("norm",)
            paths[f"{mat}/layer/kappa_{tag}"] = ("norm", "layer")
            paths[f"{mat}/full/kappa_{tag}_ratio"] = ()
            paths[f"{mat}/layer/kappa_{tag}_ratio"] = ("layer",)
            paths[f"{mat}/kappa_{tag}_agreement"] = ("layer",)
    return paths


@np.errstate(divide="ignore", invalid="ignore")  # a dead net's zero spectrum: non-finite ratios, judged as such
def _plain_vs_bn(mat: str, full: list[torch.Tensor], layers: list[list[torch.Tensor]]) -> dict:
    """The outputs of one curvature matrix from its nonzero spectra (index 0 Plain, 1 BN)."""
    full_lmax = np.array([_lambda_max(s) for s in full])
    layer_lmax = np.array([[_lambda_max(s) for s in per_layer] for per_layer in layers])
    layer_ratio = layer_lmax[1] / layer_lmax[0]
    out = {f"{mat}/full/lambda_max": (full_lmax, ("norm",)),
           f"{mat}/layer/lambda_max": (layer_lmax, ("norm", "layer")),
           f"{mat}/full/lambda_max_ratio": full_lmax[1] / full_lmax[0],
           f"{mat}/layer/lambda_max_ratio": (layer_ratio, ("layer",)),
           f"{mat}/layer/lambda_max_ratio_min": float(layer_ratio.min())}
    full_kappas = [_kappas(s) for s in full]
    layer_kappas = [[_kappas(s) for s in per_layer] for per_layer in layers]
    for tag in KAPPA_PS:
        full_k = np.array([k[tag] for k in full_kappas])
        layer_k = np.array([[k[tag] for k in per_layer] for per_layer in layer_kappas])
        out[f"{mat}/full/kappa_{tag}"] = (full_k, ("norm",))
        out[f"{mat}/layer/kappa_{tag}"] = (layer_k, ("norm", "layer"))
        full_ratio, layer_ratio_k = full_k[0] / full_k[1], layer_k[0] / layer_k[1]
        out[f"{mat}/full/kappa_{tag}_ratio"] = full_ratio
        out[f"{mat}/layer/kappa_{tag}_ratio"] = (layer_ratio_k, ("layer",))
        out[f"{mat}/kappa_{tag}_agreement"] = (np.log(full_ratio) * np.log(layer_ratio_k), ("layer",))
    return out


@experiment("layerwise_vs_full", outputs=_full_outputs,
            params=("arch", "bias", "curvatures", "num_examples",))
def layerwise_vs_full(ctx: ExperimentContext) -> dict:
    """Exact full ``F``/``M`` and their per-layer blocks, Plain (``norm=0``) vs BN (``norm=1``).

    Params: arch (``"DxW"``), bias, num_examples, curvatures (optional, default ``["F", "M"]``).
    Ratios: ``lambda_max_ratio`` = BN / Plain (``layer/lambda_max_ratio_min``: the weakest
    layer's); ``kappa_<p>_ratio`` = Plain / BN (> 1: BN better conditioned);
    ``kappa_<p>_agreement`` per layer = log(full κ ratio) · log(layer κ ratio), positive when the
    layer block orders Plain and BN as the full matrix does.
    """
    p = ctx.params
    depth, width = parse_arch(p["arch"])
    inputs, targets, classes = mnist_subset(ctx, int(p["num_examples"]))
    mats = {mat: CURVATURES[mat] for mat in _curvatures(p)}
    spectra = {mat: {"full": [], "layer": []} for mat in mats}
    for norm in NORMS:
        model = paired_mlp(ctx, depth, width, norm, inputs[0].numel(), classes, linear_biases(p))
        for mat, fisher in mats.items():
            ctx.progress(f"layerwise_vs_full: {p['arch']} {norm} {mat}")
            rows, slices = curvature_rows(model, inputs, targets, fisher, ROWS_PER_CHUNK)
            spectra[mat]["full"].append(nonzero_curvature_spectrum(rows, len(targets)))
            spectra[mat]["layer"].append(
                [nonzero_curvature_spectrum(rows[:, cols], len(targets)) for cols in slices.values()])
    out = {}
    for mat, per in spectra.items():
        out.update(_plain_vs_bn(mat, per["full"], per["layer"]))
    return out

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
train mode (BN uses batch statistics, which are differentiated), cast to float64; inputs are
MNIST center-cropped (:data:`lcsuite.data.PAPER_CROP`) and resized to 12×12, pixels in [0, 1].
Each seed draws the network and a random subset of ``num_examples`` examples; Plain and BN
nets of one seed share their Linear weights (BN adds no random parameters).
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


# --- exact curvature through gradient rows ----------------------------------------------------


def nonzero_curvature_spectrum(rows: torch.Tensor, num_examples: int) -> torch.Tensor:
    """Nonzero eigenvalues of ``rowsᵀ rows / N``, descending, float64.

    Diagonalises the smaller of ``AᵀA`` (``P×P``) and ``AAᵀ`` (``R×R``): they share their
    nonzero eigenvalues. Zero means ``≤ default_rtol(min(R, P)) · λmax`` (float64 rows).
    """
    small = rows @ rows.T if rows.shape[0] <= rows.shape[1] else rows.T @ rows
    eigs = torch.linalg.eigvalsh(small / num_examples).flip(0)
    return nonzero_spectrum(eigs, default_rtol(small.shape[0]))


def _kappas(spectrum: torch.Tensor) -> dict[str, float]:
    """κ_p of an already-nonzero spectrum for each p of :data:`KAPPA_PS`."""
    return {tag: kappa(spectrum, p, rtol=0.0) if len(spectrum) else math.inf for tag, p in KAPPA_PS.items()}


# --- data and networks --------------------------------------------------------------------------


def paired_mlp(ctx: ExperimentContext, depth: int, width: int, norm: str, in_features: int, classes: int) -> MLP:
    """A random-init MLP in train mode, float64; same Linear weights for both norms of a seed."""
    torch.manual_seed(ctx.seed)
    model = MLP(in_features, classes, depth, width, norm=norm, init="random")
    return model.to(device=ctx.device, dtype=torch.float64).train()


def _kron_layers(model, inputs, targets):
    """``analyze`` with the true Fisher on float64 data: module path → LayerAnalysis."""
    result = analyze(model, inputs.to(torch.float64), targets, fisher="true")
    return {layer.name: layer for layer in result.layers}


# --- Fig. 2 -------------------------------------------------------------------------------------


def _kfac_outputs(params):
    paths = {f"{src}/lambda_max": ("layer",) for src in ("exact", "kron")}
    paths.update({f"{src}/kappa_{tag}": ("layer",) for src in ("exact", "kron") for tag in KAPPA_PS})
    paths.update({"exact/rank": ("layer",), "kron/rank": ("layer",), "layer_size": ("layer",)})
    return paths


@experiment("kfac_approximation", outputs=_kfac_outputs,
            params=("depth", "norm", "num_examples", "width",))
def kfac_approximation(ctx: ExperimentContext) -> dict:
    """Exact sub-FIM ``F_k`` vs ``Sx ⊗ Sg`` per layer (Fig. 2): λmax, κ_p, nonzero rank.

    Params: depth, width, norm (``"none"``/``"bn"``), num_examples. Outputs have dim
    ``layer`` (K Linear layers, input side first).
    """
    p = ctx.params
    inputs, targets, classes = mnist_subset(ctx, int(p["num_examples"]))
    model = paired_mlp(ctx, int(p["depth"]), int(p["width"]), p["norm"], inputs[0].numel(), classes)
    rows, slices = curvature_rows(model, inputs, targets, "true")
    kron = _kron_layers(model, inputs, targets)
    out: dict[str, list] = {path: [] for path in _kfac_outputs(p)}
    for name, cols in slices.items():
        ctx.progress(f"kfac_approximation: layer {name}")
        exact = nonzero_curvature_spectrum(rows[:, cols], len(targets))
        approx = kron[name].fim_spectrum()
        out["exact/lambda_max"].append(float(exact[0]))
        out["kron/lambda_max"].append(kron[name].lambda_max)
        for tag, value in _kappas(exact).items():
            out[f"exact/kappa_{tag}"].append(value)
        for tag, value in _kappas(approx).items():
            out[f"kron/kappa_{tag}"].append(value)
        out["exact/rank"].append(len(exact))
        out["kron/rank"].append(len(approx))
        out["layer_size"].append(cols.stop - cols.start)
    return {path: (np.asarray(v, dtype=np.float64), ("layer",)) for path, v in out.items()}


# --- Fig. 1 / A1–A4 -----------------------------------------------------------------------------

CURVATURES = {"F": "true", "M": "empirical"}


def parse_arch(arch: str) -> tuple[int, int]:
    """``"8x24"`` → (depth 8, width 24)."""
    depth, width = arch.lower().split("x")
    return int(depth), int(width)


def _full_outputs(params):
    paths = {}
    for mat in CURVATURES:
        paths[f"{mat}/full/lambda_max"] = ("norm",)
        paths[f"{mat}/layer/lambda_max"] = ("norm", "layer")
        paths[f"{mat}/full/lambda_max_ratio"] = ()
        paths[f"{mat}/layer/lambda_max_ratio"] = ("layer",)
        for tag in KAPPA_PS:
            paths[f"{mat}/full/kappa_{tag}"] = ("norm",)
            paths[f"{mat}/layer/kappa_{tag}"] = ("norm", "layer")
            paths[f"{mat}/full/kappa_{tag}_ratio"] = ()
            paths[f"{mat}/layer/kappa_{tag}_ratio"] = ("layer",)
            paths[f"{mat}/kappa_{tag}_agreement"] = ("layer",)
    return paths


@experiment("layerwise_vs_full", outputs=_full_outputs,
            params=("arch", "num_examples",))
def layerwise_vs_full(ctx: ExperimentContext) -> dict:
    """Exact full ``F``/``M`` and their per-layer blocks, Plain (``norm=0``) vs BN (``norm=1``).

    Params: arch (``"DxW"``), num_examples. Ratios: ``lambda_max_ratio`` = BN / Plain;
    ``kappa_<p>_ratio`` = Plain / BN (> 1: BN better conditioned); ``kappa_<p>_agreement`` per
    layer = log(full κ ratio) · log(layer κ ratio), positive when the layer block orders
    Plain and BN as the full matrix does.
    """
    p = ctx.params
    depth, width = parse_arch(p["arch"])
    inputs, targets, classes = mnist_subset(ctx, int(p["num_examples"]))
    spectra = {mat: {"full": [], "layer": []} for mat in CURVATURES}
    for norm in NORMS:
        model = paired_mlp(ctx, depth, width, norm, inputs[0].numel(), classes)
        for mat, fisher in CURVATURES.items():
            ctx.progress(f"layerwise_vs_full: {p['arch']} {norm} {mat}")
            rows, slices = curvature_rows(model, inputs, targets, fisher)
            spectra[mat]["full"].append(nonzero_curvature_spectrum(rows, len(targets)))
            spectra[mat]["layer"].append(
                [nonzero_curvature_spectrum(rows[:, cols], len(targets)) for cols in slices.values()])
    out = {}
    for mat, per in spectra.items():
        full_lmax = np.array([float(s[0]) for s in per["full"]])
        layer_lmax = np.array([[float(s[0]) for s in layers] for layers in per["layer"]])
        out[f"{mat}/full/lambda_max"] = (full_lmax, ("norm",))
        out[f"{mat}/layer/lambda_max"] = (layer_lmax, ("norm", "layer"))
        out[f"{mat}/full/lambda_max_ratio"] = full_lmax[1] / full_lmax[0]
        out[f"{mat}/layer/lambda_max_ratio"] = (layer_lmax[1] / layer_lmax[0], ("layer",))
        full_kappas = [_kappas(s) for s in per["full"]]
        layer_kappas = [[_kappas(s) for s in layers] for layers in per["layer"]]
        for tag in KAPPA_PS:
            full_k = np.array([k[tag] for k in full_kappas])
            layer_k = np.array([[k[tag] for k in layers] for layers in layer_kappas])
            out[f"{mat}/full/kappa_{tag}"] = (full_k, ("norm",))
            out[f"{mat}/layer/kappa_{tag}"] = (layer_k, ("norm", "layer"))
            full_ratio, layer_ratio = full_k[0] / full_k[1], layer_k[0] / layer_k[1]
            out[f"{mat}/full/kappa_{tag}_ratio"] = full_ratio
            out[f"{mat}/layer/kappa_{tag}_ratio"] = (layer_ratio, ("layer",))
            out[f"{mat}/kappa_{tag}_agreement"] = (np.log(full_ratio) * np.log(layer_ratio), ("layer",))
    return out

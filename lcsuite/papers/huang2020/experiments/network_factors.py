"""Prop. 1 on the factors ``Sx``, ``Sg`` captured from an MLP after a few full-batch gradient
steps on MNIST: the explicit ``Sx ⊗ Sg`` against the products of the factors' λmax and κ."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import torch
from torch import nn

from lcsuite.conditioning import LayerCapture, default_rtol, kappa, supported_layers
from lcsuite.harness.experiments import ExperimentContext
from lcsuite.models import MLP
from lcsuite.papers.huang2020.experiments.data import mnist_subset

__all__ = ["factor_outputs", "network_factor_spectra"]


def factor_outputs(params) -> dict[str, tuple[str, ...]]:
    return {path: ("layer",) for path in (
        "lambda_max/explicit", "lambda_max/product", "kappa/explicit", "kappa/product",
        "kappa/rounding_bound", "kappa_p50/explicit", "kappa_p50/product", "kappa_p50/ratio",
        "kappa_p80/explicit", "kappa_p80/product", "kappa_p80/ratio", "size/kronecker")}


def network_factor_spectra(ctx: ExperimentContext, p: Mapping[str, Any]) -> dict:
    """Prop. 1 on ``Sx``, ``Sg`` captured from an MLP after a few full-batch GD steps on MNIST.

    ``p``: depth, width, num_examples, steps, lr. Per Linear layer (dim ``layer``): λmax and
    κ (p = 100%, nonzero spectrum) of the explicit ``Sx ⊗ Sg`` (``eigvalsh`` of the
    ``d_in·d_out`` square matrix, float64) and the products of the factors' values;
    ``kappa/rounding_bound`` = ``n·ε64·κ`` (what ``eigvalsh``'s backward error allows on κ);
    ``kappa_p<q>/ratio`` = κ_q(Sx ⊗ Sg) / (κ_q(Sx) κ_q(Sg)), which is not 1 in general.
    Zero eigenvalues: each factor's with ``default_rtol`` of its size; the explicit matrix's
    below ``default_rtol(n) · λmax``.
    """
    inputs, targets, classes = mnist_subset(ctx, int(p["num_examples"]))
    torch.manual_seed(ctx.seed)
    model = MLP(inputs[0].numel(), classes, int(p["depth"]), int(p["width"]), init="random")
    model = model.to(device=ctx.device, dtype=torch.float64)
    x, y = inputs.to(torch.float64), targets
    optimizer = torch.optim.SGD(model.parameters(), lr=float(p["lr"]))
    for _ in range(int(p["steps"])):  # full-batch gradient descent
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
    with LayerCapture(model) as capture:
        loss = nn.functional.cross_entropy(model(x), y, reduction="sum")
        torch.autograd.grad(loss, [m.weight for _, m in supported_layers(model)])
    out: dict[str, list] = {path: [] for path in factor_outputs(p)}
    for name, record in capture.records.items():
        sx, sg = record.input_covariance(), record.grad_covariance()
        sx_eigs, sg_eigs = torch.linalg.eigvalsh(sx).flip(0), torch.linalg.eigvalsh(sg).flip(0)
        explicit = torch.linalg.eigvalsh(torch.kron(sx, sg)).flip(0)
        n = explicit.numel()
        out["lambda_max/explicit"].append(float(explicit[0]))
        out["lambda_max/product"].append(float(sx_eigs[0] * sg_eigs[0]))
        for tag, q in (("kappa", 1.0), ("kappa_p50", 0.5), ("kappa_p80", 0.8)):
            whole = kappa(explicit, q, rtol=default_rtol(n))
            product = kappa(sx_eigs, q) * kappa(sg_eigs, q)
            out[f"{tag}/explicit"].append(whole)
            out[f"{tag}/product"].append(product)
            if tag != "kappa":
                out[f"{tag}/ratio"].append(whole / product)
        out["kappa/rounding_bound"].append(n * torch.finfo(torch.float64).eps * out["kappa/product"][-1])
        out["size/kronecker"].append(n)
    return {path: (np.asarray(v, dtype=np.float64), ("layer",)) for path, v in out.items()}

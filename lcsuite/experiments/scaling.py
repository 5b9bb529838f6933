"""Theorem 4.1: how a bias-free ReLU network's signals scale when its weights are scaled.

Layer k (1..K) computes ``h_k = W_k x_k`` with ``x_1`` the input and ``x_{k+1} = relu(h_k)``.
Scaling ``W_k -> alpha_k W_k`` scales (ReLU is positively homogeneous):

- the layer input ``x_k`` by ``prod_{i<k} alpha_i``,
- the output-gradient ``g_k = dL/dh_k`` by ``mu · prod_{i>k} alpha_i``,
- the weight-gradient ``dL/dW_k = g_k x_kᵀ`` by ``mu · prod_{i≠k} alpha_i``,

where ``mu`` is the scaling of ``dL/dh_K``. The loss here is linear in the output,
``L = Σ c ⊙ h_K`` with a fixed ``c``, so ``mu = 1``. (The paper indexes x_k as the layer
output, which shifts the products by one layer; the statement is the same.)

Each trial draws a depth in ``1..max_depth``, input/hidden/output widths in
``min_width..max_width`` (one bias-free :class:`lcsuite.models.MLP`) and
``alpha_k`` log-uniform in ``[alpha_min, alpha_max]``, runs the network in float64 with and
without the scaling, and reports the largest norm-wise relative error over layers between the
scaled quantity and the prediction.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from lcsuite.experiments import ExperimentContext, experiment
from lcsuite.models import MLP

PER_TRIAL = ("trial",)
OUTPUTS = {
    "input/rel_err": PER_TRIAL,
    "output_grad/rel_err": PER_TRIAL,
    "weight_grad/rel_err": PER_TRIAL,
    "depth": PER_TRIAL,
    "weight_grad/log10_factor_range": PER_TRIAL,
}


def _signals(model: MLP, inputs: torch.Tensor, output_weights: torch.Tensor):
    """Per linear layer: input x_k, output-gradient g_k and weight-gradient, for L = Σ c ⊙ h_K."""
    linears = model.linears
    layer_inputs, outputs = [], []

    def record(module, args, out):
        layer_inputs.append(args[0].detach())
        outputs.append(out)

    handles = [m.register_forward_hook(record) for m in linears]
    model.zero_grad()
    try:
        final = model(inputs)
    finally:
        for handle in handles:
            handle.remove()
    for out in outputs:
        out.retain_grad()
    (final * output_weights).sum().backward()
    output_grads = [out.grad.detach().clone() for out in outputs]
    weight_grads = [m.weight.grad.detach().clone() for m in linears]
    return layer_inputs, output_grads, weight_grads


def _rel_err(measured: torch.Tensor, predicted: torch.Tensor) -> float:
    denominator = torch.linalg.norm(predicted)
    if denominator == 0:
        return 0.0 if torch.linalg.norm(measured) == 0 else math.inf
    return float(torch.linalg.norm(measured - predicted) / denominator)


@experiment("rectifier_scaling", outputs=OUTPUTS)
def rectifier_scaling(ctx: ExperimentContext) -> dict:
    """Scaled vs predicted signals of random bias-free ReLU MLPs, one row per trial."""
    params, rng = ctx.params, ctx.rng()
    torch.manual_seed(ctx.seed)
    rows: dict[str, list[float]] = {path: [] for path in OUTPUTS}
    for _ in range(int(params["trials"])):
        depth = int(rng.integers(1, params["max_depth"] + 1))
        in_features, width, out_features = (int(w) for w in rng.integers(params["min_width"], params["max_width"] + 1, 3))
        alphas = np.exp(rng.uniform(math.log(params["alpha_min"]), math.log(params["alpha_max"]), depth))
        model = MLP(in_features, out_features, depth, width, norm="none", init="random", bias=False)
        model = model.to(device=ctx.device, dtype=torch.float64)
        inputs = torch.randn(int(params["batch"]), in_features, dtype=torch.float64, device=ctx.device)
        output_weights = torch.randn(int(params["batch"]), out_features, dtype=torch.float64, device=ctx.device)
        xs, gs, dws = _signals(model, inputs, output_weights)
        linears = model.linears
        with torch.no_grad():
            for layer, alpha in zip(linears, alphas):
                layer.weight.mul_(float(alpha))
        xs_s, gs_s, dws_s = _signals(model, inputs, output_weights)
        errors = {"input": 0.0, "output_grad": 0.0, "weight_grad": 0.0}
        factors = []
        for k in range(depth):
            before, after = float(np.prod(alphas[:k])), float(np.prod(alphas[k + 1:]))
            errors["input"] = max(errors["input"], _rel_err(xs_s[k], before * xs[k]))
            errors["output_grad"] = max(errors["output_grad"], _rel_err(gs_s[k], after * gs[k]))
            errors["weight_grad"] = max(errors["weight_grad"], _rel_err(dws_s[k], before * after * dws[k]))
            factors.append(math.log10(before * after))
        for name, error in errors.items():
            rows[f"{name}/rel_err"].append(error)
        rows["depth"].append(depth)
        rows["weight_grad/log10_factor_range"].append(max(factors) - min(factors))
    return {path: np.asarray(values, dtype=np.float64) for path, values in rows.items()}

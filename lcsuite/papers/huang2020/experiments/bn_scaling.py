"""Theorem 4.2: batch normalisation makes each layer's signals invariant to its weight scale.

A bias-free ReLU MLP with BatchNorm (train mode, batch statistics) after every Linear layer,
``h_k = W_k x_k``, ``x_{k+1} = relu(BN(h_k))`` (the last layer: ``BN(h_K)`` is the output).
With ``eps = 0``, scaling ``W_k -> alpha_k W_k`` leaves every layer input ``x_k`` and the loss
unchanged, and scales the output-gradient ``g_k = dL/dh_k`` and the weight-gradient
``dL/dW_k`` by ``1/alpha_k`` — for any loss, since the output is unchanged.

With BatchNorm's default ``eps`` (1e-5) the invariance is approximate: BN divides by
``sqrt(var(h) + eps)``, so the deviation is of order ``eps / var(h)`` and shrinks as the
pre-normalisation activations grow. ``weight_scales`` multiplies every base weight by a common
``s`` before the comparison (pre-BN activations grow by ``s``, their variance by ``s²``).

Each trial draws a depth in ``1..max_depth``, widths in ``min_width..max_width``, ``alpha_k``
log-uniform in ``[alpha_min, alpha_max]``, random BN affine parameters and a loss (linear in
the output with fixed random coefficients, or cross-entropy with random labels), all in float64.
Errors are norm-wise relative errors, the largest over layers.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from lcsuite.harness.experiments import ExperimentContext, experiment
from lcsuite.papers.huang2020.experiments.signals import rel_err, scale_weights, signals
from lcsuite.models import weight_layers

QUANTITIES = ("input/rel_err", "output_grad/rel_err", "weight_grad/rel_err")


def _outputs(params):
    out = {f"eps0/{q}": ("trial",) for q in QUANTITIES}
    out.update({f"eps_default/{q}": ("trial", "weight_scale") for q in QUANTITIES})
    out["eps_default/max_rel_err"] = ("trial", "weight_scale")
    out["depth"] = ("trial",)
    return out


DEFAULT_EPS = 1e-5  # torch.nn.BatchNorm1d's default


class TrainModeBatchNorm(nn.Module):
    """BatchNorm1d in train mode written out (torch's refuses ``eps = 0``):
    ``weight · (h − mean) / sqrt(var + eps) + bias``, batch mean and biased variance per unit;
    ``(N, d) -> (N, d)``."""

    def __init__(self, num_features: int, eps: float):
        super().__init__()
        self.eps = float(eps)
        self.weight = nn.Parameter(torch.ones(num_features, dtype=torch.float64))
        self.bias = nn.Parameter(torch.zeros(num_features, dtype=torch.float64))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        centred = h - h.mean(dim=0, keepdim=True)
        variance = centred.square().mean(dim=0, keepdim=True)
        return self.weight * centred / torch.sqrt(variance + self.eps) + self.bias


def bn_relu_mlp(widths: list[int], eps: float, generator: torch.Generator) -> nn.Sequential:
    """``Linear(bias=False) -> TrainModeBatchNorm(eps)`` per layer with ReLU between layers, float64,
    BN affine weight ~ U(0.5, 1.5) and bias ~ N(0, 0.1²) so the affine part is not trivial."""
    layers: list[nn.Module] = []
    for k, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:])):
        linear = nn.Linear(fan_in, fan_out, bias=False, dtype=torch.float64)
        with torch.no_grad():
            linear.weight.copy_(torch.randn(fan_out, fan_in, generator=generator, dtype=torch.float64) / math.sqrt(fan_in))
        norm = TrainModeBatchNorm(fan_out, eps)
        with torch.no_grad():
            norm.weight.copy_(0.5 + torch.rand(fan_out, generator=generator, dtype=torch.float64))
            norm.bias.copy_(0.1 * torch.randn(fan_out, generator=generator, dtype=torch.float64))
        layers += [linear, norm]
        if k < len(widths) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def scaling_errors(model: nn.Sequential, inputs, loss_fn, alphas, weight_scale: float = 1.0) -> dict:
    """Largest relative error over layers of x_k, g_k, dL/dW_k after ``W_k -> alpha_k W_k``
    against Thm 4.2's prediction (unchanged, ``/alpha_k``, ``/alpha_k``); the base weights are
    first multiplied by ``weight_scale``. The model's weights are restored afterwards."""
    linears = weight_layers(model)
    saved = [m.weight.detach().clone() for m in linears]

    def backward(output):
        loss_fn(output).backward()

    try:
        scale_weights(model, [weight_scale] * len(linears))
        base = signals(model, inputs, backward)
        scale_weights(model, alphas)
        scaled = signals(model, inputs, backward)
    finally:
        with torch.no_grad():
            for m, w in zip(linears, saved):
                m.weight.copy_(w)
    errors = {"input": 0.0, "output_grad": 0.0, "weight_grad": 0.0}
    for k, alpha in enumerate(alphas):
        errors["input"] = max(errors["input"], rel_err(scaled.inputs[k], base.inputs[k]))
        errors["output_grad"] = max(errors["output_grad"], rel_err(scaled.output_grads[k], base.output_grads[k] / alpha))
        errors["weight_grad"] = max(errors["weight_grad"], rel_err(scaled.weight_grads[k], base.weight_grads[k] / alpha))
    return errors


def _random_loss(rng, generator, batch: int, classes: int):
    if rng.random() < 0.5:
        coefficients = torch.randn(batch, classes, generator=generator, dtype=torch.float64)
        return lambda out: (out * coefficients).sum()
    labels = torch.randint(0, classes, (batch,), generator=generator)
    return lambda out: F.cross_entropy(out, labels)


@experiment("bn_scale_invariance", outputs=_outputs,
            params=("alpha_max", "alpha_min", "batch", "max_depth", "max_width", "min_width", "trials", "weight_scales",))
def bn_scale_invariance(ctx: ExperimentContext) -> dict:
    """Scaled vs predicted signals of random BN MLPs, eps = 0 and the default eps per trial
    (the latter at every ``weight_scales`` entry)."""
    params, rng = ctx.params, ctx.rng()
    generator = torch.Generator().manual_seed(ctx.seed)
    scales = [float(s) for s in params["weight_scales"]]
    rows = {path: [] for path in _outputs(params)}
    for _ in range(int(params["trials"])):
        depth = int(rng.integers(1, params["max_depth"] + 1))
        widths = [int(w) for w in rng.integers(params["min_width"], params["max_width"] + 1, depth + 1)]
        alphas = np.exp(rng.uniform(math.log(params["alpha_min"]), math.log(params["alpha_max"]), depth))
        batch = int(params["batch"])
        inputs = torch.randn(batch, widths[0], generator=generator, dtype=torch.float64)
        loss_fn = _random_loss(rng, generator, batch, widths[-1])
        state = generator.get_state()
        exact = scaling_errors(bn_relu_mlp(widths, 0.0, generator), inputs, loss_fn, alphas)
        generator.set_state(state)  # the same weights with the default eps
        model = bn_relu_mlp(widths, DEFAULT_EPS, generator)
        per_scale = [scaling_errors(model, inputs, loss_fn, alphas, s) for s in scales]
        for name in ("input", "output_grad", "weight_grad"):
            rows[f"eps0/{name}/rel_err"].append(exact[name])
            rows[f"eps_default/{name}/rel_err"].append([e[name] for e in per_scale])
        rows["eps_default/max_rel_err"].append([max(e.values()) for e in per_scale])
        rows["depth"].append(depth)
    return {path: np.asarray(values, dtype=np.float64) for path, values in rows.items()}

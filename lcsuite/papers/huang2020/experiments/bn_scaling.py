"""Theorem 4.2: batch normalisation makes each layer's signals invariant to its weight scale.

A bias-free ReLU MLP with BatchNorm (train mode, batch statistics) after every Linear layer,
``h_k = W_k x_k``, ``x_{k+1} = relu(BN(h_k))`` (the last layer: ``BN(h_K)`` is the output).
With ``eps = 0``, scaling ``W_k -> alpha_k W_k`` leaves every layer input ``x_k`` and the loss
unchanged, and scales the output-gradient ``g_k = dL/dh_k`` and the weight-gradient
``dL/dW_k`` by ``1/alpha_k`` — for any loss, since the output is unchanged.

With BatchNorm's default ``eps`` (1e-5) the invariance is approximate. Scaling ``W_k`` by
``alpha_k`` scales ``h_k``, its batch mean and standard deviation by ``alpha_k``, so
``BN_eps(alpha·h) = BN_{eps/alpha²}(h)`` exactly: the scaled network is the unscaled one with
layer k's eps replaced by ``eps/alpha_k²``. To first order in ``rho_k = eps / v_k`` (``v_k`` a
unit's pre-BN batch variance) the deviation is a sum of terms ``∝ rho_k·|alpha_k⁻² − 1|``, so it
falls as ``s⁻²`` when every base weight is multiplied by a common ``s`` (``weight_scales``: the
pre-BN activations grow by ``s``, ``v_k`` by ``s²``). The expansions of the per-unit gain
``sqrt((1 + rho)/(1 + rho/alpha²))`` and of BN's backward projection coefficient
``1/(1 + rho/alpha²) − 1/(1 + rho)`` have second- to first-order ratios of at most
``rho·(1 + alpha⁻²)`` (``|1/4 + 3/(4 alpha²)|·rho`` and ``(1 + alpha⁻²)·rho``). A first-order
relative change ``δ`` of a layer's input or incoming gradient changes the next BN's batch
variance by a fraction ``x ≤ 2·δ·G``, ``G = max sqrt(E h² / var h)`` over the units (BN divides
by the standard deviation; ReLU outputs have a large mean), and ``1/sqrt(1 + x)`` has the ratio
``(3/4)·x ≤ (3/2)·δ·G``. With ``δ ≤ err(s)`` the ratio ``err(s')/err(s)`` of consecutive scales
is ``(s/s')²·(1 ± (3/2)·eta)`` to leading order, where::

    eta = max_k rho_k·(1 + alpha_k⁻²) + G·err(s) + 2·err0/err(s')

(the last term: rounding of the two errors, ``err0`` the same trial's error at eps = 0, which
is pure rounding). ``rho_k`` uses the smallest per-unit variance of layer k at scale ``s``. The
expansion also needs every ReLU input on the same side of 0 in the four networks compared (base
and scaled, at ``s`` and at ``s'``): the ReLU's derivative is a step, so a sign change moves the
gradients by a finite amount, not by ``O(rho)``. Scale pairs with such a flip get
``eta = inf`` (outside the regime).

Each trial draws a depth in ``1..max_depth``, widths in ``min_width..max_width``, ``alpha_k``
log-uniform in ``[alpha_min, alpha_max]``, random BN affine parameters and a loss (linear in
the output with fixed random coefficients, or cross-entropy with random labels), all in float64.
Errors are norm-wise relative errors, the largest over layers.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Iterator

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from lcsuite.harness.experiments import ExperimentContext, experiment
from lcsuite.papers.huang2020.experiments.signals import rel_err, scale_weights, signals
from lcsuite.models import weight_layers

SIGNALS = ("input", "output_grad", "weight_grad")
QUANTITIES = tuple(f"{name}/rel_err" for name in SIGNALS)
SCALE_LAW = ("scale_law/points", "scale_law/max_deviation", "outside_first_order/points",
             "outside_first_order/max_rel_err")


def _outputs(params):
    out = {f"eps0/{q}": ("trial",) for q in QUANTITIES}
    out.update({f"eps_default/{q}": ("trial", "weight_scale") for q in QUANTITIES})
    out["eps_default/max_rel_err"] = ("trial", "weight_scale")
    out["eps_default/relative_eps"] = ("trial", "weight_scale")
    out["eps_default/relu_flips"] = ("trial", "scale_step")
    out["eps_default/centring_gain"] = ("trial", "weight_scale")
    out["eps_default/scale_ratio"] = ("trial", "scale_step")
    out["eps_default/first_order_size"] = ("trial", "scale_step")
    out.update({f"eps_default/{q}": () for q in SCALE_LAW})
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


@contextmanager
def restored_weights(model: nn.Module) -> Iterator[None]:
    """Put the weights of ``model``'s weight layers back on exit (also on error)."""
    linears = weight_layers(model)
    saved = [m.weight.detach().clone() for m in linears]
    try:
        yield
    finally:
        with torch.no_grad():
            for m, w in zip(linears, saved):
                m.weight.copy_(w)


def activation_pattern(layer_inputs: list[torch.Tensor]) -> torch.Tensor:
    """Which ReLU outputs are positive: the entries of x_2..x_K, flattened (bool)."""
    return torch.cat([x.reshape(-1) > 0 for x in layer_inputs[1:]]) if len(layer_inputs) > 1 else torch.zeros(0, dtype=torch.bool)


def scaling_errors(model: nn.Sequential, inputs, loss_fn, alphas, weight_scale: float = 1.0) -> tuple[dict, tuple]:
    """``(errors, patterns)``: the largest relative error over layers of x_k, g_k, dL/dW_k after
    ``W_k -> alpha_k W_k`` against Thm 4.2's prediction (unchanged, ``/alpha_k``, ``/alpha_k``),
    and the activation patterns (:func:`activation_pattern`) of the base and the scaled
    network. The base weights are first multiplied by ``weight_scale``; the model's weights are
    restored afterwards."""
    def backward(output):
        loss_fn(output).backward()

    with restored_weights(model):
        scale_weights(model, [weight_scale] * len(weight_layers(model)))
        base = signals(model, inputs, backward)
        scale_weights(model, alphas)
        scaled = signals(model, inputs, backward)
    errors = {"input": 0.0, "output_grad": 0.0, "weight_grad": 0.0}
    for k, alpha in enumerate(alphas):
        errors["input"] = max(errors["input"], rel_err(scaled.inputs[k], base.inputs[k]))
        errors["output_grad"] = max(errors["output_grad"], rel_err(scaled.output_grads[k], base.output_grads[k] / alpha))
        errors["weight_grad"] = max(errors["weight_grad"], rel_err(scaled.weight_grads[k], base.weight_grads[k] / alpha))
    return errors, (activation_pattern(base.inputs), activation_pattern(scaled.inputs))


def expansion_sizes(model: nn.Sequential, inputs, alphas, weight_scale: float = 1.0) -> tuple[float, float]:
    """``(relative eps, centring gain)`` of the base network times ``weight_scale``, from the
    pre-BN outputs ``h_k = W_k x_k`` (per unit over the batch: variance ``v``, mean square ``m``):

    - ``max_k rho_k·(1 + alpha_k⁻²)``, ``rho_k = eps_k / min_unit v`` (0 when every eps is 0);
    - ``max_k max_unit sqrt(m / v)``: BN divides by the standard deviation, so a relative change
      ``δ`` of ``h`` moves its normalised value by up to ``δ·sqrt(m/v)``.

    The model is left as it was."""
    linears, norms = weight_layers(model), [m for m in model.modules() if isinstance(m, TrainModeBatchNorm)]
    moments: list[tuple[torch.Tensor, torch.Tensor]] = []

    def keep(module, args, out):
        moments.append((out.var(0, unbiased=False), out.square().mean(0)))

    handles = [m.register_forward_hook(keep) for m in linears]
    try:
        with restored_weights(model), torch.no_grad():
            scale_weights(model, [weight_scale] * len(linears))
            model(inputs)
    finally:
        for handle in handles:
            handle.remove()
    rel_eps = max(_ratio(norm.eps, float(v.min())) * (1.0 + 1.0 / alpha ** 2)
                  for norm, (v, _), alpha in zip(norms, moments, alphas))
    gain = max(_centring_gain(v, m) for v, m in moments)
    return rel_eps, gain


def _centring_gain(variance: torch.Tensor, mean_square: torch.Tensor) -> float:
    """``max_unit sqrt(m / v)`` (``inf`` for a unit with ``v = 0 < m``; such a unit has no scale)."""
    degenerate = variance <= 0
    if bool((degenerate & (mean_square > 0)).any()):
        return math.inf
    ratio = mean_square[~degenerate] / variance[~degenerate]
    return math.sqrt(float(ratio.max())) if ratio.numel() else 0.0


def _ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator`` for non-negative numbers, ``inf`` over 0 (0/0 is 0)."""
    if denominator > 0:
        return numerator / denominator
    return math.inf if numerator > 0 else 0.0


def relu_flips(patterns) -> np.ndarray:
    """Per consecutive pair of scales, how many ReLU outputs change sign among the four networks
    (base and scaled at both scales); ``patterns``: per scale, ``(base, scaled)`` patterns."""
    flips = []
    for (base, scaled), (base_next, scaled_next) in zip(patterns[:-1], patterns[1:]):
        flips.append(sum(int((base != other).sum()) for other in (scaled, base_next, scaled_next)))
    return np.asarray(flips, dtype=float)


def scale_law(errors, eps0_error: float, rel_eps, gains, flips, scales) -> tuple[np.ndarray, np.ndarray]:
    """``(ratio, eta)`` per consecutive pair of ``scales``: ``err(s')/err(s)`` and the size of the
    neglected terms (module docstring); ``inf`` where a ReLU changes sign between the networks
    compared (``flips`` per pair: the expansion needs every ReLU on the same side). ``errors``,
    ``rel_eps`` and ``gains`` are per scale, shape ``(S,)``."""
    errors = np.asarray(errors, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = errors[1:] / errors[:-1]
        eta = (np.asarray(rel_eps)[:-1] + np.asarray(gains)[:-1] * errors[:-1]
               + 2.0 * eps0_error / errors[1:])
    smooth = (np.asarray(flips) == 0) & np.isfinite(eta)
    return ratio, np.where(smooth, eta, np.inf)


def scale_law_summary(ratios: np.ndarray, etas: np.ndarray, max_errors: np.ndarray, scales, limit: float) -> dict:
    """The s⁻² law over trials: points (trial, scale pair) with ``eta <= limit``, the largest
    ``|ratio/(s/s')² − 1|`` among them (0 without any), and the points outside with their
    largest deviation ``max_errors`` (trial, scale) at the smaller scale of the pair."""
    scales = np.asarray(scales, dtype=float)
    predicted = (scales[:-1] / scales[1:]) ** 2
    inside = etas <= limit
    deviation = np.abs(ratios / predicted - 1.0)
    outside_errors = max_errors[:, :-1][~inside]
    return {"scale_law/points": float(inside.sum()),
            "scale_law/max_deviation": float(deviation[inside].max()) if inside.any() else 0.0,
            "outside_first_order/points": float((~inside).sum()),
            "outside_first_order/max_rel_err": float(outside_errors.max()) if outside_errors.size else 0.0}


def _random_loss(rng, generator, batch: int, classes: int):
    if rng.random() < 0.5:
        coefficients = torch.randn(batch, classes, generator=generator, dtype=torch.float64)
        return lambda out: (out * coefficients).sum()
    labels = torch.randint(0, classes, (batch,), generator=generator)
    return lambda out: F.cross_entropy(out, labels)


def _trial(params, rng, generator, scales) -> dict:
    """One random network: its errors at eps = 0 and, at every scale, with the default eps."""
    depth = int(rng.integers(1, params["max_depth"] + 1))
    widths = [int(w) for w in rng.integers(params["min_width"], params["max_width"] + 1, depth + 1)]
    alphas = np.exp(rng.uniform(math.log(params["alpha_min"]), math.log(params["alpha_max"]), depth))
    batch = int(params["batch"])
    inputs = torch.randn(batch, widths[0], generator=generator, dtype=torch.float64)
    loss_fn = _random_loss(rng, generator, batch, widths[-1])
    state = generator.get_state()
    exact, _ = scaling_errors(bn_relu_mlp(widths, 0.0, generator), inputs, loss_fn, alphas)
    generator.set_state(state)  # the same weights with the default eps
    model = bn_relu_mlp(widths, DEFAULT_EPS, generator)
    per_scale, patterns = zip(*(scaling_errors(model, inputs, loss_fn, alphas, s) for s in scales))
    flips = relu_flips(patterns)
    row = {f"eps0/{name}/rel_err": exact[name] for name in SIGNALS}
    row.update({f"eps_default/{name}/rel_err": [e[name] for e in per_scale] for name in SIGNALS})
    max_errors = [max(e.values()) for e in per_scale]
    rel_eps, gains = zip(*(expansion_sizes(model, inputs, alphas, s) for s in scales))
    ratio, eta = scale_law(max_errors, max(exact.values()), rel_eps, gains, flips, scales)
    row.update({"eps_default/max_rel_err": max_errors, "eps_default/relative_eps": list(rel_eps),
                "eps_default/centring_gain": list(gains),
                "eps_default/relu_flips": flips, "eps_default/scale_ratio": ratio,
                "eps_default/first_order_size": eta, "depth": depth})
    return row


@experiment("bn_scale_invariance", outputs=_outputs,
            params=("alpha_max", "alpha_min", "batch", "first_order_limit", "max_depth", "max_width", "min_width",
                    "trials", "weight_scales",))
def bn_scale_invariance(ctx: ExperimentContext) -> dict:
    """Scaled vs predicted signals of random BN MLPs, eps = 0 and the default eps per trial
    (the latter at every ``weight_scales`` entry), and the s⁻² law of the eps deviation:
    ``eps_default/scale_ratio`` and ``first_order_size`` per trial and consecutive scale pair
    (dim ``scale_step``), summarised over the points with ``eta <= first_order_limit``."""
    params, rng = ctx.params, ctx.rng()
    generator = torch.Generator().manual_seed(ctx.seed)
    scales = [float(s) for s in params["weight_scales"]]
    trials = [_trial(params, rng, generator, scales) for _ in range(int(params["trials"]))]
    out = {path: np.asarray([t[path] for t in trials], dtype=np.float64) for path in trials[0]}
    summary = scale_law_summary(out["eps_default/scale_ratio"], out["eps_default/first_order_size"],
                                out["eps_default/max_rel_err"], scales, float(params["first_order_limit"]))
    out.update({f"eps_default/{name}": value for name, value in summary.items()})
    return out

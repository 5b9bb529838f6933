"""Theorem 4.1: how a bias-free ReLU network's signals scale when its weights are scaled.

Layer k (1..K, a Linear or Conv2d without bias) computes ``h_k = W_k * x_k`` with ``x_1`` the
input and ``x_{k+1} = relu(h_k)``. Scaling ``W_k -> alpha_k W_k`` scales (ReLU is positively
homogeneous, so no unit changes its on/off state):

- the layer input ``x_k`` by ``prod_{i<k} alpha_i``,
- the output-gradient ``g_k = dL/dh_k`` by ``mu · prod_{i>k} alpha_i``,
- the weight-gradient ``dL/dW_k`` by ``mu · prod_{i≠k} alpha_i``,

where the theorem assumes ``dL/dĥ_K = mu · dL/dh_K`` for a scalar ``mu``. (The paper indexes
x_k as the layer output, which shifts the products by one layer; the statement is the same.)

Losses (param ``loss``):

- ``"linear"``: ``L = Σ c ⊙ h_K`` with a fixed random ``c``, so ``dL/dh_K = c`` before and
  after scaling: ``mu = 1`` exactly, and the prediction is ``mu · prod · (unscaled signal)``.
- ``"cross_entropy"``: ``L = Σ_i CE(h_K,i, y_i)`` with random labels. The scaled logits are
  ``prod_i alpha_i · h_K``, so ``softmax`` changes non-uniformly and the output-gradient is in
  general *not* a scalar multiple of the unscaled one: the theorem's assumption fails. Steps
  (2)–(3) of the proof (App. A.2) are linear in the output-gradient, so what does hold exactly
  is the theorem with the measured output-gradient fed back: ``ĝ_k = prod_{i>k} alpha_i ·
  B_k(ĝ_K)``, ``dL/dŴ_k = prod_{i≠k} alpha_i · (dL/dW_k of B(ĝ_K))``, where ``B`` is the
  backward pass of the *unscaled* network with ``ĝ_K = dL/dĥ_K`` as the cotangent of its
  output. That is the prediction checked for cross-entropy. The best scalar ``mu`` (least
  squares of ``ĝ_K`` on ``g_K``) and how far ``ĝ_K`` is from ``mu · g_K`` are recorded, with
  the error of the scalar-mu prediction.

Networks (param ``network``), float64, default PyTorch (Torch7-uniform) init:

- ``"mlp"``: bias-free ``Linear`` layers with per-layer widths ``d_0 .. d_K`` and ReLU between.
- ``"conv"``: ``K − 1`` bias-free 3×3 ``Conv2d`` (padding 1) + ReLU with per-layer channels
  ``c_0 .. c_{K-1}`` on ``image_size``² inputs, then flatten and a bias-free ``Linear``.

Random trials (dim ``trial``, ``trials`` of them) are chosen by hypothesis
(:func:`lcsuite.harness.sampling.hypothesis_examples`, seeded by ``ctx.seed``): depth
``1..max_depth``, every width/channel count, ``log10 alpha_k`` uniform in
``[log10 alpha_min, log10 alpha_max]``, and a seed for weights, inputs and ``c``/labels. Each
trial reports the largest norm-wise relative error over layers between the scaled quantity and
the prediction (``input/rel_err``, ``output_grad/rel_err``, ``weight_grad/rel_err``), and
``mu/fit``, ``mu/nonscalar_residual`` = ``‖ĝ_K − mu·g_K‖ / ‖ĝ_K‖``,
``output_grad/rel_err_scalar_mu`` (the theorem's prediction with that scalar ``mu``),
``depth``, ``weight_grad/log10_factor_range``.

Equal alphas (dim ``depth``, K = 1..max_depth): a net of depth K with hidden width (channels)
``equal_alpha_width`` has every layer scaled by ``alpha_up`` (and, separately, ``alpha_down``);
``equal_alpha/<up|down>/weight_grad_ratio`` = ``‖dL/dŴ‖ / ‖reference dL/dW‖`` over all layers
(reference: the unscaled gradient for ``linear``, the fed-back one for ``cross_entropy``) and
``equal_alpha/<up|down>/predicted`` = ``alpha^(K−1)``; ``.../raw_ratio`` divides by the unscaled
network's own gradient instead (equal to the ratio for ``linear``).
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

import numpy as np
import torch
from torch import nn

from lcsuite.harness.experiments import ExperimentContext, experiment
from lcsuite.harness.sampling import hypothesis_examples
from lcsuite.papers.huang2020.experiments.signals import Signals, rel_err, scale_weights, signals

NETWORKS = ("mlp", "conv")
LOSSES = ("linear", "cross_entropy")
TRIAL_PATHS = (
    "input/rel_err", "output_grad/rel_err", "weight_grad/rel_err", "output_grad/rel_err_scalar_mu",
    "mu/fit", "mu/nonscalar_residual", "depth", "weight_grad/log10_factor_range",
)
DIRECTIONS = ("up", "down")
DEPTH_PATHS = tuple(f"equal_alpha/{d}/{what}" for d in DIRECTIONS
                    for what in ("weight_grad_ratio", "raw_ratio", "predicted"))


def _outputs(params) -> dict[str, tuple[str, ...]]:
    return {**{path: ("trial",) for path in TRIAL_PATHS}, **{path: ("depth",) for path in DEPTH_PATHS}}


# --- networks -------------------------------------------------------------------------------------


class NetSpec(NamedTuple):
    """One random network as hypothesis drew it.

    ``widths``: MLP ``(d_0, .., d_K)``; conv ``(c_0, .., c_{K-1}, d_K)`` (channels, then outputs).
    """

    network: str
    widths: tuple[int, ...]
    log10_alphas: tuple[float, ...]
    data_seed: int

    @property
    def depth(self) -> int:
        return len(self.widths) - 1


def build_network(spec: NetSpec, image_size: int) -> nn.Sequential:
    """Bias-free ReLU network of ``spec`` (float64, init from ``spec.data_seed``)."""
    layers: list[nn.Module] = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(spec.data_seed)
        if spec.network == "mlp":
            for k in range(spec.depth):
                if k:
                    layers.append(nn.ReLU())
                layers.append(nn.Linear(spec.widths[k], spec.widths[k + 1], bias=False))
        else:
            for k in range(spec.depth - 1):
                layers += [nn.Conv2d(spec.widths[k], spec.widths[k + 1], 3, padding=1, bias=False), nn.ReLU()]
            layers += [nn.Flatten(), nn.Linear(spec.widths[-2] * image_size**2, spec.widths[-1], bias=False)]
    return nn.Sequential(*layers).to(torch.float64)


def example_inputs(spec: NetSpec, batch: int, image_size: int) -> torch.Tensor:
    """Gaussian inputs ``(batch, d_0)`` or ``(batch, c_0, S, S)``, float64, from ``spec.data_seed``."""
    generator = torch.Generator().manual_seed(spec.data_seed + 1)
    shape = (batch, spec.widths[0]) if spec.network == "mlp" else (batch, spec.widths[0], image_size, image_size)
    return torch.randn(*shape, generator=generator, dtype=torch.float64)


def loss_backward(loss: str, spec: NetSpec, batch: int) -> Callable[[torch.Tensor], None]:
    """``backward(output)`` of the claim's loss: linear ``Σ c ⊙ h_K`` or summed cross-entropy."""
    generator = torch.Generator().manual_seed(spec.data_seed + 2)
    outputs = spec.widths[-1]
    if loss == "linear":
        weights = torch.randn(batch, outputs, generator=generator, dtype=torch.float64)
        return lambda out: (out * weights).sum().backward()
    labels = torch.randint(0, outputs, (batch,), generator=generator)
    return lambda out: nn.functional.cross_entropy(out, labels, reduction="sum").backward()


# --- one comparison -------------------------------------------------------------------------------


class Comparison(NamedTuple):
    unscaled: Signals
    scaled: Signals
    reference: Signals  # what the theorem's prediction multiplies: mu·(unscaled) or fed back
    mu: float
    nonscalar_residual: float


def compare(spec: NetSpec, loss: str, alphas, batch: int, image_size: int) -> Comparison:
    """Signals of ``spec``'s network before and after scaling layer k by ``alphas[k]``."""
    model = build_network(spec, image_size)
    inputs = example_inputs(spec, batch, image_size)
    backward = loss_backward(loss, spec, batch)
    unscaled = signals(model, inputs, backward)
    scale_weights(model, alphas)
    scaled = signals(model, inputs, backward)
    g_out, g_out_scaled = unscaled.output_grads[-1], scaled.output_grads[-1]
    norm2 = float((g_out * g_out).sum())
    mu = float((g_out_scaled * g_out).sum()) / norm2 if norm2 > 0 else 0.0
    residual = rel_err(mu * g_out, g_out_scaled) if float(torch.linalg.norm(g_out_scaled)) > 0 else 0.0
    if loss == "linear":  # mu = 1 by construction: the theorem's prediction as stated
        reference = Signals(unscaled.inputs, unscaled.output_grads, unscaled.weight_grads)
    else:  # the measured output-gradient fed back through the unscaled network
        fresh = build_network(spec, image_size)
        reference = signals(fresh, inputs, lambda out: out.backward(g_out_scaled))
    return Comparison(unscaled, scaled, reference, mu, residual)


def trial_errors(spec: NetSpec, loss: str, batch: int, image_size: int) -> dict[str, float]:
    """One row of every ``trial`` path for a hypothesis-drawn network."""
    alphas = [10.0**a for a in spec.log10_alphas]
    result = compare(spec, loss, alphas, batch, image_size)
    linear_mu = 1.0 if loss == "linear" else result.mu
    row = {"input/rel_err": 0.0, "output_grad/rel_err": 0.0, "weight_grad/rel_err": 0.0,
           "output_grad/rel_err_scalar_mu": 0.0}
    factors = []
    for k in range(spec.depth):
        before, after = math.prod(alphas[:k]), math.prod(alphas[k + 1:])
        errors = {
            "input/rel_err": rel_err(result.scaled.inputs[k], before * result.unscaled.inputs[k]),
            "output_grad/rel_err": rel_err(result.scaled.output_grads[k], after * result.reference.output_grads[k]),
            "weight_grad/rel_err": rel_err(result.scaled.weight_grads[k],
                                           before * after * result.reference.weight_grads[k]),
            "output_grad/rel_err_scalar_mu": rel_err(result.scaled.output_grads[k],
                                                     linear_mu * after * result.unscaled.output_grads[k]),
        }
        row = {path: max(row[path], errors[path]) for path in row}
        factors.append(math.log10(before * after))
    row.update({"mu/fit": result.mu, "mu/nonscalar_residual": result.nonscalar_residual,
                "depth": spec.depth, "weight_grad/log10_factor_range": max(factors) - min(factors)})
    return row


def _flat(tensors: list[torch.Tensor]) -> torch.Tensor:
    return torch.cat([t.reshape(-1) for t in tensors])


def equal_alpha_ratios(network: str, loss: str, alpha: float, depth: int, params, seed: int) -> dict[str, float]:
    """``‖dL/dŴ‖ / ‖reference dL/dW‖`` (and the raw ratio) with every layer scaled by ``alpha``."""
    width, outputs = int(params["equal_alpha_width"]), max(int(params["max_width"]), 2)
    widths = (width,) * depth + (outputs,)
    spec = NetSpec(network, widths, (math.log10(alpha),) * depth, seed * 1000 + depth)
    result = compare(spec, loss, [alpha] * depth, int(params["batch"]), int(params["image_size"]))
    scaled = torch.linalg.norm(_flat(result.scaled.weight_grads))
    return {"weight_grad_ratio": float(scaled / torch.linalg.norm(_flat(result.reference.weight_grads))),
            "raw_ratio": float(scaled / torch.linalg.norm(_flat(result.unscaled.weight_grads))),
            "predicted": alpha ** (depth - 1)}


# --- hypothesis strategy ---------------------------------------------------------------------------


def net_strategy(network: str, loss: str, params):
    """Hypothesis strategy of :class:`NetSpec` within the claim's ranges."""
    from hypothesis import strategies as st

    low, high = int(params["min_width"]), int(params["max_width"])
    log_low, log_high = math.log10(float(params["alpha_min"])), math.log10(float(params["alpha_max"]))
    min_outputs = max(low, 2) if loss == "cross_entropy" else low  # one class has no gradient

    @st.composite
    def net(draw):
        depth = draw(st.integers(1, int(params["max_depth"])))
        if network == "mlp":
            hidden = draw(st.lists(st.integers(low, high), min_size=depth, max_size=depth))
        else:
            hidden = draw(st.lists(st.integers(1, int(params["max_channels"])), min_size=depth, max_size=depth))
        outputs = draw(st.integers(min_outputs, max(high, min_outputs)))
        log10_alphas = draw(st.lists(st.floats(log_low, log_high), min_size=depth, max_size=depth))
        return NetSpec(network, tuple(hidden) + (outputs,), tuple(log10_alphas), draw(st.integers(0, 2**31 - 1)))

    return net()


# --- the experiment -------------------------------------------------------------------------------


@experiment("rectifier_scaling", outputs=_outputs,
            params=("alpha_down", "alpha_max", "alpha_min", "alpha_up", "batch", "equal_alpha_width", "image_size", "loss", "max_channels", "max_depth", "max_width", "min_width", "network", "trials",))
def rectifier_scaling(ctx: ExperimentContext) -> dict:
    """Scaled vs predicted signals of random bias-free ReLU nets (dim ``trial``), and the
    weight-gradient growth with equal alphas along depth (dim ``depth``).

    Params: network (``mlp``/``conv``), loss (``linear``/``cross_entropy``), trials, max_depth,
    min_width, max_width, max_channels, image_size, batch, alpha_min, alpha_max,
    equal_alpha_width, alpha_up, alpha_down. Computed on CPU in float64 (tiny networks).
    """
    params = ctx.params
    network, loss = params["network"], params["loss"]
    if network not in NETWORKS or loss not in LOSSES:
        raise ValueError(f"network must be one of {NETWORKS} and loss one of {LOSSES}, got {network!r}, {loss!r}")
    specs = hypothesis_examples(net_strategy(network, loss, params), int(params["trials"]), ctx.seed)
    rows: dict[str, list[float]] = {path: [] for path in _outputs(params)}
    for index, spec in enumerate(specs):
        for path, value in trial_errors(spec, loss, int(params["batch"]), int(params["image_size"])).items():
            rows[path].append(value)
        if index % 50 == 49:
            ctx.progress(f"rectifier_scaling: {index + 1} trials")
    for direction in DIRECTIONS:
        alpha = float(params[f"alpha_{direction}"])
        for depth in range(1, int(params["max_depth"]) + 1):
            for what, value in equal_alpha_ratios(network, loss, alpha, depth, params, ctx.seed).items():
                rows[f"equal_alpha/{direction}/{what}"].append(value)
    dims = _outputs(params)
    return {path: (np.asarray(values, dtype=np.float64), dims[path]) for path, values in rows.items()}

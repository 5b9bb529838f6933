"""Learning dynamics of MNIST MLPs (Sec. 4 of the paper): train, record per-layer statistics.

One shared routine, :func:`train_variant`, builds an :class:`lcsuite.models.MLP` variant
(``norm`` ``"none"``/``"bn"``, ``init`` ``"random"``/``"he"``, optional freeze mask), trains it
with :func:`lcsuite.train.train` for every learning rate of ``lrs`` and keeps the run with the
lowest final training loss (the paper reports "the best training loss among learning rates");
that run is repeated with recording at the ``checkpoints`` (steps before which the statistics
are taken; 0 = at initialisation). Statistics come from :func:`lcsuite.analyze` on the
training set in train mode (BN normalises with the statistics of the whole set, as in
full-batch training, and is differentiated through them) with the empirical Fisher (data
labels); see :mod:`lcsuite.conditioning.snapshots` for their names.

Training runs in float32; the statistics are taken on a float64 copy of the network and the
data (the same float32 weights and pixels, computed in float64). Rounding inside a deep float32
forward/backward pass (BN's backward subtracts nearly equal terms in every layer) otherwise
makes the statistics depend on the thread count and summation order; in float64 a network's
statistics agree to ~1e-14 between 1 and 2 threads. Every
``<input|grad>/kappa_p<P>`` statistic comes with ``_lower``, ``_upper`` and ``_resolved``
companions (:mod:`lcsuite.conditioning.resolution`): the bounds under a float32 rounding of the
rows, and whether the value is resolved (moves by at most 1% under it).

The registered experiments below are thin: each trains the variants its claim needs and
derives the quantities its claim compares. Common parameters (all claims):

    depth, width, bias        MLP shape (bias: Linear biases, Torch7-style for "random")
    optimizer, batch_size     "gd" (full batch; batch_size ignored) or "sgd" (batch_size)
    lrs                       learning rates swept; the best final training loss is kept
    steps, checkpoints        updates per run; steps at which statistics are recorded
    data_limit                first examples of MNIST train (or what resolves in its place)

Variant names in quantity paths are ``<norm>_<init>``: ``plain_random``, ``bn_he``, ...
Dims: ``checkpoint`` (index into ``checkpoints``), ``layer`` (Linear layers, input side
first), ``step`` (training updates), ``mask`` (freeze masks).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from lcsuite.conditioning import analyze
from lcsuite.conditioning.resolution import kappa_resolution_snapshot
from lcsuite.conditioning.snapshots import snapshot, stack_snapshots
from lcsuite.harness.experiments import ExperimentContext, experiment
from lcsuite.harness.trends import spread_ratio
from lcsuite.papers.huang2020.experiments.data import mnist, mnist_train_test
from lcsuite.models import MLP
from lcsuite.train import seed_everything, train

NORM_LABEL = {"none": "plain", "bn": "bn"}


@dataclass
class VariantRun:
    """The kept (best-lr) run of one variant.

    Attributes:
        stats: ``{statistic: float64 (checkpoint, layer)}``.
        losses: float64 ``(steps,)`` training loss before each update (NaN after divergence).
        initial_loss, final_loss: full-batch training loss in train mode before the first and
            after the last update (``inf`` when every lr diverged).
        best_lr: the kept learning rate (NaN when every lr diverged).
        test_error: error on held-out data in eval mode (NaN without held-out data).
    """

    stats: dict[str, np.ndarray]
    losses: np.ndarray
    initial_loss: float
    final_loss: float
    best_lr: float
    test_error: float


def variant_name(norm: str, init: str) -> str:
    return f"{NORM_LABEL[norm]}_{init}"


def _build(params, data, norm: str, init: str, seed: int, device: str) -> MLP:
    seed_everything(seed)
    model = MLP(data.inputs[0].numel(), data.num_classes, int(params["depth"]), int(params["width"]),
                norm=norm, init=init, bias=bool(params.get("bias", True)))
    return model.to(device)


def _is_kappa(name: str) -> bool:
    return name.split("/")[0] in ("input", "grad") and name.split("/")[-1].startswith("kappa_p")


def statistic_names(statistics) -> list[str]:
    """``statistics`` plus the resolution companions of each ``<input|grad>/kappa_p<P>``."""
    return [*statistics, *(f"{name}_{suffix}" for name in statistics if _is_kappa(name)
                           for suffix in ("lower", "upper", "resolved"))]


def float64_statistics(model, inputs, targets, statistics) -> dict[str, np.ndarray]:
    """``{name: float64 (layer,)}`` of :func:`statistic_names` ``(statistics)``, analysed on a
    float64 copy of ``model`` (its train/eval modes kept) and of ``inputs``."""
    analysis = analyze(copy.deepcopy(model).to(torch.float64), inputs.to(torch.float64), targets)
    kappas = [name for name in statistics if _is_kappa(name)]
    return {**snapshot(analysis, statistics), **kappa_resolution_snapshot(analysis, kappas)}


@torch.no_grad()
def _train_mode_loss(model, inputs, targets) -> float:
    model.train()
    return float(F.cross_entropy(model(inputs), targets))


def train_variant(ctx: ExperimentContext, data, norm: str, init: str, statistics, *,
                  frozen: str | None = None, eval_data=None) -> VariantRun:
    """Sweep ``ctx.params["lrs"]``, keep the lowest final training loss, record its statistics.

    Every lr starts from the same initial weights (seeded by ``ctx.seed``). Returns
    :class:`VariantRun`; ``stats`` arrays are ``(checkpoint, layer)``.
    """
    params, device = ctx.params, ctx.device
    steps = int(params["steps"])
    checkpoints = [int(c) for c in params["checkpoints"]]
    inputs, targets = data.inputs.to(device), data.targets.to(device)
    options = dict(optimizer=params["optimizer"], steps=steps, seed=ctx.seed, device=device,
                   frozen=frozen, evaluate_train=False,
                   batch_size=int(params["batch_size"]) if params.get("batch_size") else None)
    lrs = [float(lr) for lr in params["lrs"]]

    def final_loss_at(lr: float, record=None):
        model = _build(params, data, norm, init, ctx.seed, device)
        result = train(model, (inputs, targets), lr=lr, record=record, record_schedule=checkpoints,
                       eval_data=eval_data, **options)
        loss = math.inf if result.diverged else _train_mode_loss(model, inputs, targets)
        return (loss if math.isfinite(loss) else math.inf), result, model

    best_lr, best_loss = math.nan, math.inf
    if len(lrs) > 1:
        for lr in lrs:
            loss, _, _ = final_loss_at(lr)
            ctx.progress(f"{variant_name(norm, init)} mask={frozen} lr={lr:g}: final loss {loss:.4g}")
            if loss < best_loss:
                best_lr, best_loss = lr, loss
    if math.isnan(best_lr):
        best_lr = lrs[0]

    snapshots: dict[int, dict] = {}

    def record(step, model):
        snapshots[step] = float64_statistics(model, inputs, targets, statistics)

    loss, result, model = final_loss_at(best_lr, record)
    if not math.isfinite(loss) and len(lrs) > 1:
        best_lr = math.nan
    layers = int(params["depth"])
    empty = {name: np.full(layers, np.nan) for name in statistic_names(statistics)}
    stats = stack_snapshots([snapshots.get(step, empty) for step in checkpoints])
    losses = np.full(steps, np.nan)
    losses[: len(result.losses)] = result.losses.double().numpy()
    initial = _train_mode_loss(_build(params, data, norm, init, ctx.seed, device), inputs, targets)
    test_error = math.nan if result.test_error is None else float(result.test_error)
    return VariantRun(stats, losses, initial, loss, best_lr, test_error)


def _variant_outputs(prefix: str, run: VariantRun, statistics) -> dict:
    out = {f"{prefix}/{name}": (run.stats[name], ("checkpoint", "layer")) for name in statistic_names(statistics)}
    out[f"{prefix}/loss"] = (run.losses, ("step",))
    out[f"{prefix}/initial_loss"] = run.initial_loss
    out[f"{prefix}/final_loss"] = run.final_loss
    out[f"{prefix}/loss_ratio"] = run.final_loss / run.initial_loss
    out[f"{prefix}/best_lr"] = run.best_lr
    return out


def _training_data(ctx: ExperimentContext):
    return mnist(ctx, limit=int(ctx.params["data_limit"]))


# --- Fig. 5: BN improves the conditioning of Sx and Sg ------------------------------------------

CONDITIONING_STATS = ("input/kappa_p80", "input/kappa_p100", "grad/kappa_p80", "grad/kappa_p100")
HIDDEN_INPUT_STATS = [name for name in statistic_names(CONDITIONING_STATS) if name.startswith("input/")]


TRAINING_PARAMS = ("batch_size", "bias", "checkpoints", "data_limit", "depth", "init", "lrs", "optimizer", "steps",
                   "width")
"""The parameters of the Plain-vs-BN training experiments of this module."""


def _training_outputs(variant: str) -> dict[str, tuple]:
    """The loss curve ``(step,)`` and the scalar outcomes of ``variant``'s training run."""
    out = {f"{variant}/loss": ("step",)}
    out.update({f"{variant}/{scalar}": () for scalar in ("initial_loss", "final_loss", "loss_ratio", "best_lr")})
    return out


def _conditioning_outputs(params):
    out = {}
    for variant in ("plain", "bn"):
        for name in statistic_names(CONDITIONING_STATS):
            out[f"{variant}/{name}"] = ("checkpoint", "layer")
        for name in HIDDEN_INPUT_STATS:
            out[f"{variant}/hidden_{name.replace('/', '_')}"] = ("checkpoint", "hidden_layer")
        out.update(_training_outputs(variant))
    return out


@experiment("mlp_bn_conditioning", outputs=_conditioning_outputs, params=TRAINING_PARAMS)
def mlp_bn_conditioning(ctx: ExperimentContext) -> dict:
    """Plain vs BN MLP with ``init`` (a grid key): kappa_p of Sx and Sg per layer and checkpoint,
    with their rounding bounds and resolved flags (``<name>_lower``, ``_upper``, ``_resolved``).

    ``<plain|bn>/hidden_input_kappa_p<P>[_<companion>]`` drop layer 1, whose input is the data
    itself.
    """
    data = _training_data(ctx)
    out = {}
    for norm in ("none", "bn"):
        run = train_variant(ctx, data, norm, ctx.params["init"], CONDITIONING_STATS)
        prefix = NORM_LABEL[norm]
        out.update(_variant_outputs(prefix, run, CONDITIONING_STATS))
        for name in HIDDEN_INPUT_STATS:
            out[f"{prefix}/hidden_{name.replace('/', '_')}"] = (run.stats[name][:, 1:], ("checkpoint", "hidden_layer"))
    return out


# --- Fig. 3: magnitude propagation ---------------------------------------------------------------

# The paper's Fig. 3/A5 indicate a layer's magnitude by λmax(Σx) and λmax(Σ∇h).
MAGNITUDE_STATS = ("input/lambda_max", "grad/lambda_max")
ALL_VARIANTS = (("none", "random"), ("none", "he"), ("bn", "random"), ("bn", "he"))


def _magnitude_outputs(params):
    out = {}
    for norm, init in ALL_VARIANTS:
        prefix = variant_name(norm, init)
        for name in MAGNITUDE_STATS:
            out[f"{prefix}/{name}"] = ("checkpoint", "layer")
            out[f"{prefix}/{name.split('/')[0]}/spread"] = ("checkpoint",)
        out[f"{prefix}/loss"] = ("step",)
        for scalar in ("initial_loss", "final_loss", "loss_ratio", "best_lr"):
            out[f"{prefix}/{scalar}"] = ()
    return out


@experiment("mlp_magnitude_propagation", outputs=_magnitude_outputs,
            params=("batch_size", "bias", "checkpoints", "data_limit", "depth", "lrs", "optimizer", "steps", "width",))
def mlp_magnitude_propagation(ctx: ExperimentContext) -> dict:
    """Plain/BN × random/He: the magnitudes ``λmax(Sx_k)`` and ``λmax(Sg_k)`` (as the paper's
    Fig. 3 indicates them) per layer and checkpoint, their spread over the layers
    (``<variant>/<input|grad>/spread``: max/min over layers, per checkpoint), and the training
    loss, of each variant's best-lr run."""
    data = _training_data(ctx)
    out = {}
    for norm, init in ALL_VARIANTS:
        run = train_variant(ctx, data, norm, init, MAGNITUDE_STATS)
        prefix = variant_name(norm, init)
        out.update(_variant_outputs(prefix, run, MAGNITUDE_STATS))
        for name in MAGNITUDE_STATS:
            out[f"{prefix}/{name.split('/')[0]}/spread"] = (spread_ratio(run.stats[name]), ("checkpoint",))
    return out


# --- Sec. 4.2 / Fig. A13: dying and full neurons -------------------------------------------------

NEURON_STATS = ("input/dying_units", "input/full_units", "input/zero_eigs")


def _neuron_outputs(params):
    out = {}
    for variant in ("plain", "bn"):
        for name in ("dying_units", "full_units", "zero_eigs", "zero_eigs_minus_dying"):
            out[f"{variant}/{name}"] = ("checkpoint", "hidden_layer")
        out.update(_training_outputs(variant))
    return out


@experiment("mlp_dying_neurons", outputs=_neuron_outputs, params=TRAINING_PARAMS)
def mlp_dying_neurons(ctx: ExperimentContext) -> dict:
    """Plain vs BN with ``init``: per hidden layer (the inputs of layers 2..K, i.e. the ReLU
    outputs), the units zero on every training example (dying) or positive on every one (full),
    and the eigenvalues of Sx at most ``rtol·λmax`` (the analysis' explicit default tolerance)."""
    data = _training_data(ctx)
    out = {}
    for norm in ("none", "bn"):
        run = train_variant(ctx, data, norm, ctx.params["init"], NEURON_STATS)
        prefix = NORM_LABEL[norm]
        for name in NEURON_STATS:
            out[f"{prefix}/{name.split('/')[1]}"] = (run.stats[name][:, 1:], ("checkpoint", "hidden_layer"))
        excess = run.stats["input/zero_eigs"][:, 1:] - run.stats["input/dying_units"][:, 1:]
        out[f"{prefix}/zero_eigs_minus_dying"] = (excess, ("checkpoint", "hidden_layer"))
        loss_outputs = _variant_outputs(prefix, run, ())
        out.update(loss_outputs)
    return out


# --- Fig. 4: simulated weight domination (frozen layers) ----------------------------------------

DOMINATION_STATS = ("weight_domination_ratio",)


def _freeze_outputs(params):
    return {
        "mask/final_loss": ("mask",),
        "mask/initial_loss": ("mask",),
        "mask/loss_ratio": ("mask",),
        "mask/test_error": ("mask",),
        "mask/best_lr": ("mask",),
        "mask/weight_domination_ratio": ("mask", "checkpoint", "layer"),
        "frozen/final_loss_excess": ("frozen_mask",),
        "frozen/test_error_excess": ("frozen_mask",),
    }


@experiment("mlp_frozen_layers", outputs=_freeze_outputs,
            params=("batch_size", "bias", "checkpoints", "data_limit", "depth", "init", "lrs", "masks", "optimizer", "steps", "test_fraction", "width",))
def mlp_frozen_layers(ctx: ExperimentContext) -> dict:
    """A BN MLP trained with the layers marked ``0`` in each of ``masks`` frozen (the first
    mask is the all-trainable baseline). Final training loss (train mode, full set), test
    error on a deterministic held-out part of the data, and the weight-domination ratio
    ``σmax(dL/dW)/σmax(W)`` per layer and checkpoint. ``frozen/*_excess`` is each frozen
    mask's value minus the baseline's, dim ``frozen_mask`` = masks[1:]."""
    params = ctx.params
    masks = [str(m) for m in params["masks"]]
    if set(masks[0]) != {"1"}:
        raise ValueError(f"the first mask must be the all-trainable baseline, got {masks[0]!r}")
    train_data, test_data = mnist_train_test(ctx, test_fraction=float(params["test_fraction"]),
                                                  limit=int(params["data_limit"]))
    runs = [train_variant(ctx, train_data, "bn", params["init"], DOMINATION_STATS, frozen=mask,
                          eval_data=(test_data.inputs, test_data.targets)) for mask in masks]
    final = np.array([r.final_loss for r in runs])
    test_error = np.array([r.test_error for r in runs])
    initial = np.array([r.initial_loss for r in runs])
    return {
        "mask/final_loss": (final, ("mask",)),
        "mask/initial_loss": (initial, ("mask",)),
        "mask/loss_ratio": (final / initial, ("mask",)),
        "mask/test_error": (test_error, ("mask",)),
        "mask/best_lr": (np.array([r.best_lr for r in runs]), ("mask",)),
        "mask/weight_domination_ratio": (np.stack([r.stats["weight_domination_ratio"] for r in runs]),
                                         ("mask", "checkpoint", "layer")),
        "frozen/final_loss_excess": (final[1:] - final[0], ("frozen_mask",)),
        "frozen/test_error_excess": (test_error[1:] - test_error[0], ("frozen_mask",)),
    }


# --- Fig. A11: gradient explosion of a deep BN MLP ----------------------------------------------

EXPLOSION_STATS = ("fim/lambda_max", "input/lambda_max", "grad/lambda_max", "weight_domination_ratio")


def _explosion_outputs(params):
    return {
        "fim_lambda_max": ("checkpoint", "layer"),
        "weight_domination_ratio": ("checkpoint", "layer"),
        "iter0/fim_lambda_max": ("layer",),
        "lower/lambda_max_drop": ("later_checkpoint", "lower_layer"),
        "lower/weight_domination_ratio": ("later_checkpoint", "lower_layer"),
        "loss": ("step",),
    }


@experiment("mlp_bn_gradient_explosion", outputs=_explosion_outputs,
            params=("batch_size", "bias", "checkpoints", "data_limit", "depth", "init", "lower_layers", "lrs", "optimizer", "steps", "width",))
def mlp_bn_gradient_explosion(ctx: ExperimentContext) -> dict:
    """A deep BN MLP trained by GD; per layer and checkpoint (the paper: iterations 0..7)
    ``λmax(F_k)`` through Prop. 1 as ``λmax(Sx)·λmax(Sg)`` and the weight-domination ratio.

    ``lower/*`` restrict to the ``lower_layers`` lowest layers and the checkpoints after the
    first: ``lambda_max_drop`` is ``λmax(F_k)`` at that checkpoint over its value at the first.
    """
    params = ctx.params
    data = _training_data(ctx)
    run = train_variant(ctx, data, "bn", params["init"], EXPLOSION_STATS)
    lam, ratio = run.stats["fim/lambda_max"], run.stats["weight_domination_ratio"]
    lower = int(params["lower_layers"])
    return {
        "fim_lambda_max": (lam, ("checkpoint", "layer")),
        "weight_domination_ratio": (ratio, ("checkpoint", "layer")),
        "iter0/fim_lambda_max": (lam[0], ("layer",)),
        "lower/lambda_max_drop": (lam[1:, :lower] / lam[0, :lower], ("later_checkpoint", "lower_layer")),
        "lower/weight_domination_ratio": (ratio[1:, :lower], ("later_checkpoint", "lower_layer")),
        "loss": (run.losses, ("step",)),
    }

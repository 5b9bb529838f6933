"""The paper's diagnoses as rules over a monitor's history.

=========================  =============================================  ==========================
rule                       fires when (thresholds: :mod:`.thresholds`)    paper
=========================  =============================================  ==========================
``vanishing_inputs``       ``λ_max(Sx)`` decays exponentially over a run   Thm 4.1, Fig. 3a
``exploding_inputs``       of >= 3 consecutive layers (forward): R² >=
                           ``min_r2``, fold >= ``min_fold``; or grows
``vanishing_gradients``    ``λ_max(Sg)`` decays exponentially backward     Thm 4.1, Fig. 3b
``exploding_gradients``    (grows along the layer index), or grows
``unbalanced_inputs``      no exponential run, but ``max/min`` over the    Fig. 3 ("stable")
``unbalanced_gradients``   layers > ``max_spread``
                           (these four compare layers of one kind: conv
                           rows are positions, linear rows examples)
``dying_units``            an input unit is zero on every example           Sec. 4.2, Fig. A13
``full_units``             an input unit is positive on every example       Sec. 4.2, Fig. A13
``weight_domination``      ``σ_max(∂L/∂W)/σ_max(W)`` is ``domination_``     Def. 1, Fig. 4
                           ``factor`` below the other layers' median
``last_layer_input``       ``λ_max(Sx)`` of the last linear layer exceeds   Sec. 5, Fig. 6
                           the hidden layers' median ``last_input_factor``
                           times (and no exponential input trend explains
                           it)
``kappa_blowup``           ``κ(Sx ⊗ Sg)`` infinite (``Sx`` or ``Sg`` is     Sec. 3 (Property 2),
                           zero); or ``κ_p(Sx ⊗ Sg)`` grows exponentially   Fig. 5
                           over >= 3 checkpoints (``p``: smallest of ``ps``)
=========================  =============================================  ==========================

Trends are judged with the claim checks' own functions (:mod:`lcsuite.harness.trends`). Layers
are taken in registration order, which is the forward order of sequential models; a layer not
used at a checkpoint is left out of its series. The first layer's input is the data, not a
ReLU's output, so the unit rules and the last-layer rule's reference leave it out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from lcsuite.harness.trends import DIRECTIONS, is_exponential, log_linear_fit, spread_ratio
from lcsuite.monitor.history import Checkpoint, History, kappa_path
from lcsuite.monitor.thresholds import DEFAULT_THRESHOLDS, Thresholds

__all__ = ["Finding", "Run", "diagnose", "longest_exponential_run", "format_findings"]


@dataclass(frozen=True)
class Finding:
    """One diagnosis.

    Attributes:
        rule: Rule name (see the module docstring).
        layers: Module paths of the layers concerned (a run's layers in order).
        checkpoint: The step of the checkpoint it was found at (the last one of a run over
            checkpoints).
        numbers: The measured numbers behind it (plain floats).
        message: One sentence with the layer range and the numbers.
        paper: Where the paper describes the problem.
    """

    rule: str
    layers: tuple[str, ...]
    checkpoint: int
    numbers: dict = field(default_factory=dict)
    message: str = ""
    paper: str = ""

    def __str__(self) -> str:
        return f"step {self.checkpoint}: {self.rule}: {self.message} [{self.paper}]"


@dataclass(frozen=True)
class Run:
    """A run ``[start, stop)`` of consecutive points with an exponential trend."""

    start: int
    stop: int
    direction: str
    fold: float
    slope: float
    r2: float


def longest_exponential_run(values, thresholds: Thresholds = DEFAULT_THRESHOLDS,
                            directions=DIRECTIONS) -> Run | None:
    """The longest run of consecutive ``values`` (at least ``min_points``) whose ``log|v|`` is
    linear (``R² >= min_r2``) with a fold ``>= min_fold`` in one of ``directions``, and whose
    first and last steps go that way (a flat end is not part of a trend); among runs of that
    length the largest fold. ``None`` when there is none."""
    values = np.asarray(values, dtype=float)
    for length in range(values.size, thresholds.min_points - 1, -1):
        windows = np.lib.stride_tricks.sliding_window_view(values, length)
        fit = log_linear_fit(windows)
        magnitude = np.abs(windows)
        best = None
        for direction in directions:
            sign = -1.0 if direction == "decay" else 1.0
            steps = sign * np.diff(magnitude, axis=-1)
            ends_move = (steps[:, 0] > 0) & (steps[:, -1] > 0)
            ok = is_exponential(fit, direction, thresholds.min_r2, thresholds.min_fold) & ends_move
            if ok.any():
                folds = np.where(ok, fit.fold(direction), -np.inf)
                k = int(np.argmax(folds))
                if best is None or folds[k] > best.fold:
                    best = Run(k, k + length, direction, float(folds[k]), float(fit.slope[k]), float(fit.r2[k]))
        if best is not None:
            return best
    return None


@dataclass
class _Layers:
    """The layers present at one checkpoint: names, 1-based positions, quantity values."""

    step: int
    names: list[str]
    positions: list[int]
    kinds: list[str]
    values: dict[str, np.ndarray]
    frozen: tuple[str, ...]

    def span(self, first: int, last: int) -> str:
        return (f"layers {self.positions[first]}-{self.positions[last]} "
                f"({self.names[first]} … {self.names[last]})")


def _present_layers(history: History, index: int) -> _Layers:
    checkpoint: Checkpoint = history.checkpoints[index]
    quantities = history.quantities()
    present = np.flatnonzero(~np.isnan(quantities["input/lambda_max"][index]))
    return _Layers(
        step=checkpoint.step,
        names=[history.layer_names[j] for j in present],
        positions=[int(j) + 1 for j in present],
        kinds=[checkpoint.analysis[history.layer_names[j]].kind for j in present],
        values={path: array[index, present] for path, array in quantities.items()},
        frozen=checkpoint.frozen_layers,
    )


_TREND_WORDS = {
    ("input", "decay"): ("vanishing_inputs", "λmax(Sx) of the layer inputs decays exponentially in the forward pass"),
    ("input", "growth"): ("exploding_inputs", "λmax(Sx) of the layer inputs grows exponentially in the forward pass"),
    ("grad", "growth"): ("vanishing_gradients",
                         "λmax(Sg) of the output-gradients decays exponentially in the backward pass"),
    ("grad", "decay"): ("exploding_gradients",
                        "λmax(Sg) of the output-gradients grows exponentially in the backward pass"),
}


def _magnitude_findings(layers: _Layers, th: Thresholds) -> tuple[list[Finding], bool]:
    """Exponential runs (else a spread) of ``λ_max(Sx)`` and ``λ_max(Sg)`` across the layers of
    each kind, and whether an exponential growth of the inputs reaches the last layer (the
    last-layer rule defers to it). Kinds are judged apart: a conv's rows are spatial positions
    (``N·H·W`` of them), a linear layer's rows are examples, and the two scales differ (a global
    average pool alone divides each position's output-gradient by ``H·W``)."""
    findings, input_growth_reaches_last = [], False
    for kind in dict.fromkeys(layers.kinds):
        members = [k for k, other in enumerate(layers.kinds) if other == kind]
        for factor, symbol in (("input", "Sx"), ("grad", "Sg")):
            values = layers.values[f"{factor}/lambda_max"][members]
            if values.size < th.min_points:
                continue
            run = longest_exponential_run(values, th)
            if run is None:
                findings += _spread_finding(layers, members, factor, symbol, values, th)
                continue
            first, last = members[run.start], members[run.stop - 1]
            if factor == "input" and run.direction == "growth" and last == len(layers.names) - 1:
                input_growth_reaches_last = True
            rule, what = _TREND_WORDS[(factor, run.direction)]
            numbers = {"fold": run.fold, "per_layer_factor": math.exp(abs(run.slope)), "r2": run.r2,
                       "first": float(values[run.start]), "last": float(values[run.stop - 1]),
                       "first_layer": layers.positions[first], "last_layer": layers.positions[last], "kind": kind}
            message = (f"{what} over {kind} {layers.span(first, last)}: {run.fold:.3g}× overall, "
                       f"{numbers['per_layer_factor']:.3g}× per layer (R² {run.r2:.2f})")
            findings.append(Finding(rule, tuple(layers.names[k] for k in members[run.start:run.stop]), layers.step,
                                    numbers, message, "Thm 4.1, Fig. 3"))
    return findings, input_growth_reaches_last


def _spread_finding(layers: _Layers, members, factor, symbol, values, th: Thresholds) -> list[Finding]:
    spread = float(spread_ratio(values))
    if not spread > th.max_spread:
        return []
    rule = "unbalanced_inputs" if factor == "input" else "unbalanced_gradients"
    kind = layers.kinds[members[0]]
    message = (f"λmax({symbol}) spreads {spread:.3g}× across the {kind} layers (max/min, above "
               f"{th.max_spread:g}) without an exponential trend")
    return [Finding(rule, tuple(layers.names[k] for k in members), layers.step,
                    {"spread": spread, "max_spread": th.max_spread, "kind": kind}, message, "Fig. 3")]


def _unit_findings(layers: _Layers) -> list[Finding]:
    """One finding per kind (dying, full) listing every layer with such units; the first
    layer's input is the data and is left out."""
    findings = []
    hidden = range(1, len(layers.names))
    counts = {path: {k: int(layers.values[path][k]) for k in hidden} for path in ("units/dying", "units/full")}
    totals = {k: int(layers.values["units/total"][k]) for k in hidden}
    zeros = {k: int(layers.values["input/zero_eigenvalues"][k]) for k in hidden}
    for rule, path, words in (("dying_units", "units/dying", "zero on every example (dying ReLUs)"),
                              ("full_units", "units/full",
                               "positive on every example (full ReLUs, linear on the data)")):
        where = [k for k in hidden if counts[path][k] > 0]
        if not where:
            continue
        per_layer = {layers.names[k]: {"units": counts[path][k], "of": totals[k], "zero_eigenvalues": zeros[k]}
                     for k in where}
        listed = ", ".join(f"layer {layers.positions[k]}: {counts[path][k]}/{totals[k]}" for k in where)
        message = f"input units {words} in {len(where)} layers ({listed})"
        if rule == "dying_units":
            covered = sum(zeros[k] >= counts[path][k] for k in where)
            message += (f"; Sx has at least that many zero eigenvalues in {covered} of {len(where)} of them "
                        "(each dying unit gives one)")
        findings.append(Finding(rule, tuple(layers.names[k] for k in where), layers.step,
                                {"per_layer": per_layer, "total": sum(counts[path][k] for k in where)},
                                message, "Sec. 4.2, Fig. A13"))
    return findings


def _domination_findings(layers: _Layers, th: Thresholds) -> list[Finding]:
    ratios = layers.values["weight_domination_ratio"]
    usable = np.isfinite(ratios) & (ratios > 0)
    if usable.sum() < th.min_points:
        return []
    findings = []
    for k in np.flatnonzero(usable):
        others = ratios[usable & (np.arange(ratios.size) != k)]
        median = float(np.median(others))
        if ratios[k] * th.domination_factor < median:
            name = layers.names[k]
            frozen = name in layers.frozen
            numbers = {"ratio": float(ratios[k]), "median_of_others": median,
                       "times_below": median / float(ratios[k]), "frozen": frozen}
            message = (f"layer {layers.positions[k]} ({name}): σmax(∂L/∂W)/σmax(W) = {ratios[k]:.3g}, "
                       f"{numbers['times_below']:.3g}× below the other layers' median {median:.3g}"
                       + ("; its weight is frozen (requires_grad is False)" if frozen else ""))
            findings.append(Finding("weight_domination", (name,), layers.step, numbers, message, "Def. 1, Fig. 4"))
    return findings


def _last_input_findings(layers: _Layers, th: Thresholds, explained_by_growth: bool) -> list[Finding]:
    """The last linear layer against the hidden layers (the first, the data, left out). A conv's
    ``Sx`` is per position; a pooled input averages positions, which can only lower ``λ_max``
    (``E[x̄ x̄ᵀ] ≼ mean_p E[x_p x_pᵀ]``), so conv layers make the comparison conservative."""
    count = len(layers.names)
    if count < 3 or layers.kinds[-1] != "linear" or explained_by_growth:
        return []  # (an exponential trend through the network explains it: Thm 4.1)
    values = layers.values["input/lambda_max"]
    median = float(np.median(values[1:-1]))
    last = float(values[-1])
    if not last > th.last_input_factor * median:
        return []
    name = layers.names[-1]
    numbers = {"last_lambda_max": last, "hidden_median": median, "times_above": last / median if median else math.inf}
    message = (f"the last linear layer {name} gets an input with λmax(Sx) = {last:.3g}, "
               f"{numbers['times_above']:.3g}× the hidden layers' median {median:.3g}")
    return [Finding("last_layer_input", (name,), layers.step, numbers, message, "Sec. 5, Fig. 6")]


def _infinite_kappa_findings(layers: _Layers) -> list[Finding]:
    findings = []
    for k, name in enumerate(layers.names):
        zero = [s for s, path in (("Sx", "input/lambda_max"), ("Sg", "grad/lambda_max"))
                if layers.values[path][k] <= 0]
        if zero:
            message = (f"layer {layers.positions[k]} ({name}): κ(Sx⊗Sg) is infinite, {' and '.join(zero)} "
                       "has no nonzero eigenvalue (no curvature on this data)")
            findings.append(Finding("kappa_blowup", (name,), layers.step, {"zero_factors": zero}, message,
                                    "Sec. 3 (Property 2), Fig. 5"))
    return findings


def _kappa_growth_findings(history: History, th: Thresholds, steps) -> list[Finding]:
    p = min(history.ps)
    kappas = history.values(kappa_path("fim", p))
    findings = []
    for j, name in enumerate(history.layer_names):
        series = kappas[:, j]
        if not np.all(np.isfinite(series)) or series.size < th.min_points:
            continue
        run = longest_exponential_run(series, th, directions=("growth",))
        end_step = history.steps[run.stop - 1] if run else None
        if run is None or (steps is not None and end_step not in steps):
            continue
        first_step = history.steps[run.start]
        numbers = {"fold": run.fold, "r2": run.r2, "first": float(series[run.start]),
                   "last": float(series[run.stop - 1]), "first_step": first_step, "p": p}
        message = (f"layer {j + 1} ({name}): κ_{100 * p:g}%(Sx⊗Sg) grows exponentially from step {first_step} to "
                   f"{end_step}: {numbers['first']:.3g} → {numbers['last']:.3g} ({run.fold:.3g}×, R² {run.r2:.2f})")
        findings.append(Finding("kappa_blowup", (name,), end_step, numbers, message, "Sec. 3 (Property 2), Fig. 5"))
    return findings


def diagnose(history: History, thresholds: Thresholds = DEFAULT_THRESHOLDS, steps=None) -> list[Finding]:
    """Every rule on every checkpoint of ``history`` (or only at ``steps``), in checkpoint order.

    Args:
        history: The monitor's history.
        thresholds: The rules' bars (:class:`~lcsuite.monitor.thresholds.Thresholds`).
        steps: Steps to report findings at (``None``: all). The κ-growth rule still reads the
            whole history and reports a run at the step where it ends.
    """
    steps = None if steps is None else set(steps)
    findings = []
    for index, checkpoint in enumerate(history.checkpoints):
        if steps is not None and checkpoint.step not in steps:
            continue
        layers = _present_layers(history, index)
        magnitude, explained = _magnitude_findings(layers, thresholds)
        findings += magnitude
        findings += _unit_findings(layers)
        findings += _domination_findings(layers, thresholds)
        findings += _last_input_findings(layers, thresholds, explained)
        findings += _infinite_kappa_findings(layers)
    findings += _kappa_growth_findings(history, thresholds, steps)
    return findings


def format_findings(findings: list[Finding]) -> str:
    """One line per finding, or a line saying there is none."""
    if not findings:
        return "no findings: no rule fired"
    return "\n".join(str(f) for f in findings)

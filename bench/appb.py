"""Case ``appb``: cost of the three analyses of App. B.0.1 on MLPs of growing width.

For an MLP with ``L`` layers of ``d`` units (``in_features = d`` too), ``N`` examples and
``C`` classes, all float64, true Fisher (the paper's F):

- full FIM: :func:`lcsuite.conditioning.exact_curvature` (``P × P``, ``P ≈ L·d²``) and its
  ``eigvalsh``; ~``2·N·C·P² + (4/3)·P³`` flops.
- exact sub-FIM: per layer, the ``N·C`` per-example, per-class weight gradients
  ``√p_ic · g_ic ⊗ x_i`` (exact for an MLP without BatchNorm), ``F_k = JᵀJ / N``
  (``d² × d²``) and its ``eigvalsh``; ~``Σ_k 2·N·C·d⁴ + (4/3)·d⁶`` flops.
- Kronecker path: :func:`lcsuite.analyze` (the factors ``Sx``, ``Sg`` and their
  eigendecompositions) plus every layer's outer-product spectrum; ~``N·C·L·d² + L·d³``.

A path whose estimated flops exceed the configured budget is skipped, with the estimate and
the memory of its matrix stated. At the smallest width the sub-FIM builder is checked
against the diagonal blocks of the full FIM (the bench's own code must be right).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from bench import agreement
from bench.config import Config
from bench.results import CaseResult, goal
from lcsuite.timing import compare
from lcsuite import analyze
from lcsuite.conditioning import LayerCapture, exact_curvature
from lcsuite.models import MLP

__all__ = ["run", "memory_workloads", "exact_sub_fims", "GOAL_SPEEDUP"]

GOAL_SPEEDUP = 100.0


def _model_and_data(config: Config, width: int):
    torch.manual_seed(config.seed)
    model = MLP(width, config.num_classes, config.appb_depth, width).double()
    generator = torch.Generator().manual_seed(config.seed + 1)
    inputs = torch.randn(config.appb_examples, width, generator=generator, dtype=torch.float64)
    targets = torch.randint(0, config.num_classes, (config.appb_examples,), generator=generator)
    return model, inputs, targets


def _block_sides(model: MLP) -> list[int]:
    return [layer.weight.numel() for layer in model.linears]


def exact_sub_fims(model: MLP, inputs: torch.Tensor) -> dict[str, torch.Tensor]:
    """Exact true-Fisher sub-FIM ``F_k`` of every Linear weight of a BatchNorm-free MLP.

    Row-major ``W (out, in)``: the gradient of ``ℓ_ic`` is ``g_ic ⊗ x_i``; with the class
    weight ``√p_ic`` folded into ``g``, ``F_k = (1/N) Σ_ic (g_ic ⊗ x_i)(g_ic ⊗ x_i)ᵀ``.
    """
    with LayerCapture(model, keep_rows=True) as capture:
        logits = model(inputs)
        probs = logits.detach().softmax(dim=1)
        params = [p for p in model.parameters() if p.requires_grad]
        num_classes = logits.shape[1]
        for c in range(num_classes):
            labels = torch.full((inputs.shape[0],), c, dtype=torch.long)
            per_example = F.cross_entropy(logits, labels, reduction="none")
            torch.autograd.grad((probs[:, c].sqrt() * per_example).sum(), params,
                                retain_graph=c < num_classes - 1)
    blocks = {}
    for name, record in capture.records.items():
        x, g = record.input_rows(), record.grad_rows()  # (N, d_in), (C·N, d_out)
        x = x.repeat(g.shape[0] // x.shape[0], 1)
        jacobian_rows = (g.unsqueeze(2) * x.unsqueeze(1)).reshape(g.shape[0], -1)
        blocks[name] = jacobian_rows.T @ jacobian_rows / inputs.shape[0]
    return blocks


def _estimates(config: Config, model: MLP) -> dict[str, dict]:
    rows = config.appb_examples * config.num_classes
    sides = _block_sides(model)
    p = sum(sides)
    return {
        "full": {"flops": 2.0 * rows * p * p + 4.0 / 3.0 * p ** 3, "matrix_bytes": 8 * p * p,
                 "side": p},
        "sub": {"flops": sum(2.0 * rows * s * s + 4.0 / 3.0 * s ** 3 for s in sides),
                "matrix_bytes": 8 * max(sides) ** 2, "side": max(sides)},
    }


def _skip_reason(estimate: dict, budget: float, what: str) -> str:
    return (f"{what} skipped: matrix {estimate['side']}x{estimate['side']} "
            f"({estimate['matrix_bytes'] / 2**30:.2f} GiB), est. {estimate['flops'] / 1e9:.3g} "
            f"GFLOP > budget {budget / 1e9:.3g} GFLOP")


def _kronecker_path(model, inputs, targets):
    return [layer.fim_spectrum() for layer in analyze(model, inputs, targets, fisher="true").layers]


def _paths(config: Config, width: int, model, inputs, targets, estimates: dict, notes: list) -> dict:
    """The timed functions at one width: the Kronecker path, and the exact paths within budget
    (a note for each one skipped)."""
    functions = {"kronecker": lambda: _kronecker_path(model, inputs, targets)}
    exact = {"sub": ("exact sub-FIM", lambda: [torch.linalg.eigvalsh(b) for b in exact_sub_fims(model, inputs).values()]),
             "full": ("full FIM", lambda: torch.linalg.eigvalsh(exact_curvature(model, inputs, fisher="true").matrix))}
    for path, (what, function) in exact.items():
        if estimates[path]["flops"] <= config.appb_flop_budget:
            functions[path] = function
        else:
            notes.append(f"width {width}: " + _skip_reason(estimates[path], config.appb_flop_budget, what))
    return functions


def _check_sub_fims(model, inputs, rtol: float) -> dict:
    """The bench's sub-FIM builder against the diagonal blocks of the exact full FIM."""
    full = exact_curvature(model, inputs, fisher="true")
    subs = exact_sub_fims(model, inputs)
    errors = {f"sub-FIM builder vs exact_curvature block, {name}":
              agreement.relative_error(subs[name], full.block(name)) for name in subs}
    return agreement.check(errors, rtol)


def _extrapolate(details: dict, medians: dict, measured_width: int, widest: int, notes: list) -> None:
    """Cost-model extrapolation (labelled as such): the exact sub-FIM path's flop rate at the
    largest measured width, applied to the estimate at the widest."""
    measured = details["widths"][str(measured_width)]
    rate = measured["estimates"]["sub"]["flops"] / medians[f"width{measured_width}/sub"]
    estimate_s = details["widths"][str(widest)]["estimates"]["sub"]["flops"] / rate
    extrapolated = estimate_s / medians[f"width{widest}/kronecker"]
    details["extrapolated_sub_over_kronecker"] = {"width": widest, "sub_s": estimate_s, "ratio": extrapolated}
    notes.append(f"cost-model estimate at width {widest} (not measured): exact sub-FIM "
                 f"~{estimate_s:.3g} s at the flop rate of width {measured_width}, "
                 f"~{extrapolated:.3g}x the Kronecker path")


def _goals(largest_sub: tuple | None, widest: int) -> list[dict]:
    if largest_sub is None:
        return [goal("exact sub-FIM / Kronecker path", None, GOAL_SPEEDUP, True)]
    description = f"exact sub-FIM / Kronecker path at width {largest_sub[0]}"
    if largest_sub[0] != widest:
        description += f" (largest feasible; {widest} over budget)"
    return [goal(description, largest_sub[1], GOAL_SPEEDUP, True)]


def _time_width(config: Config, width: int, notes: list, details: dict) -> dict[str, float]:
    """Medians (s) of the paths at ``width``; checks the sub-FIM builder once; fills ``details``."""
    model, inputs, targets = _model_and_data(config, width)
    estimates = _estimates(config, model)
    functions = _paths(config, width, model, inputs, targets, estimates, notes)
    if "sub_fim_check" not in details and "full" in functions and "sub" in functions:
        details["sub_fim_check"] = _check_sub_fims(model, inputs, config.rtol)
    timings = compare(functions, config.repeats, config.warmup, config.budget_s)
    details["widths"][str(width)] = {"parameters": estimates["full"]["side"], "estimates": estimates,
                                     "timings": {k: t.to_dict() for k, t in timings.items()}}
    return {k: t.median for k, t in timings.items()}


def run(config: Config) -> CaseResult:
    rows, medians, ratios, notes, details = [], {}, {}, [], {"widths": {}}
    largest_sub = None
    for width in config.appb_widths:
        med = _time_width(config, width, notes, details)
        kron = med["kronecker"]
        medians.update({f"width{width}/{k}": v for k, v in med.items()})
        over = {path: med[path] / kron if path in med else None for path in ("full", "sub")}
        ratios.update({f"width{width}/{path}_over_kronecker": r for path, r in over.items() if r is not None})
        if over["sub"] is not None:
            largest_sub = (width, over["sub"])
        rows.append([width, details["widths"][str(width)]["parameters"], med.get("full"), med.get("sub"), kron,
                     over["full"], over["sub"]])
    widest = max(config.appb_widths)
    if largest_sub is not None and largest_sub[0] != widest:
        _extrapolate(details, medians, largest_sub[0], widest, notes)
    notes.append(f"depth {config.appb_depth} (in_features = width), N={config.appb_examples}, "
                 f"C={config.num_classes}, float64, true Fisher; '-' = skipped")
    return CaseResult(
        "appb", "App. B.0.1: full FIM vs exact sub-FIM vs Kronecker path (medians, s)",
        ["width", "P", "full FIM eig s", "exact sub-FIM eig s", "Kronecker s", "full/Kron", "sub/Kron"],
        rows, medians, ratios, _goals(largest_sub, widest), notes, details,
    )


def memory_workloads(config: Config) -> list[tuple[str, object, torch.device]]:
    width = max(config.appb_widths)
    model, inputs, targets = _model_and_data(config, width)
    return [(f"App. B MLP width {width}: Kronecker path (analyze, true Fisher)",
             lambda: _kronecker_path(model, inputs, targets), torch.device("cpu"))]

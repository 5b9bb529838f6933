"""Case ``peers``: lcsuite against curvlinops and BackPACK on the same model and batch.

Conventions matched (float64, a BatchNorm-free MLP, mean-reduced cross-entropy on the peers'
side, which is the ``1/N`` of our ``Sx = XᵀX/N``, ``Sg = GᵀG/N``):

- factors and spectra, true Fisher: ``lcsuite.analyze(fisher="true")`` (``Sx``, ``Sg`` and
  their spectra, plus the rest of the analysis) vs curvlinops ``KFACLinearOperator``
  (``fisher_type="type-2"``: the exact loss-Hessian square root, ``Σ_c s_c s_cᵀ = diag p −
  ppᵀ``; ``kfac_approx="expand"``; factors computed, then ``eigvalsh`` of each) vs BackPACK
  ``KFLR`` (the same type-2 factors; ``extend`` of a copy, forward, backward, ``eigvalsh``).
  Each peer's timed call does the same work: factors of every layer and their spectra.
- exact curvature: ``lcsuite.conditioning.exact_curvature(fisher="true")`` vs curvlinops
  ``GGNLinearOperator`` materialised as ``GGN @ I`` (for cross-entropy the GGN is the FIM).

Agreement is checked before timing: spectra relative to ``λ_max``, matrices relative to the
largest entry, within ``config.rtol`` (1e-8); a disagreement raises
:class:`bench.agreement.AgreementError`.
"""

from __future__ import annotations

import copy
import warnings

import torch
from torch import nn

from bench import agreement
from bench.config import Config
from bench.results import CaseResult, goal
from lcsuite.timing import compare
from lcsuite import analyze
from lcsuite.conditioning import exact_curvature
from lcsuite.models import MLP

__all__ = ["run", "memory_workloads", "GOAL_RATIO", "AIM_RATIO"]

GOAL_RATIO = 1.0  # lcsuite time / peer time: no slower
AIM_RATIO = 0.5   # aim: twice as fast


def _peers():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import curvlinops
        from backpack import backpack, extend
        from backpack.extensions import KFLR
    return curvlinops, backpack, extend, KFLR


def _model_and_data(config: Config, sizes: tuple):
    in_features, depth, width, n = sizes
    torch.manual_seed(config.seed)
    model = MLP(in_features, config.num_classes, depth, width).double()
    generator = torch.Generator().manual_seed(config.seed + 1)
    inputs = torch.randn(n, in_features, generator=generator, dtype=torch.float64)
    targets = torch.randint(0, config.num_classes, (n,), generator=generator)
    return model, inputs, targets


def _layer_names(model: MLP) -> list[str]:
    return [name for name, m in model.named_modules() if isinstance(m, nn.Linear)]


def factor_functions(model: MLP, inputs: torch.Tensor, targets: torch.Tensor) -> dict:
    """name -> callable returning ``{layer: (input spectrum or factor, grad ...)}``."""
    curvlinops, backpack, extend, KFLR = _peers()
    names = _layer_names(model)
    weights = [model.get_submodule(n).weight for n in names]

    def lcsuite_analyze():
        analysis = analyze(model, inputs, targets, fisher="true")
        return {layer.name: (layer.input_spectrum, layer.grad_spectrum) for layer in analysis.layers}

    def curvlinops_kfac():
        kfac = curvlinops.KFACLinearOperator(
            model, nn.CrossEntropyLoss(reduction="mean"), weights, [(inputs, targets)],
            fisher_type="type-2", kfac_approx="expand", check_deterministic=False)
        kfac.compute_kronecker_factors()
        out = {}
        for n in names:
            a, b = kfac._input_covariances[n], kfac._gradient_covariances[n]
            out[n] = (a, b, torch.linalg.eigvalsh(a), torch.linalg.eigvalsh(b))
        return out

    def backpack_kflr():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            layers = extend(copy.deepcopy(model.layers))
            loss_function = extend(nn.CrossEntropyLoss(reduction="mean"))
            loss = loss_function(layers(inputs.flatten(1)), targets)
            with backpack(KFLR()):
                loss.backward()
        out = {}
        linears = [m for m in layers if isinstance(m, nn.Linear)]
        for n, m in zip(names, linears):
            g, a = m.weight.kflr
            out[n] = (a, g, torch.linalg.eigvalsh(a), torch.linalg.eigvalsh(g))
        return out

    return {"lcsuite analyze": lcsuite_analyze, "curvlinops KFAC": curvlinops_kfac,
            "BackPACK KFLR": backpack_kflr}


def exact_functions(model: MLP, inputs: torch.Tensor, targets: torch.Tensor) -> dict:
    curvlinops, *_ = _peers()
    weights = [model.get_submodule(n).weight for n in _layer_names(model)]
    num_params = sum(w.numel() for w in weights)

    def lcsuite_exact():
        return exact_curvature(model, inputs, fisher="true").matrix

    def curvlinops_ggn():
        ggn = curvlinops.GGNLinearOperator(model, nn.CrossEntropyLoss(reduction="mean"), weights,
                                           [(inputs, targets)], check_deterministic=False)
        return ggn @ torch.eye(num_params, dtype=torch.float64)

    return {"lcsuite exact_curvature": lcsuite_exact, "curvlinops GGN @ I": curvlinops_ggn}


def _perturbed(t: torch.Tensor, perturb: float) -> torch.Tensor:
    return t * (1.0 + perturb) if perturb else t


def check_factors(results: dict, perturb: float, rtol: float) -> dict[str, float]:
    ours = results["lcsuite analyze"]
    errors = {}
    for peer in ("curvlinops KFAC", "BackPACK KFLR"):
        for layer, (a, g, _, _) in results[peer].items():
            input_spectrum, grad_spectrum = ours[layer]
            errors[f"{peer} Sx spectrum, {layer}"] = agreement.spectral_relative_error(
                _perturbed(input_spectrum, perturb), a)
            errors[f"{peer} Sg spectrum, {layer}"] = agreement.spectral_relative_error(
                _perturbed(grad_spectrum, perturb), g)
    for layer, (a, g, _, _) in results["curvlinops KFAC"].items():
        a2, g2, _, _ = results["BackPACK KFLR"][layer]
        errors[f"curvlinops vs BackPACK A, {layer}"] = agreement.relative_error(a, a2)
        errors[f"curvlinops vs BackPACK G, {layer}"] = agreement.relative_error(g, g2)
    return agreement.check(errors, rtol)


def check_exact(results: dict, perturb: float, rtol: float) -> dict[str, float]:
    errors = {"exact_curvature vs curvlinops GGN": agreement.relative_error(
        _perturbed(results["lcsuite exact_curvature"], perturb), results["curvlinops GGN @ I"])}
    return agreement.check(errors, rtol)


def _describe(sizes: tuple) -> str:
    in_features, depth, width, n = sizes
    return f"MLP {in_features}-in {depth}x{width}, N={n}, float64"


def run(config: Config) -> CaseResult:
    rows, medians, ratios, goals, details = [], {}, {}, [], {}
    for part, sizes, make, check, ours in (
        ("factors", config.peers_mlp, factor_functions, check_factors, "lcsuite analyze"),
        ("exact", config.exact_mlp, exact_functions, check_exact, "lcsuite exact_curvature"),
    ):
        model, inputs, targets = _model_and_data(config, sizes)
        functions = make(model, inputs, targets)
        outputs = {name: fn() for name, fn in functions.items()}
        errors = check(outputs, config.perturb, config.rtol)  # raises on disagreement
        del outputs
        timings = compare(functions, config.repeats, config.warmup, config.budget_s)
        ours_time = timings[ours].median
        for name, t in timings.items():
            medians[f"{part}/{name}"] = t.median
            ratio = ours_time / t.median
            if name != ours:
                ratios[f"{part}/{ours} over {name}"] = ratio
                if part == "factors":
                    goals.append(goal(f"{ours} time / {name} time (aim {AIM_RATIO:g})", ratio,
                                      GOAL_RATIO, False))
            rows.append([part, _describe(sizes), name, t.median * 1e3,
                         None if name == ours else ratio, max(errors.values()),
                         len(t.samples)])
        details[part] = {"model": _describe(sizes), "max_relative_error": max(errors.values()),
                         "errors": errors, "timings": {k: t.to_dict() for k, t in timings.items()}}
    notes = ["true Fisher = curvlinops type-2 = BackPACK KFLR; 'ours/peer' < 1 means lcsuite "
             "is faster", "lcsuite analyze also computes magnitudes, unit masks and the "
             "weight-domination ratio (extra gradient pass + spectral norms)"]
    return CaseResult(
        "peers", "lcsuite vs curvlinops and BackPACK, same model and batch (medians, ms)",
        ["part", "model", "implementation", "median ms", "ours/peer", "max rel. err", "repeats"],
        rows, medians, ratios, goals, notes, details,
    )


def memory_workloads(config: Config) -> list[tuple[str, object, torch.device]]:
    model, inputs, targets = _model_and_data(config, config.peers_mlp)
    label = _describe(config.peers_mlp)
    return [(f"{label}: {name}", fn, torch.device("cpu"))
            for name, fn in factor_functions(model, inputs, targets).items()]

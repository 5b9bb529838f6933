"""Per-layer statistics of an :class:`~lcsuite.conditioning.Analysis` as named arrays.

A *snapshot* is ``{statistic name: float64 array (layer,)}`` taken from one analysis;
:func:`stack_snapshots` stacks snapshots taken at several checkpoints into
``(checkpoint, layer)`` arrays. Statistic names (see :data:`LAYER_STATISTICS`)::

    input/lambda_max  grad/lambda_max  fim/lambda_max      λmax of Sx, Sg, Sx ⊗ Sg
    input/kappa_p<P>  grad/kappa_p<P>  fim/kappa_p<P>      kappa_p, P a percentage (e.g. 80)
    input/magnitude   grad/magnitude                       sqrt(E‖x‖²), sqrt(E‖g‖²)
    input/zero_eigs                                        eigenvalues of Sx ≤ rtol·λmax(Sx)
    input/dying_units input/full_units                     input units never / always active
    weight_domination_ratio                                σmax(dL/dW) / σmax(W)
"""

from __future__ import annotations

from typing import Callable, Iterable, Mapping, Sequence

import numpy as np

__all__ = ["LAYER_STATISTICS", "layer_statistic", "snapshot", "stack_snapshots"]


def _zero_eigs(layer) -> float:
    spectrum = layer.input_spectrum
    top = float(spectrum[0]) if spectrum.numel() else 0.0
    if top <= 0:
        return float(spectrum.numel())
    return float((spectrum <= layer.input_rtol * top).sum())


LAYER_STATISTICS: dict[str, Callable] = {
    "input/lambda_max": lambda layer: layer.input_lambda_max,
    "grad/lambda_max": lambda layer: layer.grad_lambda_max,
    "fim/lambda_max": lambda layer: layer.lambda_max,
    "input/magnitude": lambda layer: layer.input_magnitude,
    "grad/magnitude": lambda layer: layer.grad_magnitude,
    "input/zero_eigs": _zero_eigs,
    "input/dying_units": lambda layer: float(layer.dying_units),
    "input/full_units": lambda layer: float(layer.full_units),
    "weight_domination_ratio": lambda layer: layer.weight_domination_ratio,
}
_FACTORS = ("input", "grad", "fim")


def layer_statistic(name: str) -> Callable:
    """The function ``LayerAnalysis -> float`` of a statistic name (see the module docstring)."""
    if name in LAYER_STATISTICS:
        return LAYER_STATISTICS[name]
    factor, _, rest = name.partition("/")
    if factor in _FACTORS and rest.startswith("kappa_p"):
        p = float(rest[len("kappa_p"):]) / 100.0
        return lambda layer: layer.kappa(p, factor)
    raise KeyError(f"unknown layer statistic {name!r}; known: {', '.join(LAYER_STATISTICS)}, "
                   "<input|grad|fim>/kappa_p<P>")


def snapshot(analysis, names: Iterable[str]) -> dict[str, np.ndarray]:
    """``{name: float64 array (layer,)}`` of the statistics ``names`` of every analysed layer."""
    return {name: np.asarray([layer_statistic(name)(layer) for layer in analysis.layers], dtype=np.float64)
            for name in names}


def stack_snapshots(snapshots: Sequence[Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Stack per-checkpoint snapshots into ``{name: float64 array (checkpoint, layer)}``."""
    if not snapshots:
        raise ValueError("no snapshots to stack")
    return {name: np.stack([np.asarray(s[name], dtype=np.float64) for s in snapshots]) for name in snapshots[0]}

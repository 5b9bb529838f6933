"""The monitor's history: one :class:`Checkpoint` (an :class:`~lcsuite.conditioning.Analysis`)
per recorded step, and the per-layer quantities read off it as ``(step, layer)`` arrays.

Quantity paths (also the HDF5 dataset paths of :func:`lcsuite.monitor.save.save_history`; the
DataFrame columns are the same with ``/`` replaced by ``_``):

==============================  ==============================================================
``input/lambda_max``            ``λ_max(Sx)``, the paper's magnitude of the layer input (Fig. 3a)
``grad/lambda_max``             ``λ_max(Sg)``, magnitude of the output-gradient (Fig. 3b)
``fim/lambda_max``              ``λ_max(Sx ⊗ Sg) = λ_max(Sx) λ_max(Sg)`` (Proposition 1)
``{input,grad,fim}/kappa_pNN``  ``κ_p`` for every ``p`` of the monitor's ``ps`` (NN = 100·p)
``input/magnitude``             ``sqrt(E‖x‖²) = sqrt(trace Sx)``; ``grad/magnitude`` likewise
``input/zero_eigenvalues``      eigenvalues of ``Sx`` at or below ``rtol · λ_1`` (counted as zero)
``units/dying``, ``units/full``  input units zero on every example / positive on every example
``units/total``                 input units (features, or channels of a conv)
``weight_domination_ratio``     ``σ_max(∂L/∂W) / σ_max(W)`` (Definition 1)
==============================  ==============================================================

Layers are the model's Linear/Conv2d layers in registration order; a layer not used in the
forward pass at a checkpoint has NaN there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from lcsuite.conditioning.analyze import Analysis, LayerAnalysis
from lcsuite.conditioning.spectrum import nonzero_spectrum

__all__ = ["Checkpoint", "History", "quantity_paths", "layer_quantities", "kappa_path"]

FACTORS = ("input", "grad", "fim")
_PANDAS_MISSING = ("History.to_dataframe() needs pandas, an optional dependency: "
                   "pip install 'lcsuite[monitor]' (or pip install 'pandas>=1.5')")


def kappa_path(of: str, p: float) -> str:
    """Path of ``κ_p`` of factor ``of`` (``"input"``, ``"grad"``, ``"fim"``): ``input/kappa_p80``."""
    return f"{of}/kappa_p" + f"{100 * p:g}".replace(".", "_")


def quantity_paths(ps) -> list[str]:
    """Every quantity path, in a stable order, for the generalised condition numbers ``ps``."""
    paths = [f"{of}/lambda_max" for of in FACTORS]
    paths += [kappa_path(of, p) for p in ps for of in FACTORS]
    paths += ["input/magnitude", "grad/magnitude", "input/zero_eigenvalues",
              "units/dying", "units/full", "units/total", "weight_domination_ratio"]
    return paths


def layer_quantities(layer: LayerAnalysis, ps) -> dict[str, float]:
    """One layer's quantities (see the module docstring), keyed by path."""
    values = {"input/lambda_max": layer.input_lambda_max, "grad/lambda_max": layer.grad_lambda_max,
              "fim/lambda_max": layer.lambda_max}
    for p in ps:
        for of in FACTORS:
            values[kappa_path(of, p)] = layer.kappa(p, of)
    nonzero = nonzero_spectrum(layer.input_spectrum, layer.input_rtol).numel()
    values.update({
        "input/magnitude": layer.input_magnitude, "grad/magnitude": layer.grad_magnitude,
        "input/zero_eigenvalues": float(layer.input_spectrum.numel() - nonzero),
        "units/dying": float(layer.dying_units), "units/full": float(layer.full_units),
        "units/total": float(layer.num_units),
        "weight_domination_ratio": layer.weight_domination_ratio,
    })
    return values


@dataclass
class Checkpoint:
    """The statistics of one recorded step.

    Attributes:
        step: The training step the checkpoint is labelled with (its first recorded batch).
        analysis: The same object :func:`lcsuite.analyze` returns, over the checkpoint's
            batches (``analysis.to_table()`` prints it); ``mean_loss`` is NaN when the monitor
            could not evaluate the loss (empirical Fisher without ``targets``).
        batches: Batches aggregated.
        frozen_layers: Analysed layers whose weight did not require grad at the checkpoint.
    """

    step: int
    analysis: Analysis
    batches: int = 1
    frozen_layers: tuple[str, ...] = ()


@dataclass
class History:
    """All checkpoints of a monitor, in recording order.

    Attributes:
        layer_names: The model's Linear/Conv2d layers in registration order (the layer axis).
        ps: Fractions ``p`` of the recorded ``κ_p`` quantities.
        checkpoints: One per recorded step.
    """

    layer_names: list[str]
    ps: tuple[float, ...] = (1.0, 0.8)
    checkpoints: list[Checkpoint] = field(default_factory=list)
    _cache: dict = field(default_factory=dict, init=False, repr=False)

    def append(self, checkpoint: Checkpoint) -> None:
        self.checkpoints.append(checkpoint)
        self._cache.clear()

    def __len__(self) -> int:
        return len(self.checkpoints)

    @property
    def steps(self) -> list[int]:
        return [c.step for c in self.checkpoints]

    def checkpoint(self, step: int) -> Checkpoint:
        """The checkpoint recorded at ``step``; ``KeyError`` naming the recorded steps if none."""
        for checkpoint in self.checkpoints:
            if checkpoint.step == step:
                return checkpoint
        raise KeyError(f"no checkpoint at step {step}; recorded steps: {self.steps}")

    def quantities(self) -> dict[str, np.ndarray]:
        """``{path: array (step, layer)}`` of every quantity path (NaN where a layer is absent)."""
        if "quantities" not in self._cache:
            paths = quantity_paths(self.ps)
            arrays = {path: np.full((len(self), len(self.layer_names)), np.nan) for path in paths}
            index = {name: j for j, name in enumerate(self.layer_names)}
            for i, checkpoint in enumerate(self.checkpoints):
                for layer in checkpoint.analysis.layers:
                    for path, value in layer_quantities(layer, self.ps).items():
                        arrays[path][i, index[layer.name]] = value
            self._cache["quantities"] = arrays
        return self._cache["quantities"]

    def values(self, path: str) -> np.ndarray:
        """One quantity as ``(step, layer)``; ``KeyError`` naming the known paths."""
        quantities = self.quantities()
        if path not in quantities:
            raise KeyError(f"unknown quantity {path!r}; known: {', '.join(quantities)}")
        return quantities[path]

    def to_records(self) -> list[dict]:
        """Long format: one dict per (checkpoint, analysed layer), quantities as columns."""
        quantities = self.quantities()
        rows = []
        for i, checkpoint in enumerate(self.checkpoints):
            analysis = checkpoint.analysis
            for j, name in enumerate(self.layer_names):
                if math.isnan(quantities["input/lambda_max"][i, j]):
                    continue
                row = {"step": checkpoint.step, "layer": name, "layer_index": j + 1,
                       "kind": analysis[name].kind}
                row.update({path.replace("/", "_"): float(values[i, j]) for path, values in quantities.items()})
                row.update({"num_examples": analysis.num_examples, "mean_loss": analysis.mean_loss,
                            "fisher": analysis.fisher.value, "conv_mode": analysis.conv_mode.value})
                rows.append(row)
        return rows

    def to_dataframe(self):
        """:meth:`to_records` as a ``pandas.DataFrame`` (pandas is an optional dependency)."""
        try:
            import pandas
        except ImportError:
            raise ImportError(_PANDAS_MISSING) from None
        return pandas.DataFrame.from_records(self.to_records())

"""Cost of the three conditioning analyses against MLP width (App. B.0.1).

For an MLP of ``depth`` Linear layers, all ``width`` wide (input ``width`` features, 10
classes) and ``N`` examples, three paths give λmax and the spectrum of the curvature:

- ``full``: the exact true-Fisher ``F = AᵀA / N`` over all ``P ≈ (depth−1)·width²`` weights
  formed explicitly and diagonalised (``O(N·C·P² + P³)``), the paper's naive full analysis;
- ``sub``: the same rows, each layer's block ``F_k`` formed and diagonalised;
- ``factor``: :func:`lcsuite.analyze` (true Fisher): ``Sx``, ``Sg`` from one forward and C
  backward passes, their spectra, Proposition 1 (``O(N·width² + width³)`` per layer).

``full`` and ``sub`` include computing the gradient rows (:func:`curvature_rows`). Each path is
timed in this process (``time.perf_counter``, one after the other; one untimed warm-up of each
path before the first width); the median is reported: ``repeats`` calls for ``full``/``sub``,
``FACTOR_REPEATS_MULTIPLE`` times as many for the millisecond-scale ``factor`` path, whose
single timings are the most exposed to scheduler noise. Inputs are standard normal and labels
uniform: the cost does not depend on the data's content.

The times and the speed-ups derived from them are wall-clock quantities
(:func:`lcsuite.harness.quantities.timing`): outside the bitwise reproducibility guarantee, and
compared between runs only against a tolerance given for them.
"""

from __future__ import annotations

import numpy as np
import torch

from lcsuite.conditioning import analyze, curvature_rows
from lcsuite.harness.experiments import ExperimentContext, experiment
from lcsuite.harness.quantities import timing
from lcsuite.models import MLP
from lcsuite.timing import time_calls

PATHS = ("full", "sub", "factor")
FACTOR_REPEATS_MULTIPLE = 5
CLASSES = 10  # the classifier's outputs (as MNIST's), on synthetic inputs: only the cost is measured


def _full(model, x, y):
    rows, _ = curvature_rows(model, x, y, "true")
    return torch.linalg.eigvalsh(rows.T @ rows / len(y))


def _sub(model, x, y):
    rows, slices = curvature_rows(model, x, y, "true")
    return [torch.linalg.eigvalsh(rows[:, s].T @ rows[:, s] / len(y)) for s in slices.values()]


def _factor(model, x, y):
    return [layer.fim_spectrum() for layer in analyze(model, x, y, fisher="true").layers]


def _outputs(params):
    paths = {f"time/{path}": ("width",) for path in PATHS}
    paths.update({"speedup/full": ("width",), "speedup/sub": ("width",), "num_params": ("width",),
                  "speedup/full_at_largest": (), "speedup/sub_at_largest": (), "width": ("width",)})
    return paths


@experiment("layerwise_cost", outputs=_outputs,
            params=("depth", "num_examples", "repeats", "widths",))
def layerwise_cost(ctx: ExperimentContext) -> dict:
    """Median seconds of the full / exact sub-FIM / factor paths per width; speed-ups.

    Params: widths (list), depth, num_examples, repeats. Outputs have dim ``width``;
    ``speedup/<path>`` = time of that path / time of the factor path. Times and speed-ups are
    timing quantities; ``num_params`` and ``width`` are not.
    """
    p = ctx.params
    widths, n = [int(w) for w in p["widths"]], int(p["num_examples"])
    ctx.record_data({"name": "gaussian", "split": "none", "size": n, "source": "torch.randn",
                     "substitute": True, "note": "timing only: standard normal inputs, uniform labels"})
    times = {path: [] for path in PATHS}
    params_count = []
    for index, width in enumerate(widths):
        torch.manual_seed(ctx.seed)
        model = MLP(width, CLASSES, int(p["depth"]), width, init="random").to(device=ctx.device).train()
        x = torch.randn(n, width, device=ctx.device)
        y = torch.randint(0, CLASSES, (n,), device=ctx.device)
        params_count.append(sum(m.weight.numel() for m in model.linears))
        for path, function in zip(PATHS, (_full, _sub, _factor)):
            ctx.progress(f"layerwise_cost: width {width} path {path}")
            repeats = int(p["repeats"]) * (FACTOR_REPEATS_MULTIPLE if path == "factor" else 1)
            seconds = time_calls(lambda: function(model, x, y), repeats, ctx.device, warmup=int(index == 0)).median
            times[path].append(seconds)
    out = {f"time/{path}": timing(np.asarray(v), ("width",)) for path, v in times.items()}
    factor = np.asarray(times["factor"])
    for path in ("full", "sub"):
        speedup = np.asarray(times[path]) / factor
        out[f"speedup/{path}"] = timing(speedup, ("width",))
        out[f"speedup/{path}_at_largest"] = timing(float(speedup[-1]))
    out["num_params"] = (np.asarray(params_count, dtype=np.float64), ("width",))
    out["width"] = (np.asarray(widths, dtype=np.float64), ("width",))
    return out

"""PNG figures of a monitor's history, in the style of the paper's Fig. 3 and 5.

For each quantity one figure with two panels:

- over steps: one curve per layer (colour from the first layer, dark, to the last, light),
  log y, as the paper draws ``λ_max`` and ``κ`` along training;
- across layers: one curve per checkpoint (first dashed, last solid), log y, the profile
  along which the diagnosis rules look for exponential trends.

matplotlib is an optional dependency (``pip install 'lcsuite[plots]'``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lcsuite.monitor.history import History, kappa_path

__all__ = ["plot_history", "figure_labels"]

_MATPLOTLIB_MISSING = ("Monitor.plot() needs matplotlib, an optional dependency: "
                       "pip install 'lcsuite[plots]' (or pip install 'matplotlib>=3.7')")


def figure_labels(ps) -> dict[str, str]:
    """``{quantity path: axis label}`` of the figures drawn for the fractions ``ps``."""
    labels = {"input/lambda_max": r"$\lambda_{max}(\Sigma_x)$",
              "grad/lambda_max": r"$\lambda_{max}(\Sigma_{\nabla h})$",
              "fim/lambda_max": r"$\lambda_{max}(\Sigma_x \otimes \Sigma_{\nabla h})$"}
    symbols = {"input": r"\Sigma_x", "grad": r"\Sigma_{\nabla h}", "fim": r"\Sigma_x \otimes \Sigma_{\nabla h}"}
    for p in ps:
        for of, symbol in symbols.items():
            labels[kappa_path(of, p)] = rf"$\kappa_{{{100 * p:g}\%}}({symbol})$"
    labels["weight_domination_ratio"] = r"$\sigma_{max}(\partial L/\partial W) / \sigma_{max}(W)$"
    labels["units/dying"] = "dying units"
    return labels


def _positive_log_axis(ax, values: np.ndarray) -> None:
    finite = values[np.isfinite(values)]
    if finite.size and np.all(finite > 0):
        ax.set_yscale("log")


def _draw(history: History, path: str, label: str, filename: Path) -> None:
    import matplotlib
    from matplotlib.figure import Figure

    values = history.values(path)  # (step, layer)
    steps = np.asarray(history.steps)
    fig = Figure(figsize=(10, 3.8))  # no pyplot: the caller's backend and figures are untouched
    over_steps, across_layers = fig.subplots(1, 2)
    colours = matplotlib.colormaps["viridis"](np.linspace(0.0, 0.9, values.shape[1]))
    for j, name in enumerate(history.layer_names):
        over_steps.plot(steps, values[:, j], "-o", markersize=2, color=colours[j],
                        label=f"{j + 1}: {name}" if values.shape[1] <= 12 else None)
    over_steps.set_xlabel("step")
    over_steps.set_ylabel(label)
    if values.shape[1] <= 12:
        over_steps.legend(fontsize=6)
    layers = np.arange(1, values.shape[1] + 1)
    shown = sorted({0, len(steps) - 1})
    for i in shown:
        style = "--" if i == 0 and len(shown) > 1 else "-"
        across_layers.plot(layers, values[i], style, marker="o", markersize=3, label=f"step {steps[i]}")
    across_layers.set_xlabel("layer")
    across_layers.legend(fontsize=7)
    for ax in (over_steps, across_layers):
        _positive_log_axis(ax, values)
    fig.tight_layout()
    fig.savefig(filename, dpi=90)


def plot_history(history: History, folder) -> list[Path]:
    """Write one PNG per quantity of :func:`figure_labels` into ``folder``; returns the paths.

    Raises:
        ImportError: matplotlib is not installed (the message says how to get it).
        ValueError: The history is empty.
    """
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ImportError(_MATPLOTLIB_MISSING) from None
    if not len(history):
        raise ValueError("nothing to plot: the monitor recorded no checkpoint")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for path, label in figure_labels(history.ps).items():
        filename = folder / (path.replace("/", "_") + ".png")
        _draw(history, path, label, filename)
        written.append(filename)
    return written

"""Layer-wise and depth-trend figures, chosen from a quantity's dimension names and path.

The choice is a small explicit table, :data:`FIGURE_KINDS`, tried in order; the first kind
whose rule accepts a quantity's ``dims`` (and name) draws it:

========================  ===========================================  ====================
kind                      rule                                         e.g. huang2020
========================  ===========================================  ====================
``per_layer``             a ``layer`` dim (plus ``seed``/``step``)     Fig. 1-5, A5-A13
``loss_by_depth``         ``depth`` and ``step`` dims, "loss" in name  Fig. 6a, 8
``depth_trend``           a ``depth`` dim (plus ``seed``/``step``)     Fig. 6b-d, 7
``loss_curve``            a ``step`` dim, "loss" in name               Fig. 3c, 4, A7c
========================  ===========================================  ====================

Quantities that share everything but their first path component (``plain/input/kappa_p80``
and ``bn/input/kappa_p80``) are drawn in one figure, one line per first component, so that
variants (e.g. Plain and BN) sit side by side. Items of one claim that differ in a numeric
``depth`` parameter (or a one-element ``depths`` list: a claim split by depth at a tier) also
get a depth-trend figure per headline number. Anything else is
listed in a table only. Lines show the median over seeds, shaded between min and max.
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

import numpy as np

from lcsuite.harness.quantities import SEED
from lcsuite.format import fmt_number

MAX_FIGURES_PER_CLAIM = 60
"""Beyond this, quantities are listed in the table instead (keeps reports readable)."""


def _is_loss(name: str) -> bool:
    return "loss" in name.lower()


def canonical_dims(dims, synonyms: Mapping[str, str] | None = None) -> list[str]:
    """``dims`` with a paper's dim synonyms applied (e.g. ``checkpoint`` → ``step``)."""
    synonyms = synonyms or {}
    return [synonyms.get(d, d) for d in dims]


def _dims_within(dims, allowed) -> bool:
    return set(dims) <= set(allowed)


@dataclass(frozen=True)
class FigureKind:
    """A plot kind and the rule that selects it from ``(name, dims)``."""

    name: str
    accepts: Callable[[str, list[str]], bool]


FIGURE_KINDS: tuple[FigureKind, ...] = (
    FigureKind("per_layer", lambda n, d: "layer" in d and _dims_within(d, (SEED, "layer", "step"))),
    FigureKind(
        "loss_by_depth",
        lambda n, d: _is_loss(n) and {"depth", "step"} <= set(d)
        and _dims_within(d, (SEED, "depth", "step")),
    ),
    FigureKind("depth_trend", lambda n, d: "depth" in d and _dims_within(d, (SEED, "depth", "step"))),
    FigureKind("loss_curve", lambda n, d: _is_loss(n) and "step" in d and _dims_within(d, (SEED, "step"))),
)


def figure_kind(name: str, dims: list[str], synonyms: Mapping[str, str] | None = None) -> str | None:
    """The first kind in :data:`FIGURE_KINDS` that accepts the quantity (its dims read through
    the paper's ``synonyms``), or ``None``."""
    dims = canonical_dims(dims, synonyms)
    for kind in FIGURE_KINDS:
        if kind.accepts(name, dims):
            return kind.name
    return None


def pretty_label(name: str) -> str:
    """Axis label in the paper's notation for common quantity names."""
    leaf = name.split("/")[-1]
    match = re.fullmatch(r"kappa_p(\d+)", leaf)
    if match:
        return rf"$\kappa_{{{match.group(1)}\%}}$"
    if leaf in ("kappa", "kappa_p100"):
        return r"$\kappa$"
    if leaf.startswith("lambda_max"):
        return r"$\lambda_{max}$" + leaf[len("lambda_max"):].replace("_", " ")
    return leaf.replace("_", " ")


def _split_variant(path: str) -> tuple[str, str]:
    """``("plain", "input/kappa_p80")`` for ``plain/input/kappa_p80``; ``("", path)`` if flat."""
    head, sep, tail = path.partition("/")
    return (head, tail) if sep else ("", path)


def _seed_axis_first(values: np.ndarray, dims: list[str]) -> np.ndarray:
    """Values as ``(seed, ...)``, adding a seed axis of length 1 when there is none."""
    values = np.asarray(values, dtype=float)
    if SEED in dims:
        return np.moveaxis(values, dims.index(SEED), 0)
    return values[None, ...]


def _other_dims(dims: list[str]) -> list[str]:
    return [d for d in dims if d != SEED]


def _summary(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Median, min and max over the leading seed axis, ignoring non-finite values."""
    finite = np.where(np.isfinite(values), values, np.nan)
    with np.errstate(all="ignore"), _quiet_nan_warnings():
        return (
            np.nanmedian(finite, axis=0),
            np.nanmin(finite, axis=0),
            np.nanmax(finite, axis=0),
        )


class _quiet_nan_warnings:
    def __enter__(self):
        import warnings

        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        return self._ctx.__exit__(*exc)


def _use_log_scale(arrays) -> bool:
    values = np.concatenate([np.ravel(a) for a in arrays]) if arrays else np.array([])
    values = values[np.isfinite(values)]
    return values.size > 0 and bool(np.all(values > 0)) and values.max() / values.min() > 20


def _plot_line(ax, x, median, low, high, label, style="-", color=None):
    (line,) = ax.plot(x, median, style, marker="o", markersize=3, label=label, color=color)
    if np.any(np.isfinite(low)) and not np.allclose(low, high, equal_nan=True):
        ax.fill_between(x, low, high, color=line.get_color(), alpha=0.2, linewidth=0)
    return line.get_color()


def _integer_x(ax) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _depth_axis(params: dict, n: int) -> tuple[np.ndarray, str]:
    depths = params.get("depths")
    if isinstance(depths, list) and len(depths) == n and all(isinstance(d, (int, float)) for d in depths):
        return np.asarray(depths, dtype=float), "depth"
    return np.arange(n, dtype=float), "depth index"


def _draw_series(ax, kind: str, label: str, values: np.ndarray, dims: list[str], params: dict):
    """Draw one quantity (seed axis first) on ``ax`` according to ``kind``."""
    rest = _other_dims(dims)
    if kind == "per_layer":
        # (seed, layer[, step]): layers on x; with steps, first and last record as in Fig. 5.
        if "step" in rest:
            values = np.moveaxis(values, 1 + rest.index("step"), -1)
            steps = [(0, "first record", "--"), (values.shape[-1] - 1, "last record", "-")]
            if values.shape[-1] == 1:
                steps = steps[1:]
            color = None
            for index, when, style in steps:
                median, low, high = _summary(values[..., index])
                color = _plot_line(ax, np.arange(1, median.size + 1), median, low, high,
                                   f"{label} ({when})".strip(), style, color)
        else:
            median, low, high = _summary(values)
            _plot_line(ax, np.arange(1, median.size + 1), median, low, high, label or None)
        ax.set_xlabel("layer")
        _integer_x(ax)
    elif kind == "loss_curve":
        median, low, high = _summary(values)
        _plot_line(ax, np.arange(median.size), median, low, high, label or None)
        ax.set_xlabel("recorded step")
    elif kind == "loss_by_depth":
        values = np.moveaxis(values, [1 + rest.index("depth"), 1 + rest.index("step")], [1, 2])
        depths, _ = _depth_axis(params, values.shape[1])
        for j in range(values.shape[1]):
            median, low, high = _summary(values[:, j, :])
            name = f"depth {depths[j]:g}" if "depths" in params else f"depth #{j}"
            _plot_line(ax, np.arange(median.size), median, low, high, f"{label} {name}".strip())
        ax.set_xlabel("recorded step")
    elif kind == "depth_trend":
        if "step" in rest:  # the last record, where the paper reads off the trend
            values = np.take(values, -1, axis=1 + rest.index("step"))
        median, low, high = _summary(values)
        x, xlabel = _depth_axis(params, median.size)
        _plot_line(ax, x, median, low, high, label or None)
        ax.set_xlabel(xlabel)
        _integer_x(ax)


def _save(fig, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "figure"


@dataclass
class _Sheet:
    """The figures of one claim: drawn into ``figures_dir``, linked relative to ``report_dir``."""

    claim_id: str
    figures_dir: Path
    report_dir: Path
    links: list[tuple[str, str]]
    unplotted: list[list[str]]

    def emit(self, title: str, filename: str, draw) -> bool:
        """Draw one figure with ``draw(ax) -> arrays``; False when it cannot or should not be drawn."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        if len(self.links) >= MAX_FIGURES_PER_CLAIM:
            return False
        fig, ax = plt.subplots(figsize=(5.0, 3.4))
        try:
            try:
                arrays = draw(ax)
            except (ValueError, IndexError, TypeError):
                return False  # data that does not fit the kind's shape: listed in the table
            if not any(np.isfinite(np.asarray(line.get_ydata(), dtype=float)).any() for line in ax.lines):
                return False
            _finish(ax, title, arrays)
            path = self.figures_dir / filename
            _save(fig, path)
            self.links.append((title, Path(os.path.relpath(path, self.report_dir)).as_posix()))
            return True
        finally:
            plt.close(fig)


def _finish(ax, title: str, arrays) -> None:
    if _use_log_scale(arrays):
        ax.set_yscale("log")
    ax.set_title(title, fontsize=9)
    if any(line.get_label() and not line.get_label().startswith("_") for line in ax.lines):
        ax.legend(fontsize=7)


def _groups(claim_id: str, items: list, paper, unplotted: list) -> dict[tuple, list]:
    """Quantities grouped into figures: loss curves of all items share one; every other kind is
    drawn per item with its variants (Plain/BN, ...) overlaid, labelled in the paper's words."""
    groups: dict[tuple, list] = defaultdict(list)
    for item in items:
        for path, quantity in item.quantities.items():
            kind = figure_kind(path, list(quantity.dims), paper.dim_synonyms)
            values = np.asarray(quantity.values)
            if kind is None or values.size == 0 or not np.issubdtype(values.dtype, np.number):
                unplotted.append(_table_row(item.item, path, quantity))
                continue
            variant, tail = _split_variant(path)
            owner = "" if kind == "loss_curve" and len(items) > 1 else item.item
            label = paper.labels.get(variant, variant)
            if not owner and len(items) > 1:
                label = f"{item.item} {label}".strip()
            dims = tuple(canonical_dims(quantity.dims, paper.dim_synonyms))
            groups[(owner, kind, tail, dims)].append((label, item, path, quantity))
    return groups


def _group_drawer(kind: str, tail: str, members: list, synonyms: Mapping[str, str]):
    def draw(ax):
        arrays = []
        for label, item, _, quantity in members:
            dims = canonical_dims(quantity.dims, synonyms)
            values = _seed_axis_first(quantity.values, dims)
            _draw_series(ax, kind, label, values, [SEED, *_other_dims(dims)], item.params)
            arrays.append(values)
        ax.set_ylabel(pretty_label(tail))
        return arrays
    return draw


def claim_figures(claim_id: str, items: list, figures_dir: Path, report_dir: Path, paper):
    """Draw the figures of one claim; return ``(links, unplotted_rows)``.

    ``paper`` gives the vocabulary (``labels``, ``dim_synonyms``). ``links`` are ``(title,
    relative path from report_dir)``; ``unplotted_rows`` are table rows ``[item, quantity, dims,
    shape, mean, min, max]`` for quantities without a figure.
    """
    sheet = _Sheet(claim_id, figures_dir, report_dir, [], [])
    for (owner, kind, tail, _), members in _groups(claim_id, items, paper, sheet.unplotted).items():
        title = f"{owner or claim_id}: {tail} ({kind.replace('_', ' ')})"
        draw = _group_drawer(kind, tail, members, paper.dim_synonyms)
        if not sheet.emit(title, _safe(f"{owner or 'all_items'}__{tail}__{kind}") + ".png", draw):
            sheet.unplotted.extend(_table_row(i.item, p, q) for _, i, p, q in members)
    _depth_param_trends(claim_id, items, sheet.emit)
    return sheet.links, sheet.unplotted


def _item_depth(params: dict) -> float | None:
    """An item's own depth: a numeric ``depth`` parameter, or a ``depths`` list of one (an item of
    a claim split by depth, as the ResNet tables are at the paper tier); else None."""
    depth = params.get("depth")
    if depth is None and isinstance(params.get("depths"), list) and len(params["depths"]) == 1:
        depth = params["depths"][0]
    return float(depth) if isinstance(depth, (int, float)) and not isinstance(depth, bool) else None


def _depth_param_trends(claim_id: str, items: list, emit) -> None:
    """Headline numbers against the items' own depths (:func:`_item_depth`), where they vary."""
    with_depth = [i for i in items if _item_depth(i.params) is not None]
    if len({_item_depth(i.params) for i in with_depth}) < 2:
        return
    names = list(dict.fromkeys(n for i in with_depth for n in i.headline))
    for name in names:
        series: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for item in with_depth:
            if name in item.headline:
                others = {k: v for k, v in item.params.items() if k != "depth" and not isinstance(v, (list, dict))}
                label = ", ".join(f"{k}={v}" for k, v in sorted(others.items()))
                series[label].append((_item_depth(item.params), item.headline[name]))

        def draw(ax, series=series, name=name):
            arrays = []
            for label, points in sorted(series.items()):
                points.sort()
                x = np.array([p[0] for p in points])
                y = np.array([p[1] for p in points], dtype=float)
                ax.plot(x, y, "-o", markersize=3, label=label or None)
                arrays.append(y)
            ax.set_xlabel("depth")
            ax.set_ylabel(pretty_label(name))
            return arrays

        emit(f"{claim_id}: {name} vs depth", _safe(f"depth_trend__{name}") + ".png", draw)


def _table_row(item_name: str, path: str, quantity) -> list[str]:
    values = np.asarray(quantity.values)
    if values.size and np.issubdtype(values.dtype, np.number):
        finite = values[np.isfinite(values)] if np.issubdtype(values.dtype, np.floating) else values
        stats = [fmt_number(finite.mean()), fmt_number(finite.min()), fmt_number(finite.max())] if finite.size else ["nan"] * 3
    else:
        stats = ["—"] * 3
    return [item_name, path, ", ".join(quantity.dims), "×".join(map(str, values.shape)), *stats]

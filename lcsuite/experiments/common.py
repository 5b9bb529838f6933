"""Helpers shared by several experiments: data loading through the context (with provenance)
and per-layer statistic snapshots as named arrays.

Data
----
:func:`load_mnist` / :func:`load_mnist_train_test` resolve MNIST (or its labelled substitute)
from ``ctx.data_root`` and record the provenance on ``ctx``; :func:`load_cifar_train_test` does
the same for CIFAR-10/100 (disjoint train and test parts). What they refuse is the claim's
decision (:func:`data_policy`): a claim that requires real data gets neither a substitute nor
unverified files, unless the user passed the override for the latter, which the provenance
then records.

Per-layer statistics
--------------------
A *snapshot* is ``{statistic name: float64 array (layer,)}`` taken from one
:class:`lcsuite.conditioning.Analysis`; :func:`stack_snapshots` stacks snapshots taken at
several checkpoints into ``(checkpoint, layer)`` arrays. Statistic names (see
:data:`LAYER_STATISTICS`)::

    input/lambda_max  grad/lambda_max  fim/lambda_max      λmax of Sx, Sg, Sx ⊗ Sg
    input/kappa_p<P>  grad/kappa_p<P>  fim/kappa_p<P>      kappa_p, P a percentage (e.g. 80)
    input/magnitude   grad/magnitude                       sqrt(E‖x‖²), sqrt(E‖g‖²)
    input/zero_eigs                                        eigenvalues of Sx ≤ rtol·λmax(Sx)
    input/dying_units input/full_units                     input units never / always active
    weight_domination_ratio                                σmax(dL/dW) / σmax(W)
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np

from lcsuite.experiments import ExperimentContext

__all__ = [
    "LAYER_STATISTICS",
    "hypothesis_examples",
    "load_cifar_train_test",
    "layer_statistic",
    "load_mnist",
    "load_mnist_train_test",
    "snapshot",
    "stack_snapshots",
    "cpu_threads",
    "data_policy",
]


# --- data -------------------------------------------------------------------------------------


def data_policy(ctx: ExperimentContext) -> dict[str, bool]:
    """The loaders' ``allow_substitute`` / ``allow_unverified`` for this claim: both unless it
    requires real data; unverified files also when the user passed the override."""
    return dict(allow_substitute=not ctx.requires_real_data,
                allow_unverified=(not ctx.requires_real_data) or ctx.allow_unverified)


def _note_override(ctx: ExperimentContext, data):
    """``data``, its provenance noting when unverified files are used only by the user's override."""
    from lcsuite.data import ALLOW_UNVERIFIED_OPTION

    if ctx.requires_real_data and data.provenance.status == "unverified":
        data.provenance = data.provenance.with_note(
            f"unverified files used because the run passed {ALLOW_UNVERIFIED_OPTION}")
    return data


def load_mnist(ctx: ExperimentContext, *, split: str = "train", limit: int | None = None,
               image_size: int | None = None, standardize: bool | tuple[float, float] = False):
    """MNIST ``split`` (or the digits substitute, where the claim allows), provenance recorded on ctx.

    Returns:
        :class:`lcsuite.data.Dataset`, inputs ``(N, 1, S, S)`` float32 (S = 28 for MNIST, 8 for
        the substitute unless ``image_size``), targets ``(N,)``; first ``limit`` examples.
    """
    from lcsuite.data import resolve_mnist

    data = resolve_mnist(ctx.data_root, split=split, image_size=image_size, standardize=standardize,
                         limit=limit, download=ctx.download, **data_policy(ctx))
    data = _note_override(ctx, data)
    ctx.record_data(data.provenance.to_dict())
    return data


def load_mnist_train_test(ctx: ExperimentContext, *, test_fraction: float, limit: int | None = None,
                          split_seed: int = 0, image_size: int | None = None,
                          standardize: bool | tuple[float, float] = False):
    """The first ``limit`` examples of MNIST's train split (or what resolves in its place),
    split deterministically (permutation seeded by ``split_seed``) into held-out parts.

    Both parts' provenances (which name the split) are recorded on ctx.

    Returns:
        ``(train, test)`` :class:`lcsuite.data.Dataset` pair.
    """
    from lcsuite.data import resolve_mnist

    data = resolve_mnist(ctx.data_root, split="train", image_size=image_size, standardize=standardize,
                         limit=limit, download=ctx.download, **data_policy(ctx))
    train, test = _note_override(ctx, data).split(test_fraction, seed=split_seed)
    ctx.record_data(train.provenance.to_dict())
    ctx.record_data(test.provenance.to_dict())
    return train, test


# --- per-layer statistics ---------------------------------------------------------------------


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
_FACTOR_NAMES = {"input": "input", "grad": "grad", "fim": "fim"}


def layer_statistic(name: str) -> Callable:
    """The function ``LayerAnalysis -> float`` of a statistic name (see the module docstring)."""
    if name in LAYER_STATISTICS:
        return LAYER_STATISTICS[name]
    factor, _, rest = name.partition("/")
    if factor in _FACTOR_NAMES and rest.startswith("kappa_p"):
        p = float(rest[len("kappa_p"):]) / 100.0
        return lambda layer: layer.kappa(p, _FACTOR_NAMES[factor])
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
    return {name: np.stack([np.asarray(s[name], dtype=np.float64) for s in snapshots])
            for name in snapshots[0]}


# --- CIFAR data -------------------------------------------------------------------------------


def load_cifar_train_test(ctx: ExperimentContext, *, train_size: int | None, test_size: int | None,
                          num_classes: int = 10, image_size: int | None = None):
    """CIFAR-10/100's train and test splits (or the labelled substitute, where the claim allows).

    Real data: the first ``train_size`` / ``test_size`` examples of the official splits. The
    substitute draws its train and test splits from separate random streams, so the two parts
    never share an example; a size of 0 skips that part (returned as None). ``image_size`` (e.g. 16) area-downsamples both parts (32 -> S);
    the provenance notes say so. Both provenances are recorded on ctx.

    Returns:
        ``(train, test)`` :class:`lcsuite.data.Dataset` pair, inputs ``(N, 3, S, S)`` float32
        (S = 32 unless ``image_size``), targets ``(N,)`` int64.
    """
    from lcsuite.data import resolve_cifar
    from lcsuite.data.preprocess import resize

    parts = []
    for split, size in (("train", train_size), ("test", test_size)):
        if size == 0:  # this part is not needed
            parts.append(None)
            continue
        data = resolve_cifar(ctx.data_root, num_classes=num_classes, split=split, limit=size,
                             substitute_size=size, seed=0, download=ctx.download, **data_policy(ctx))
        data = _note_override(ctx, data)
        if image_size is not None and image_size != data.inputs.shape[-1]:
            data.inputs = resize(data.inputs, image_size).contiguous()
            data.provenance = data.provenance.with_note(
                f"area-downsampled to {image_size}x{image_size} to fit the tier's budget")
        ctx.record_data(data.provenance.to_dict())
        parts.append(data)
    return parts[0], parts[1]


# --- property-based sampling ------------------------------------------------------------------


def hypothesis_examples(strategy, count: int, seed: int, max_rounds: int = 100) -> list:
    """``count`` examples drawn from a hypothesis ``strategy``, reproducibly from ``seed``.

    Runs a ``@given(strategy)`` function inside the experiment (generate phase only, no example
    database, no deadline, health checks off) that stores every example it is called with, so
    hypothesis' search (boundary values first, then random draws) picks the instances while the
    measurement stays outside it. Hypothesis may stop a run early when it judges the space
    exhausted; further runs with derived seeds then fill up to ``count``.

    Args:
        strategy: a ``hypothesis.strategies`` strategy.
        count: number of examples returned (the list always has exactly this length, so
            per-example arrays of different seeds stack).
        seed: seeds hypothesis' random stream (``hypothesis.seed``); same seed, same examples.
        max_rounds: runs tried before giving up with ``RuntimeError``.
    """
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hypothesis_seed

    examples: list = []
    for round_index in range(max_rounds):
        if len(examples) >= count:
            break

        @settings(max_examples=count - len(examples), database=None, deadline=None, derandomize=False,
                  phases=[Phase.generate], suppress_health_check=list(HealthCheck), print_blob=False)
        @hypothesis_seed(int(seed) * 1_000_003 + round_index)
        @given(strategy)
        def collect(example):
            examples.append(example)

        collect()
    if len(examples) < count:
        raise RuntimeError(f"hypothesis produced {len(examples)} of {count} examples in {max_rounds} runs")
    return examples[:count]


@contextlib.contextmanager
def cpu_threads(count: int = 1):
    """Run the block with ``count`` CPU threads in torch and in the BLAS/OpenMP pools (numpy's
    ``eigvalsh``), restoring the previous counts after.

    For experiments made of many tiny tensor operations (small matrices, tiny networks): there
    a parallel region costs more than it saves, and on a loaded machine its threads wait on each
    other, making the run many times slower and its time erratic.
    """
    import torch
    from threadpoolctl import threadpool_limits  # a scikit-learn dependency

    previous = torch.get_num_threads()
    torch.set_num_threads(int(count))
    try:
        with threadpool_limits(limits=int(count)):
            yield
    finally:
        torch.set_num_threads(previous)

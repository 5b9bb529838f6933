"""Experiments: the named measurement functions that claim files refer to, and their context.

An experiment is a plain function registered in :data:`EXPERIMENTS` under a name::

    from lcsuite.harness.experiments import ExperimentContext, experiment

    @experiment("kronecker_spectrum", outputs={"lambda_max/rel_err": ("pair",)}, params=("pairs",))
    def kronecker_spectrum(ctx: ExperimentContext) -> dict:
        rng = ctx.rng()
        ...
        return {"lambda_max/rel_err": (errors, ("pair",))}

Contract
--------
- It is called once per seed with an :class:`ExperimentContext` (merged params, seed, tier,
  device, data policy). The harness seeds Python's, numpy's and torch's generators from the seed
  before the call and fixes the threads (:mod:`lcsuite.harness.determinism`).
- It returns ``dict[str, value]`` mapping a quantity path (``"bn/input/kappa_p80"``) to a number,
  an array (or a CPU tensor), a tuple ``(array, dims)`` naming each axis, or a
  :class:`~lcsuite.harness.quantities.Quantity` (e.g. :func:`~lcsuite.harness.quantities.timing`).
  Unnamed axes are called ``d0, d1, ...`` unless declared. Seeds are stacked as the leading
  ``seed`` dimension.
- ``outputs`` declares the quantity paths and their dims (without ``seed``), as a mapping or a
  function of the params; claim files naming a missing path or dim are then rejected at
  collection. ``params`` names the parameters it reads; a claim setting any other is rejected.
- ``registry_params`` names the parameters whose value is the name of a registry entry (or a
  list of names), with the registry, e.g. ``{"model": MODELS, "dataset": DATASETS}``: a claim
  file naming a model or a data set that is not registered is rejected at collection.
- Data comes through :meth:`ExperimentContext.dataset`, which applies the claim's data policy and
  records the provenance that is stored with the result.

Experiments come from plugins (:mod:`lcsuite.registry`): a paper package registers its own when
imported; the entry point group is ``lcsuite.experiments``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from lcsuite.harness.enums import Tier
from lcsuite.registry import Registry, UnknownName

__all__ = ["EXPERIMENTS", "Experiment", "ExperimentContext", "UnknownName", "experiment", "get_experiment"]

OutputsSpec = Mapping[str, tuple] | Callable[[Mapping[str, Any]], Mapping[str, tuple]]


@dataclass
class ExperimentContext:
    """What an experiment gets for one seed of one claim item.

    Attributes:
        params: merged parameters (claim ``[params]`` < ``[tier.X]`` < grid point).
        seed: the seed of this call (``ctx.rng()`` gives a numpy Generator seeded by it).
        tier: ``"smoke"``, ``"gpu"`` or ``"paper"``.
        device: torch device string to compute on (``"cpu"`` or ``"cuda"``).
        data_root: the data folder named by the user (``--lc-data``), or None (``$LCSUITE_DATA``).
        download: whether loaders may download missing data (``--lc-download``).
        requires_real_data: the claim refuses substitute data sets and unverified files.
        allow_unverified: the user's recorded override (``--lc-allow-unverified``).
    """

    params: dict[str, Any]
    seed: int
    tier: str = Tier.SMOKE
    device: str = "cpu"
    data_root: Path | None = None
    download: bool = False
    requires_real_data: bool = False
    allow_unverified: bool = False
    progress_callback: Callable[[str], None] | None = None
    data: list[dict[str, Any]] = field(default_factory=list)
    saved: dict[str, Any] = field(default_factory=dict)

    def progress(self, message: str) -> None:
        """Report progress of long work (shown with ``-v``/``-s``; never required)."""
        if self.progress_callback is not None:
            self.progress_callback(message)

    def record_data(self, provenance: Mapping[str, Any]) -> None:
        """Record a data set's provenance (once per distinct one); stored with the result."""
        entry = dict(provenance)
        if entry not in self.data:
            self.data.append(entry)

    def dataset(self, name: str, *, record: bool = True, **options):
        """The data set registered as ``name`` (:data:`lcsuite.data.DATASETS`), under this claim's
        data policy: substitutes and unverified files only where the claim allows them (or the
        user's override allows unverified files, which the provenance then notes).

        ``options`` go to the data set's resolver (``split``, ``limit``, ...). The provenance is
        recorded unless ``record`` is False (record the parts you use instead).
        """
        from lcsuite.data.registry import load_dataset

        data = load_dataset(name, self.data_root, requires_real_data=self.requires_real_data,
                            allow_unverified=self.allow_unverified, download=self.download, **options)
        if record:
            self.record_data(data.provenance.to_dict())
        return data

    def save(self, path: str, value: Any, dims: tuple[str, ...] | None = None) -> None:
        """Store a quantity now, so it is kept even if the experiment fails later.

        Returned quantities of the same path override saved ones.
        """
        self.saved[path] = value if dims is None else (value, tuple(dims))

    def rng(self):
        """A numpy Generator seeded by this call's seed."""
        import numpy as np

        return np.random.default_rng(self.seed)


@dataclass(frozen=True)
class Experiment:
    """A registered experiment: its name, function, declared outputs and parameters, and the
    parameters that name registry entries (``{parameter: registry}``)."""

    name: str
    function: Callable[[ExperimentContext], Mapping[str, Any]]
    outputs: OutputsSpec | None = None
    params: tuple[str, ...] | None = None
    registry_params: Mapping[str, Registry] = field(default_factory=dict)

    def declared_outputs(self, params: Mapping[str, Any]) -> dict[str, tuple[str, ...]] | None:
        """The declared ``{path: dims}`` (dims without ``seed``) for these params, or None."""
        if self.outputs is None:
            return None
        spec = self.outputs(params) if callable(self.outputs) else self.outputs
        return {path: tuple(dims) for path, dims in spec.items()}

    def __call__(self, ctx: ExperimentContext) -> Mapping[str, Any]:
        return self.function(ctx)


EXPERIMENTS: Registry = Registry("experiment", "lcsuite.experiments")
"""Experiment name → :class:`Experiment` (entry point group ``lcsuite.experiments``)."""


def experiment(name: str, outputs: OutputsSpec | None = None, params: tuple[str, ...] | None = None,
               registry_params: Mapping[str, Registry] | None = None):
    """Decorator registering ``function(ctx) -> dict`` as experiment ``name`` (see the module docstring)."""

    def register(function):
        EXPERIMENTS.register(name, Experiment(name, function, outputs, tuple(params) if params is not None else None,
                                              dict(registry_params or {})),
                             owner=function.__module__)
        return function

    return register


def get_experiment(name: str) -> Experiment:
    """The experiment registered as ``name`` (loading plugins on a miss); else :class:`UnknownName`."""
    return EXPERIMENTS.get(name)

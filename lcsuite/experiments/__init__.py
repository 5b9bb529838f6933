"""The experiment registry: named measurement functions that claim files refer to.

An experiment is a plain function registered under a name::

    from lcsuite.experiments import ExperimentContext, experiment

    @experiment("kronecker_spectrum", outputs={"lambda_max/rel_err": ("pair",)})
    def kronecker_spectrum(ctx: ExperimentContext) -> dict:
        rng = ctx.rng()
        ...
        return {"lambda_max/rel_err": (errors, ("pair",)), "pairs": 200}

Contract
--------
- It is called once per seed with an :class:`ExperimentContext` (merged params, seed, tier,
  device, data root, progress and provenance callbacks).
- It returns ``dict[str, value]`` mapping a quantity path (``"bn/input/kappa_p80"``) to a
  number, a numpy array (or anything ``np.asarray`` accepts, e.g. a CPU tensor), or a tuple
  ``(array, dims)`` naming each axis. Unnamed axes are called ``d0, d1, ...`` unless the
  experiment declared them. The harness stacks seeds as the leading ``seed`` dimension.
- ``outputs`` (optional) declares the quantity paths and their dims (without ``seed``), either
  as a mapping or as a function of the merged params returning one. With it, claim files that
  name a missing path or dim are rejected at collection time; without it, at run time.
- Data loaders' provenance goes to ``ctx.record_data(provenance)``; it is stored with the result.

Where experiments come from (imported lazily, on first lookup of an unknown name):
1. modules named in ``LCSUITE_EXPERIMENT_MODULES`` (``os.pathsep``- or comma-separated module
   names or ``.py`` file paths), e.g. a user's own experiments or test toys;
2. the entry point group ``lcsuite.experiments`` (each entry point names a module);
3. every module in this package (``lcsuite/experiments/*.py``).
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import os
import pkgutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

__all__ = [
    "Experiment",
    "ExperimentContext",
    "UnknownExperiment",
    "experiment",
    "get_experiment",
    "registered_experiments",
    "registered_modules",
    "ENV_MODULES",
    "ENTRY_POINT_GROUP",
]

ENV_MODULES = "LCSUITE_EXPERIMENT_MODULES"
ENTRY_POINT_GROUP = "lcsuite.experiments"

OutputsSpec = Mapping[str, tuple] | Callable[[Mapping[str, Any]], Mapping[str, tuple]]


@dataclass
class ExperimentContext:
    """What an experiment gets for one seed of one claim item.

    Attributes:
        params: merged parameters (claim ``[params]`` < ``[tier.X]`` < grid point).
        seed: the seed of this call; seed everything from it (``ctx.rng()``, ``ctx.manual_seed()``).
        tier: ``"smoke"``, ``"gpu"`` or ``"paper"``.
        device: torch device string to compute on (``"cpu"`` or ``"cuda"``).
        data_root: directory holding data sets (``--lc-data`` / ``LCSUITE_DATA``), or None.
        download: whether loaders may download missing data (``--lc-download``).
        requires_real_data: the claim refuses substitute data sets and unverified files;
            loaders should raise.
        allow_unverified: the user's override (``--lc-allow-unverified``): real data whose files
            do not match the published digests is used even where ``requires_real_data``; the
            provenance records it.
    """

    params: dict[str, Any]
    seed: int
    tier: str = "smoke"
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
        """Record a data set's provenance (name, split, size, source or ``substitute``).

        Recorded once per distinct provenance; it lands in the result's ``data`` attribute and
        in the terminal table.
        """
        entry = dict(provenance)
        if entry not in self.data:
            self.data.append(entry)

    def save(self, path: str, value: Any, dims: tuple[str, ...] | None = None) -> None:
        """Store a quantity now, so it is kept even if the experiment fails later.

        Returned quantities of the same path override saved ones.
        """
        self.saved[path] = value if dims is None else (value, tuple(dims))

    def rng(self):
        """A numpy Generator seeded by this call's seed."""
        import numpy as np

        return np.random.default_rng(self.seed)

    def manual_seed(self) -> None:
        """Seed torch (CPU and CUDA) with this call's seed."""
        import torch

        torch.manual_seed(self.seed)


@dataclass(frozen=True)
class Experiment:
    """A registered experiment: its name, function and optional declared outputs."""

    name: str
    function: Callable[[ExperimentContext], Mapping[str, Any]]
    outputs: OutputsSpec | None = None
    params: tuple[str, ...] | None = None

    def declared_outputs(self, params: Mapping[str, Any]) -> dict[str, tuple[str, ...]] | None:
        """The declared ``{path: dims}`` (dims without ``seed``) for these params, or None."""
        if self.outputs is None:
            return None
        spec = self.outputs(params) if callable(self.outputs) else self.outputs
        return {path: tuple(dims) for path, dims in spec.items()}

    @property
    def source_file(self) -> str | None:
        """The file the experiment function was defined in (its code version is hashed from it).

        Taken from the function's code object, so it does not depend on the module still being
        in ``sys.modules``.
        """
        code = getattr(self.function, "__code__", None)
        return getattr(code, "co_filename", None)

    def __call__(self, ctx: ExperimentContext) -> Mapping[str, Any]:
        return self.function(ctx)


class UnknownExperiment(LookupError):
    """No experiment is registered under the requested name."""


_REGISTRY: dict[str, Experiment] = {}
_IMPORT_FAILURES: dict[str, str] = {}
_SOURCES_LOADED: set[str] = set()


def experiment(name: str, outputs: OutputsSpec | None = None, params: tuple[str, ...] | None = None):
    """Decorator registering ``function(ctx) -> dict`` as experiment ``name``.

    ``params`` names the parameters the experiment reads; a claim file that sets any other
    parameter is rejected at collection, so a misspelt key never silently falls back to a default.
    """

    def register(function):
        previous = _REGISTRY.get(name)
        if previous is not None and previous.function.__module__ != function.__module__:
            raise ValueError(
                f"experiment {name!r} is registered twice: in {previous.function.__module__} "
                f"and in {function.__module__}"
            )
        _REGISTRY[name] = Experiment(name, function, outputs, tuple(params) if params is not None else None)
        return function

    return register


def get_experiment(name: str) -> Experiment:
    """Look up an experiment by name, importing experiment modules lazily until found."""
    if name in _REGISTRY:
        return _REGISTRY[name]
    for source, loader in _sources():
        if source in _SOURCES_LOADED:
            continue
        _SOURCES_LOADED.add(source)
        try:
            loader()
        except Exception as exc:  # a broken module must not hide the others
            _IMPORT_FAILURES[source] = f"{type(exc).__name__}: {exc}"
        if name in _REGISTRY:
            return _REGISTRY[name]
    raise UnknownExperiment(_unknown_message(name))


def registered_experiments() -> dict[str, Experiment]:
    """All experiments, after importing every source."""
    try:
        get_experiment("\0")
    except UnknownExperiment:
        pass
    return dict(_REGISTRY)


def registered_modules() -> set[str]:
    """Names of the modules that define the registered experiments (measurement code)."""
    return {exp.function.__module__ for exp in _REGISTRY.values()}


def _unknown_message(name: str) -> str:
    message = f"unknown experiment {name!r}"
    close = difflib.get_close_matches(name, list(_REGISTRY), n=1)
    if close:
        message += f" (did you mean {close[0]!r}?)"
    elif _REGISTRY:
        message += f"; registered: {', '.join(sorted(_REGISTRY))}"
    if _IMPORT_FAILURES:
        failures = "; ".join(f"{src}: {err}" for src, err in sorted(_IMPORT_FAILURES.items()))
        message += f"; modules that failed to import: {failures}"
    return message


def _sources():
    """(source name, loader) pairs in lookup order; see the module docstring."""
    for entry in _split_env(os.environ.get(ENV_MODULES, "")):
        yield f"env:{entry}", lambda entry=entry: _import_module_or_file(entry)
    try:
        from importlib.metadata import entry_points

        for point in entry_points(group=ENTRY_POINT_GROUP):
            yield f"entry-point:{point.value}", point.load
    except Exception:  # metadata problems must not break lookup
        pass
    package_dir = Path(__file__).parent
    for info in sorted(pkgutil.iter_modules([str(package_dir)]), key=lambda m: m.name):
        if not info.name.startswith("_"):
            module = f"{__name__}.{info.name}"
            yield module, lambda module=module: importlib.import_module(module)


def _split_env(value: str) -> list[str]:
    parts = []
    for chunk in value.split(os.pathsep):
        parts.extend(p.strip() for p in chunk.split(","))
    return [p for p in parts if p]


def _import_module_or_file(entry: str):
    if entry.endswith(".py"):
        path = Path(entry).resolve()
        module_name = f"lcsuite_user_experiments_{path.stem}"
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot import experiments from {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
        return module
    return importlib.import_module(entry)

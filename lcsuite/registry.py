"""One registry pattern for every extension point: register / get / names, plus entry points.

Papers, experiments, checks, model builders, data sets and layer types are each a
:class:`Registry`. Code registers into one with :meth:`Registry.register` (a decorator); other
packages plug in without any change to lcsuite through the entry point group of each registry
(``lcsuite.papers``, ``lcsuite.experiments``, ``lcsuite.checks``, ``lcsuite.models``,
``lcsuite.datasets``, ``lcsuite.layer_types``) or through ``$LCSUITE_PLUGINS``.

An entry point names either a module (``mypaper = "mypaper"``: importing it registers what it
defines) or an object (``my_check = "mypaper.checks:MyCheck"``: registered under the entry
point's name in that group's registry). Plugins are loaded once, lazily, the first time a name
is not found: :func:`load_plugins`.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
import importlib.util
import os
import sys
from pathlib import Path
from typing import Callable, Generic, Iterator, TypeVar

__all__ = ["Registry", "UnknownName", "load_plugins", "recording_use", "rescan_plugins", "ENV_PLUGINS", "GROUPS",
           "did_you_mean"]

T = TypeVar("T")
ENV_PLUGINS = "LCSUITE_PLUGINS"
"""``os.pathsep``- or comma-separated module names or ``.py`` files imported as plugins."""

GROUPS = ("lcsuite.papers", "lcsuite.experiments", "lcsuite.checks", "lcsuite.models", "lcsuite.datasets",
          "lcsuite.layer_types")
"""The entry point groups, scanned whatever registries exist yet: a paper package named in one
group registers into the others when imported. Each registry lives with its kind:
:data:`lcsuite.harness.papers.PAPERS`, :data:`lcsuite.harness.experiments.EXPERIMENTS`,
:data:`lcsuite.harness.checks.CHECKS`, :data:`lcsuite.models.MODELS`,
:data:`lcsuite.data.DATASETS`, :data:`lcsuite.conditioning.LAYER_TYPES`."""

_REGISTRIES: dict[str, "Registry"] = {}
_LOADED: set[str] = set()
_FAILURES: dict[str, str] = {}
_ENTRY_POINTS: dict[str, list] = {}
_USE_RECORDERS: list[set[str]] = []


def did_you_mean(word: str, options) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``options``, or an empty string."""
    close = difflib.get_close_matches(str(word), [str(o) for o in options], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


class UnknownName(LookupError):
    """No object of this kind is registered under the name; the message says what is."""


class Registry(Generic[T]):
    """Named objects of one kind, e.g. ``EXPERIMENTS = Registry("experiment", "lcsuite.experiments")``."""

    def __init__(self, kind: str, group: str):
        self.kind, self.group = kind, group
        self._entries: dict[str, T] = {}
        self._owners: dict[str, str] = {}
        _REGISTRIES[group] = self

    def register(self, name: str, obj: T | None = None, *, owner: str | None = None) -> Callable[[T], T] | T:
        """Register ``obj`` under ``name`` (or use as ``@registry.register(name)``).

        ``owner`` is the registering module (default: the object's ``__module__``). Registering
        the same name again from the same module (a reload) replaces it; from another module it
        is an error, so two plugins never silently shadow each other.
        """
        def add(value: T) -> T:
            found = owner or getattr(value, "__module__", None) or type(value).__module__
            previous = self._owners.get(name)
            if previous is not None and previous != found:
                raise ValueError(f"{self.kind} {name!r} is registered twice: by {previous} and by {found}")
            self._entries[name] = value
            self._owners[name] = found
            return value

        return add if obj is None else add(obj)

    def get(self, name: str) -> T:
        """The object registered as ``name``, loading plugins on a miss; else UnknownName."""
        if name not in self._entries:
            load_plugins()
        if name not in self._entries:
            raise UnknownName(self._unknown_message(name))
        self.note_use(name)
        return self._entries[name]

    def note_use(self, name: str) -> None:
        """Tell every :func:`recording_use` block that the entry ``name`` is being used
        (:meth:`get` does; a registry with lookups of its own calls it too)."""
        for used in _USE_RECORDERS:
            used.add(self._owners[name])

    def names(self) -> list[str]:
        """Every registered name (after loading plugins), sorted."""
        load_plugins()
        return sorted(self._entries)

    def items(self) -> Iterator[tuple[str, T]]:
        load_plugins()
        return iter(sorted(self._entries.items()))

    def owner(self, name: str) -> str:
        """The module that registered ``name``."""
        return self._owners[name]

    def __contains__(self, name: str) -> bool:
        if name not in self._entries:
            load_plugins()
        return name in self._entries

    def _unknown_message(self, name: str) -> str:
        message = f"unknown {self.kind} {name!r}{did_you_mean(name, self._entries)}"
        if self._entries:
            message += f"; registered: {', '.join(sorted(self._entries))}"
        if _FAILURES:
            message += "; plugins that failed to load: " + "; ".join(f"{k}: {v}" for k, v in sorted(_FAILURES.items()))
        return message


@contextlib.contextmanager
def recording_use() -> Iterator[set[str]]:
    """Collect, while the block runs, the modules that registered the entries it uses.

    Yields a set that fills with the owner module of every entry looked up in any registry,
    e.g. the module of a model builder a claim file names: the code a measurement depends on
    beyond what its experiment imports (:mod:`lcsuite.harness.measuring_code`).
    """
    used: set[str] = set()
    _USE_RECORDERS.append(used)
    try:
        yield used
    finally:
        _USE_RECORDERS[:] = [recorder for recorder in _USE_RECORDERS if recorder is not used]


def _split_env(value: str) -> list[str]:
    return [p.strip() for chunk in value.split(os.pathsep) for p in chunk.split(",") if p.strip()]


def _import(entry: str):
    """Import a module by name, or a ``.py`` file as module ``lcsuite_plugin_<stem>``."""
    if not entry.endswith(".py"):
        return importlib.import_module(entry)
    path = Path(entry).resolve()
    name = f"lcsuite_plugin_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import plugins from {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _load(source: str, loader: Callable[[], object]) -> None:
    if source in _LOADED:
        return
    _LOADED.add(source)
    try:
        loader()
    except Exception as exc:  # a broken plugin must not hide the others
        _FAILURES[source] = f"{type(exc).__name__}: {exc}"


def _entry_point_loader(group: str, point) -> Callable[[], None]:
    def load() -> None:
        value = point.load()
        if ":" in point.value:  # an object: registered under the entry point's name
            _REGISTRIES[group].register(point.name, value)
    return load


def _entry_points(group: str) -> list:
    """The group's entry points, read from the installed metadata once per process."""
    if group not in _ENTRY_POINTS:
        from importlib.metadata import entry_points

        _ENTRY_POINTS[group] = list(entry_points(group=group))
    return _ENTRY_POINTS[group]


def load_plugins() -> None:
    """Import every plugin not imported yet: ``$LCSUITE_PLUGINS``, then the entry points of
    :data:`GROUPS` (and of any other registry). An entry point naming an object waits until
    its group's registry exists."""
    for entry in _split_env(os.environ.get(ENV_PLUGINS, "")):
        _load(f"env:{entry}", lambda entry=entry: _import(entry))
    for group in dict.fromkeys((*GROUPS, *_REGISTRIES)):
        for point in _entry_points(group):
            if ":" in point.value and group not in _REGISTRIES:
                continue
            _load(f"{group}:{point.name}={point.value}", _entry_point_loader(group, point))


def rescan_plugins() -> None:
    """Read the installed entry points again (after installing a plugin in a running process)."""
    _ENTRY_POINTS.clear()

"""Where a measurement came from, and the reuse key built from it (DECISIONS D1).

The reuse key covers what a measurement depends on:

- the item spec (:class:`lcsuite.harness.spec.ItemSpec`);
- the digests of the data files read (``{file: sha256}`` per data set);
- the source digest of every module of lcsuite and of registered plugins that is loaded when the
  item finishes, except the modules that only judge or report (:data:`NOT_MEASUREMENT`);
- the versions of Python and the libraries in :data:`LIBRARIES`;
- the device kind.

Everything is computed where the item runs and stored in its result file, so a later run can
tell why a stored result is no longer valid (:func:`stale_reasons`).
"""

from __future__ import annotations

import hashlib
import platform
import socket
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Iterable, Mapping

from lcsuite.harness.spec import canonical_json

__all__ = [
    "LIBRARIES",
    "NOT_MEASUREMENT",
    "library_versions",
    "device_description",
    "file_sha256",
    "code_manifest",
    "reuse_key",
    "stale_reasons",
]

LIBRARIES = ("torch", "numpy", "h5py", "hypothesis", "scikit-learn", "torchvision", "lcsuite")

NOT_MEASUREMENT = (
    "lcsuite.harness.checks",
    "lcsuite.harness.judge",
    "lcsuite.harness.table",
    "lcsuite.reporting",
    "lcsuite.report",
    "lcsuite.compare",
    "lcsuite.figures",
    "lcsuite.cli",
)
"""Module prefixes whose source never invalidates a stored measurement: they judge or report."""

_PACKAGE_DIR = Path(__file__).resolve().parents[1]
_DIGESTS: dict[tuple[str, int, int], str] = {}


def library_versions() -> dict[str, str]:
    """``{"python": "3.11.7", "torch": ..., ...}`` without importing the libraries."""
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def device_description(device: str) -> dict[str, str]:
    """``{"kind": ..., "name": ..., "host": ...}``; ``kind`` goes into the reuse key.

    CPU: the architecture and processor model (kernels differ between processors); CUDA: the
    GPU's name and the CUDA version torch was built with.
    """
    host = socket.gethostname()
    if str(device).startswith("cuda"):
        import torch

        index = torch.device(device).index or 0
        try:
            name = torch.cuda.get_device_name(index)
        except (RuntimeError, AssertionError):  # no driver: the device was named but cannot be used
            name = "unavailable"
        return {"kind": f"cuda:{name}:cuda{torch.version.cuda}", "name": name, "host": host}
    name = _cpu_model()
    return {"kind": f"cpu:{platform.machine()}:{name}", "name": name, "host": host}


def file_sha256(path: str | Path) -> str:
    """sha256 of a file, memoised in this process by (path, size, mtime_ns)."""
    path = Path(path)
    stat = path.stat()
    cache_key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    digest = _DIGESTS.get(cache_key)
    if digest is None:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        _DIGESTS[cache_key] = digest
    return digest


def _is_measurement_module(name: str) -> bool:
    return not any(name == p or name.startswith(p + ".") for p in NOT_MEASUREMENT)


def _module_file(module) -> Path | None:
    file = getattr(module, "__file__", None)
    if not file or not str(file).endswith(".py"):
        return None
    return Path(file).resolve()


def code_manifest(plugin_packages: Iterable[str] = ()) -> dict[str, dict[str, str]]:
    """``{module name: {"file": path, "sha256": digest of its source}}`` of the measurement
    modules loaded now.

    Modules count when their file lies in the lcsuite package or they belong to one of
    ``plugin_packages`` (top-level names of registered out-of-package code); judging and
    reporting modules (:data:`NOT_MEASUREMENT`) are left out.
    """
    plugins = tuple(plugin_packages)
    manifest = {}
    for name, module in list(sys.modules.items()):
        file = _module_file(module)
        if file is None or not _is_measurement_module(name):
            continue
        in_package = _PACKAGE_DIR in file.parents
        in_plugin = any(name == p or name.startswith(p + ".") for p in plugins)
        if in_package or in_plugin:
            manifest[name] = {"file": str(file), "sha256": file_sha256(file)}
    return dict(sorted(manifest.items()))


def reuse_key(spec_hash: str, data_digests: Mapping[str, Any], manifest: Mapping[str, str],
              versions: Mapping[str, str], device_kind: str) -> str:
    """The reuse key: a digest over the parts listed in the module docstring."""
    payload = {"spec": spec_hash, "data": data_digests, "code": manifest, "versions": versions,
               "device": device_kind}
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()[:32]


def _current_source(name: str, recorded_file: str) -> Path | None:
    """The file ``name`` resolves to now: the loaded module's, else what an import would find,
    else (modules loaded from a file path) the recorded file."""
    module = sys.modules.get(name)
    file = _module_file(module) if module is not None else None
    if file is None:
        import importlib.util

        try:
            found = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            found = None
        origin = getattr(found, "origin", None)
        file = Path(origin) if origin and origin.endswith(".py") else Path(recorded_file)
    return file if file.is_file() else None


def stale_reasons(stored: Mapping[str, Any], versions: Mapping[str, str], device_kind: str) -> list[str]:
    """Why a stored measurement's provenance no longer matches this process (empty: it does).

    ``stored`` is the result's provenance dict (``versions``, ``device``, ``code``). Data files
    are checked separately (they need the data layer).
    """
    reasons = []
    for library, stored_version in stored.get("versions", {}).items():
        if versions.get(library) != stored_version:
            reasons.append(f"{library} {stored_version} -> {versions.get(library, 'absent')}")
    stored_kind = stored.get("device", {}).get("kind")
    if stored_kind != device_kind:
        reasons.append(f"device {stored_kind} -> {device_kind}")
    for name, entry in stored.get("code", {}).items():
        current = _current_source(name, entry.get("file", ""))
        if current is None or file_sha256(current) != entry.get("sha256"):
            reasons.append(f"source of {name} changed")
    return reasons

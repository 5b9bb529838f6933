"""Where a measurement came from, and the reuse key built from it (DECISIONS D1).

The reuse key covers what a measurement depends on:

- the item spec (:class:`lcsuite.harness.spec.ItemSpec`);
- the digests of the data files read (``{file: sha256}`` per data set);
- the source digest of every module the measurement depends on: its experiment's module, the
  modules of the registry entries it used, what they import from lcsuite and from their own
  packages, never the modules that only collect, judge or report
  (:func:`lcsuite.harness.measuring_code.code_manifest`);
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
from typing import Any, Mapping

from lcsuite.harness.spec import canonical_json

__all__ = [
    "LIBRARIES",
    "library_versions",
    "device_description",
    "file_sha256",
    "reuse_key",
    "stale_reasons",
]

LIBRARIES = ("torch", "numpy", "h5py", "hypothesis", "scikit-learn", "torchvision", "lcsuite")

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


def _module_file(module) -> Path | None:
    file = getattr(module, "__file__", None)
    if not file or not str(file).endswith(".py"):
        return None
    return Path(file).resolve()


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

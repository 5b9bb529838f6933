"""What a benchmark figure was measured on: machine, device, versions, commit, time."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

import torch

__all__ = ["machine_info"]

_DISTRIBUTIONS = {
    "torch": "torch",
    "numpy": "numpy",
    "lcsuite": "lcsuite",
    "curvlinops": "curvlinops-for-pytorch",
    "backpack": "backpack-for-pytorch",
    "tabulate": "tabulate",
}


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _git(*args: str) -> str | None:
    root = Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def machine_info(device: torch.device) -> dict:
    """Plain-data description of the run (stored at the top of the JSON)."""
    try:
        usable_cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        usable_cpus = os.cpu_count()
    dirty = _git("status", "--porcelain", "--untracked-files=no")
    info = {
        "hostname": platform.node(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "usable_cpus": usable_cpus,
        "torch_threads": torch.get_num_threads(),
        "blas_threads": _blas_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "python": platform.python_version(),
        "versions": {name: _version(dist) for name, dist in _DISTRIBUTIONS.items()},
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(dirty) if dirty is not None else None,
        "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    return info


def _blas_threads() -> dict[str, int]:
    """Threads of each loaded BLAS library (numpy's OpenBLAS does not follow torch's setting)."""
    from threadpoolctl import threadpool_info

    return {p.get("filepath", p["internal_api"]): p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"}

"""Devices under pytest-xdist: one GPU per worker, and the count of CUDA devices.

Nothing here initialises CUDA. The controller asks torch once (at configure time, only when
claims are being run) whether CUDA is available and how many devices there are; workers get
the answer through ``workerinput`` and set ``CUDA_VISIBLE_DEVICES`` before anything touches
CUDA. CPU threads are not a per-worker matter: every item runs with a fixed number of threads
(:mod:`lcsuite.harness.determinism`).
"""

from __future__ import annotations

import os
import re
from typing import MutableMapping

__all__ = [
    "worker_index",
    "visible_device_for_worker",
    "pin_worker_to_gpu",
    "limit_loaded_blas_pools",
    "cuda_device_count",
]


def worker_index(worker_id: str | None) -> int | None:
    """``"gw3"`` -> 3; None (or an unparsable id) -> None."""
    if not worker_id:
        return None
    match = re.fullmatch(r"gw(\d+)", worker_id)
    return int(match.group(1)) if match else None


def visible_device_for_worker(worker_id: str | None, outer_visible: str | None, device_count: int) -> str | None:
    """The ``CUDA_VISIBLE_DEVICES`` value for a worker: its device, round-robin.

    Respects an outer ``CUDA_VISIBLE_DEVICES`` (``"2,3"`` pins gw0 to 2, gw1 to 3, gw2 to 2);
    otherwise uses devices ``0..device_count-1``. Returns None when there is nothing to pin
    (not a worker, or no devices).
    """
    index = worker_index(worker_id)
    if index is None:
        return None
    if outer_visible is not None and outer_visible.strip() != "":
        devices = [d.strip() for d in outer_visible.split(",") if d.strip()]
    else:
        devices = [str(i) for i in range(device_count)]
    if not devices:
        return None
    return devices[index % len(devices)]


def pin_worker_to_gpu(worker_id: str | None, device_count: int, environ: MutableMapping[str, str] = os.environ) -> str | None:
    """Set ``CUDA_VISIBLE_DEVICES`` in ``environ`` for this worker; returns the value or None."""
    device = visible_device_for_worker(worker_id, environ.get("CUDA_VISIBLE_DEVICES"), device_count)
    if device is not None:
        environ["CUDA_VISIBLE_DEVICES"] = device
    return device


def limit_loaded_blas_pools(threads: int) -> bool:
    """Limit the BLAS/OpenMP thread pools already loaded in this process (threadpoolctl).

    Returns False when threadpoolctl is not installed (then only the environment applies).
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return False
    threadpool_limits(limits=threads)
    return True


DEVICE_COUNT_ENV = "LCSUITE_CUDA_DEVICE_COUNT"


def cuda_device_count(environ: MutableMapping[str, str] = os.environ) -> int:
    """Number of CUDA devices torch sees (0 without CUDA). Controller only: imports torch.

    ``LCSUITE_CUDA_DEVICE_COUNT`` overrides the answer without importing torch (for tests of
    the worker pinning on machines without a GPU, and for hosts where the count is known).
    """
    if environ.get(DEVICE_COUNT_ENV, "").strip():
        return int(environ[DEVICE_COUNT_ENV])
    try:
        import torch

        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    except Exception:
        return 0

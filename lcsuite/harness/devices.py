"""Devices: which device an item is measured on, one GPU per xdist worker, the CUDA device count.

The device of an item is decided by the process that measures it (:func:`item_device`): the
CPU at the smoke tier, a CUDA device at the gpu and paper tiers, and a clear error
(:class:`DeviceUnavailable`) where such a tier finds none; never a silent fall-back to the CPU.
Inline, that process is pytest (or its xdist workers); with the local and Slurm executors it is
the item's job, not the process that submitted it.

Nothing here initialises CUDA. The xdist controller asks torch once (at configure time, only
when claims are being run) whether CUDA is available and how many devices there are; workers
get the answer through ``workerinput`` and set ``CUDA_VISIBLE_DEVICES`` before anything touches
CUDA. CPU threads are not a per-worker matter: every item runs with a fixed number of threads
(:mod:`lcsuite.harness.determinism`).
"""

from __future__ import annotations

import os
import re
import socket
from typing import MutableMapping

from lcsuite.harness.enums import Tier

__all__ = [
    "worker_index",
    "visible_device_for_worker",
    "pin_worker_to_gpu",
    "limit_loaded_blas_pools",
    "cuda_device_count",
    "GPU_TIERS",
    "DeviceUnavailable",
    "item_device",
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


def _visible_entries(environ: MutableMapping[str, str]) -> int | None:
    """How many devices ``CUDA_VISIBLE_DEVICES`` lists (None when it is not set)."""
    visible = environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return None
    return len([entry for entry in visible.split(",") if entry.strip()])


def cuda_device_count(environ: MutableMapping[str, str] = os.environ) -> int:
    """Number of CUDA devices torch sees in this process (0 without CUDA). Imports torch.

    ``LCSUITE_CUDA_DEVICE_COUNT`` stands in for the number of devices the host has, without
    importing torch (for tests of the device handling on machines without a GPU); like
    torch's own count, the answer is then limited by ``CUDA_VISIBLE_DEVICES`` when it is set.
    """
    if environ.get(DEVICE_COUNT_ENV, "").strip():
        count = int(environ[DEVICE_COUNT_ENV])
        visible = _visible_entries(environ)
        return count if visible is None else min(count, visible)
    try:
        import torch

        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    except Exception:
        return 0


GPU_TIERS = frozenset({str(Tier.GPU), str(Tier.PAPER)})
"""Tiers measured on a CUDA device; the smoke tier is measured on the CPU."""


class DeviceUnavailable(RuntimeError):
    """A tier that is measured on a GPU found no CUDA device in the process measuring it."""


def item_device(tier: str, cuda_count: int | None = None, environ: MutableMapping[str, str] = os.environ) -> str:
    """``"cpu"`` at the smoke tier; ``"cuda"`` at the gpu and paper tiers when ``cuda_count``
    (default: :func:`cuda_device_count` of this process) is positive, else DeviceUnavailable."""
    if str(tier) not in GPU_TIERS:
        return "cpu"
    if cuda_count is None:
        cuda_count = cuda_device_count(environ)
    if cuda_count > 0:
        return "cuda"
    visible = environ.get("CUDA_VISIBLE_DEVICES")
    where = f"CUDA_VISIBLE_DEVICES={visible!r}" if visible is not None else "CUDA_VISIBLE_DEVICES not set"
    raise DeviceUnavailable(f"tier {tier} is measured on a CUDA device, but torch sees none on "
                            f"{socket.gethostname()} ({where}): give it a GPU (with the local and slurm executors, "
                            f"--lc-slurm-gpus-per-task 1), or run --lc-tier smoke")

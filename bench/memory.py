"""Peak memory of one call, above what was allocated before it.

- CUDA: ``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats`` (tensors only).
- CPU (Linux): the resident-set high-water mark ``VmHWM``, reset through
  ``/proc/self/clear_refs`` before the call, minus ``VmRSS`` before it. ``tracemalloc``
  cannot be used for tensors: PyTorch's CPU allocator bypasses Python's allocator, so a
  128 MB tensor shows as ~0 bytes there. glibc's mmap threshold is pinned at 128 KiB so that
  freed large blocks go back to the system instead of into a cache that would hide a later
  peak. ``tracemalloc``'s peak (Python objects only) is reported alongside.
- Elsewhere: only the ``tracemalloc`` figure, marked as such.
"""

from __future__ import annotations

import ctypes
import gc
import sys
import tracemalloc
from typing import Callable

import torch

from lcsuite.harness.devices import limit_loaded_blas_pools

from lcsuite.timing import synchronize

__all__ = ["peak_memory"]

_M_MMAP_THRESHOLD = -3
_pinned = False


def _pin_mmap_threshold() -> None:
    global _pinned
    if _pinned or not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL("libc.so.6").mallopt(_M_MMAP_THRESHOLD, 128 * 1024)
    except OSError:
        pass
    _pinned = True


def _proc_status() -> dict[str, int] | None:
    try:
        with open("/proc/self/status") as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
        return {k: int(fields[k].split()[0]) * 1024 for k in ("VmHWM", "VmRSS")}
    except (OSError, KeyError, ValueError):
        return None


def _reset_high_water_mark() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_memory(fn: Callable[[], object], device: torch.device | str = "cpu") -> dict:
    """Run ``fn`` once (after one warmup call) and return its peak memory.

    Returns:
        ``{"peak_bytes": int | None, "method": str, "python_peak_bytes": int}``.
    """
    device = torch.device(device)
    _pin_mmap_threshold()
    fn()  # lazy initialisation (kernels, caches) is not the workload's memory
    gc.collect()
    synchronize(device)
    tracemalloc.start()
    try:
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
            before = torch.cuda.memory_allocated(device)
            fn()
            synchronize(device)
            peak, method = torch.cuda.max_memory_allocated(device) - before, "cuda max_memory_allocated"
        elif _proc_status() is not None and _reset_high_water_mark():
            before = _proc_status()["VmRSS"]
            fn()
            peak, method = _proc_status()["VmHWM"] - before, "VmHWM above VmRSS (Linux)"
        else:
            fn()
            peak, method = None, "tracemalloc only (Python objects)"
        python_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return {"peak_bytes": peak, "method": method, "python_peak_bytes": python_peak}


def _measure_all(config) -> list[tuple[str, str, dict]]:
    _pin_mmap_threshold()  # before anything large is allocated in this process
    from bench import appb, overhead, peers

    torch.set_num_threads(config.threads or torch.get_num_threads())
    if config.threads:
        limit_loaded_blas_pools(config.threads)
    measured = []
    for case, module in (("overhead", overhead), ("appb", appb), ("peers", peers)):
        for label, fn, device in module.memory_workloads(config):
            measured.append((case, label, peak_memory(fn, device)))
    return measured


def run(config):
    """Case ``memory``: peak memory of the capture on the largest model of every case.

    Measured in a fresh (spawned) interpreter: in a process that has already run the timing
    cases, freed heap memory is reused without raising the resident set, hiding peaks.
    """
    import multiprocessing

    from bench.results import CaseResult

    with multiprocessing.get_context("spawn").Pool(1) as pool:
        measured = pool.apply(_measure_all, (config,))
    rows, details = [], {}
    for case, label, result in measured:
        details[f"{case}/{label}"] = result
        peak = result["peak_bytes"]
        rows.append([case, label, "-" if peak is None else peak / 2**20,
                     result["python_peak_bytes"] / 2**20, result["method"]])
    return CaseResult(
        "memory", "peak memory above the state before the call (MiB)",
        ["case", "workload", "peak MiB", "Python-objects peak MiB", "method"],
        rows, details={"workloads": details},
        notes=["tracemalloc does not see PyTorch's CPU tensors; the CPU figure is the "
               "process's resident high-water mark"],
    )

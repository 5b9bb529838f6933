"""Run one item's computation the same way whatever the launch (inline, ``-n 4``, a cluster).

Within :func:`deterministic`, torch's intra-op threads and the BLAS/OpenMP pools that numpy
loaded are fixed to ``threads`` (default :data:`ITEM_THREADS`, whatever the machine's core count
or the number of xdist workers), torch's deterministic algorithms are on, and cuDNN's
autotuning is off. On CUDA the few operations without a deterministic implementation are run
anyway (``warn_only``) and named in the record, so a result says what could not be made
deterministic. :func:`seed_all` seeds Python's, numpy's and torch's global generators.

What is guaranteed: on CPU, the same item gives the same bits inline and under xdist on the
same machine and software versions. Wall-clock quantities (timings) and anything a wall-clock
timeout decides are excluded.
"""

from __future__ import annotations

import contextlib
import os
import random
import warnings
from typing import Iterator

__all__ = ["ITEM_THREADS", "CUBLAS_WORKSPACE", "deterministic", "seed_all", "prepare_cuda_environment"]

ITEM_THREADS = 1
"""Intra-op threads of every item: one, so that no reduction order depends on the launch."""

CUBLAS_WORKSPACE = ":4096:8"
"""cuBLAS workspace setting that makes its GEMMs deterministic (set before CUDA starts)."""

_NONDETERMINISTIC = "does not have a deterministic implementation"


def prepare_cuda_environment(environ=os.environ) -> None:
    """Set ``CUBLAS_WORKSPACE_CONFIG`` unless the user did; call before anything starts CUDA."""
    environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)


def seed_all(seed: int) -> None:
    """Seed Python's ``random``, numpy's legacy global generator and torch (CPU and CUDA)."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@contextlib.contextmanager
def deterministic(threads: int = ITEM_THREADS) -> Iterator[dict]:
    """Fix threads and algorithms for the block; yields the record stored with the result.

    The record: ``threads``, ``blas_threads``, ``deterministic_algorithms``, ``cudnn_benchmark``,
    ``cudnn_deterministic``, ``cublas_workspace_config``, ``nondeterministic_ops`` (filled when
    the block ends: the operations that warned they have no deterministic implementation).
    Previous settings are restored on exit.
    """
    import torch
    from threadpoolctl import threadpool_limits

    saved = (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled(),
             torch.is_deterministic_algorithms_warn_only_enabled(),
             torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic)
    record = {
        "threads": threads, "blas_threads": threads, "deterministic_algorithms": True,
        "cudnn_benchmark": False, "cudnn_deterministic": True,
        "cublas_workspace_config": os.environ.get("CUBLAS_WORKSPACE_CONFIG", ""),
        "nondeterministic_ops": [],
    }
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    try:
        with threadpool_limits(limits=threads), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UserWarning)
            yield record
        record["nondeterministic_ops"] = sorted({str(w.message).split(" does not")[0]
                                                 for w in caught if _NONDETERMINISTIC in str(w.message)})
        for w in caught:  # pass on everything else
            if _NONDETERMINISTIC not in str(w.message):
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    finally:
        torch.set_num_threads(saved[0])
        torch.use_deterministic_algorithms(saved[1], warn_only=saved[2])
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = saved[3], saved[4]

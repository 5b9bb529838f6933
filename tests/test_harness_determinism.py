"""Every item runs with fixed threads and deterministic algorithms, and says so."""

import random
import warnings

import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_info

from lcsuite.harness.determinism import ITEM_THREADS, deterministic, seed_all


def _blas_threads() -> set[int]:
    return {p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"}


def test_threads_and_algorithms_are_fixed_inside_and_restored_after():
    torch.set_num_threads(2)
    before = torch.are_deterministic_algorithms_enabled()
    with deterministic() as record:
        assert torch.get_num_threads() == ITEM_THREADS == 1
        assert _blas_threads() <= {ITEM_THREADS}
        assert torch.are_deterministic_algorithms_enabled() and not torch.backends.cudnn.benchmark
    assert torch.get_num_threads() == 2 and torch.are_deterministic_algorithms_enabled() == before
    assert record["threads"] == 1 and record["deterministic_algorithms"] and record["nondeterministic_ops"] == []


def test_operations_without_a_deterministic_implementation_are_named_in_the_record():
    with deterministic() as record:
        warnings.warn("scatter_reduce_cuda does not have a deterministic implementation, but you set ...")
    assert record["nondeterministic_ops"] == ["scatter_reduce_cuda"]


def test_other_warnings_pass_through():
    with pytest.warns(UserWarning, match="something else"):
        with deterministic():
            warnings.warn("something else")


def test_seed_all_seeds_every_global_generator():
    seed_all(3)
    first = (random.random(), np.random.rand(), torch.rand(1).item())
    seed_all(3)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == first

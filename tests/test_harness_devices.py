"""Worker device pinning and thread caps (no GPU needed: the mapping is pure)."""

import pytest

from lcsuite.harness import devices


@pytest.mark.parametrize(
    "worker, outer, count, expected",
    [
        ("gw0", None, 4, "0"),
        ("gw5", None, 4, "1"),
        ("gw1", "", 2, "1"),
        ("gw0", "2,3", 8, "2"),
        ("gw1", "2,3", 8, "3"),
        ("gw2", "2,3", 8, "2"),
        ("gw1", "GPU-abc,GPU-def", 0, "GPU-def"),
        ("gw0", None, 0, None),
        (None, None, 4, None),
        ("master", None, 4, None),
    ],
)
def test_visible_device_for_worker(worker, outer, count, expected):
    assert devices.visible_device_for_worker(worker, outer, count) == expected


def test_pin_worker_sets_env_and_respects_outer_mask():
    environ = {"CUDA_VISIBLE_DEVICES": "4,6"}
    assert devices.pin_worker_to_gpu("gw3", device_count=2, environ=environ) == "6"
    assert environ["CUDA_VISIBLE_DEVICES"] == "6"
    environ = {}
    assert devices.pin_worker_to_gpu("gw3", device_count=2, environ=environ) == "1"
    assert environ == {"CUDA_VISIBLE_DEVICES": "1"}
    environ = {}
    assert devices.pin_worker_to_gpu("gw0", device_count=0, environ=environ) is None
    assert environ == {}


def test_threads_per_worker():
    assert devices.threads_per_worker(4, cpu_count=16) == 4
    assert devices.threads_per_worker(4, cpu_count=2) == 1
    assert devices.threads_per_worker(0, cpu_count=2) == 2


def test_cap_threads_sets_env_without_overriding(monkeypatch):
    environ = {"OMP_NUM_THREADS": "3"}
    devices.cap_threads(2, environ=environ)
    assert environ["OMP_NUM_THREADS"] == "3" and "MKL_NUM_THREADS" in environ


def test_cap_threads_limits_the_blas_pool_numpy_already_loaded(monkeypatch):
    """numpy is imported before a worker is configured, so its OpenBLAS read no environment
    cap; cap_threads must limit the loaded pool itself."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    import numpy  # noqa: F401  (the pool to be capped)

    monkeypatch.setattr(devices, "_THREADS_CAPPED", [1])  # leave torch's setting alone
    with threadpoolctl.threadpool_limits(limits=None):  # restores the pools afterwards
        devices.cap_threads(10_000, environ={})
        blas = [p for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"]
        assert blas and all(p["num_threads"] == 1 for p in blas)

"""Worker device pinning (no GPU needed: the mapping is pure)."""

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

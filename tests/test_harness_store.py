"""The HDF5 store: round trip, atomic writes, corrupt/partial detection, run lookup, reuse."""

import h5py
import numpy as np

from lcsuite.harness import store
from lcsuite.harness.quantities import Quantity


def write(path, verdict="pass", spec_hash="h1"):
    return store.write_item(
        path,
        {"claim_id": "c", "item": "default", "verdict": verdict, "spec_hash": spec_hash,
         "params": {"width": 8}, "seeds": [0, 1], "data": [{"name": "digits", "substitute": True}]},
        {"bn/input/kappa": Quantity(np.arange(6.0).reshape(2, 3), ("seed", "layer"))},
        [store.ExpectationRecord("less", "a < b", False, "a < b", "1 of 2", "seed=1", {"left": np.ones(2)})],
        {"kappa": 3.5},
    )


def test_round_trip(tmp_path):
    path = write(store.item_path(tmp_path, "run1", "c", "init=he"))
    assert path == tmp_path / "run1" / "c" / "init=he.h5"
    result = store.read_item(path)
    assert result.verdict == "pass" and result.attrs["params"] == {"width": 8}
    assert result.attrs["schema_version"] == store.SCHEMA_VERSION and result.attrs["complete"]
    quantity = result.quantities["bn/input/kappa"]
    assert quantity.dims == ("seed", "layer") and quantity.values.shape == (2, 3)
    assert result.expectations[0].where == "seed=1" and not result.expectations[0].passed
    assert result.headline == {"kappa": 3.5}
    assert not list(path.parent.glob(".*tmp")), "no temporary file left behind"


def test_partial_and_corrupt_files_are_detected(tmp_path):
    garbage = tmp_path / "run1" / "c" / "default.h5"
    garbage.parent.mkdir(parents=True)
    garbage.write_bytes(b"\x89HDF\r\n\x1a\n truncated")
    assert not store.is_complete(garbage)
    partial = tmp_path / "run1" / "c" / "other.h5"
    with h5py.File(partial, "w") as f:  # a writer killed before the completion marker
        f.attrs["spec_hash"] = "h1"
    assert not store.is_complete(partial)
    for path in (garbage, partial):
        try:
            store.read_item(path)
        except store.CorruptResult:
            pass
        else:
            raise AssertionError(f"{path} read as complete")
    assert store.find_reusable(tmp_path, ["run1"], "c", "default", "h1") is None
    assert store.find_reusable(tmp_path, ["run1"], "c", "other", "h1") is None
    assert list(store.iter_run(tmp_path / "run1")) == []


def test_reuse_lookup_and_link(tmp_path):
    write(store.item_path(tmp_path, "old", "c", "default"), spec_hash="h1")
    assert store.find_reusable(tmp_path, ["new", "old"], "c", "default", "h2") is None
    found = store.find_reusable(tmp_path, ["new", "old"], "c", "default", "h1")
    assert found == store.item_path(tmp_path, "old", "c", "default")
    linked = store.link_into(found, store.item_path(tmp_path, "new", "c", "default"))
    assert store.read_item(linked).attrs["spec_hash"] == "h1"


def test_latest_run_and_iter_run(tmp_path):
    assert store.latest_run(tmp_path) is None
    write(store.item_path(tmp_path, "20250101-000000-aaaaaa", "c", "default"))
    write(store.item_path(tmp_path, "20250102-000000-bbbbbb", "c", "default"))
    assert store.latest_run(tmp_path).name == "20250102-000000-bbbbbb"  # newest without LATEST
    store.write_latest(tmp_path, "20250101-000000-aaaaaa")
    assert store.read_latest(tmp_path) == "20250101-000000-aaaaaa"
    assert store.latest_run(tmp_path).name == "20250101-000000-aaaaaa"
    results = list(store.iter_run(store.latest_run(tmp_path)))
    assert [r.claim_id for r in results] == ["c"]


def test_run_ids_sort_by_time():
    first, second = store.new_run_id(), store.new_run_id()
    assert first != second and len(first) == len("20250101-000000-abcdef")

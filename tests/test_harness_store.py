"""Item result files: round trip, checksums on every read, partial writes, copies (not links)."""

import h5py
import numpy as np
import pytest

from lcsuite.harness import store
from lcsuite.harness.enums import MeasurementStatus
from lcsuite.harness.quantities import Quantity, timing
from lcsuite.harness.spec import ItemSpec

SPEC = ItemSpec("paper1", "claim_a", "init=he", "toy", "smoke", {"width": 8}, (0, 1))


def item(**changes):
    fields = dict(spec=SPEC, status=MeasurementStatus.COMPLETE, message="",
                  provenance={"data": [{"name": "digits", "substitute": True}], "elapsed_s": 2.0},
                  quantities={"bn/input/kappa": Quantity(np.arange(6.0).reshape(2, 3), ("seed", "layer")),
                              "seconds": timing(np.ones(2), ("width",))},
                  reuse_key="rk")
    fields.update(changes)
    return store.StoredItem(**fields)


def test_round_trip_keeps_everything(tmp_path):
    path = store.write_item(tmp_path / "a.h5", item())
    read = store.read_item(path)
    assert read.spec == SPEC and read.key == "paper1/claim_a/init=he"
    assert read.status is MeasurementStatus.COMPLETE and read.reuse_key == "rk"
    assert read.data == [{"name": "digits", "substitute": True}] and read.elapsed_s == 2.0
    quantity = read.quantities["bn/input/kappa"]
    assert quantity.dims == ("seed", "layer") and np.array_equal(quantity.values, np.arange(6.0).reshape(2, 3))
    assert not quantity.timing and read.quantities["seconds"].timing
    assert not list(tmp_path.glob(".*tmp")), "no temporary file left behind"


def _overwrite_bytes_of(path, dataset):
    with h5py.File(path, "r") as f:
        offset = f[dataset].id.get_offset()
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF  # one flipped byte inside the dataset's storage
    path.write_bytes(bytes(data))


def test_a_flipped_byte_inside_a_dataset_names_the_file_and_dataset(tmp_path):
    path = store.write_item(tmp_path / "a.h5", item())
    _overwrite_bytes_of(path, "quantities/bn/input/kappa")
    with pytest.raises(store.CorruptResult, match=r"a\.h5: dataset quantities/bn/input/kappa fails its checksum"):
        store.read_item(path)


def test_changed_root_attributes_fail_their_checksum(tmp_path):
    path = store.write_item(tmp_path / "a.h5", item())
    with h5py.File(path, "a") as f:
        f.attrs["message"] = "edited"
    with pytest.raises(store.CorruptResult, match="root attributes fail their checksum"):
        store.read_item(path)


def test_partial_and_garbage_files_are_corrupt(tmp_path):
    garbage = tmp_path / "garbage.h5"
    garbage.write_bytes(b"\x89HDF\r\n\x1a\n truncated")
    with pytest.raises(store.CorruptResult, match="cannot read"):
        store.read_item(garbage)
    partial = tmp_path / "partial.h5"
    with h5py.File(partial, "w") as f:  # a writer killed before the completion marker
        f.attrs["schema_version"] = store.SCHEMA_VERSION
    with pytest.raises(store.CorruptResult, match="no completion marker"):
        store.read_item(partial)


def test_error_items_keep_their_message_and_partial_quantities(tmp_path):
    path = store.write_item(tmp_path / "e.h5", item(status=MeasurementStatus.ERROR, message="seed 1 diverged"))
    read = store.read_item(path)
    assert read.status is MeasurementStatus.ERROR and read.message == "seed 1 diverged"


def test_copies_are_independent_files_not_links(tmp_path):
    source = store.write_item(tmp_path / "run1" / "a.h5", item())
    copied = store.copy_item(source, tmp_path / "run2" / "a.h5")
    assert copied.path == tmp_path / "run2" / "a.h5"
    assert source.stat().st_ino != copied.path.stat().st_ino and source.stat().st_nlink == 1
    _overwrite_bytes_of(source, "quantities/bn/input/kappa")
    assert store.read_item(copied.path).spec == SPEC  # damage to one run does not spread


def test_a_corrupt_source_is_not_copied(tmp_path):
    source = store.write_item(tmp_path / "a.h5", item())
    _overwrite_bytes_of(source, "quantities/bn/input/kappa")
    with pytest.raises(store.CorruptResult):
        store.copy_item(source, tmp_path / "b.h5")
    assert not (tmp_path / "b.h5").exists()

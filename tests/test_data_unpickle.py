"""The CIFAR batches are read with a restricted unpickler: data in the official form loads, any
pickle that names another global is refused before anything runs."""

import builtins
import os
import pickle
import pickletools
import re

import numpy as np
import pytest
from data_files import batch_entry, official_batch_bytes, write_cifar

from lcsuite.data import CorruptDataError, check_data, load_cifar, resolve_cifar
from lcsuite.data.unpickle import load_batch


@pytest.fixture(autouse=True)
def no_env_data(monkeypatch):
    monkeypatch.delenv("LCSUITE_DATA", raising=False)


def _globals_named(payload: bytes) -> set[str]:
    """``module.name`` of every GLOBAL opcode of a protocol-2 pickle."""
    return {arg.replace(" ", ".") for op, arg, _ in pickletools.genops(payload) if op.name == "GLOBAL"}


def test_the_official_form_fixture_names_numpy_1_globals_only():
    """The fixture really is in the official form, whichever numpy writes it."""
    payload = official_batch_bytes(batch_entry("test_batch", b"labels", 10, 3, np.random.default_rng(0)))
    assert payload[:2] == b"\x80\x02"  # protocol 2
    assert _globals_named(payload) == {"numpy.core.multiarray._reconstruct", "numpy.ndarray", "numpy.dtype"}
    opcodes = {op.name for op, _, _ in pickletools.genops(payload)}
    assert "SHORT_BINSTRING" in opcodes and "BINBYTES" not in opcodes  # Python 2 str, not bytes


@pytest.mark.parametrize("num_classes", [10, 100])
def test_official_form_batches_load(tmp_path, num_classes):
    write_cifar(tmp_path / "official", num_classes, official=True)
    write_cifar(tmp_path / "today", num_classes)  # pickle.dump by this Python and numpy
    official = load_cifar(tmp_path / "official", num_classes, "test", normalize=False)
    today = load_cifar(tmp_path / "today", num_classes, "test", normalize=False)
    assert official.inputs.shape == (7, 3, 32, 32)
    assert (official.inputs == today.inputs).all() and (official.targets == today.targets).all()


def _file_writing_pickle(marker, how: str, protocol: int) -> bytes:
    """A batch whose unpickling creates ``marker``: by ``os.system`` or by ``builtins.open``;
    protocol 2 in the official form (the array first, then the payload), 4 as Python 3 writes."""

    class Payload:
        def __reduce__(self):
            if how == "system":
                return os.system, (f"touch {marker}",)
            return builtins.open, (str(marker), "w")

    entry = {b"data": np.zeros((1, 3072), dtype=np.uint8), b"labels": [0], b"extra": Payload()}
    return official_batch_bytes(entry) if protocol == 2 else pickle.dumps(entry, protocol=protocol)


@pytest.mark.parametrize("how", ["system", "open"])
@pytest.mark.parametrize("protocol", [2, 4])
def test_a_batch_that_writes_a_file_on_load_is_refused(tmp_path, how, protocol):
    folder = write_cifar(tmp_path, 10)
    # the same pickle does write its file when loaded the ordinary way
    control = tmp_path / "written-by-plain-pickle"
    pickle.loads(_file_writing_pickle(control, how, protocol))
    assert control.exists()

    marker = tmp_path / "written-on-load"
    batch = folder / "test_batch"
    batch.write_bytes(_file_writing_pickle(marker, how, protocol))
    function = os.system if how == "system" else builtins.open
    expected_global = f"{function.__module__}.{function.__name__}"  # posix.system, io.open
    with pytest.raises(CorruptDataError) as refused:
        load_cifar(tmp_path, 10, "test")
    message = str(refused.value)
    assert str(batch) in message and expected_global in message and "nothing was executed" in message
    assert not marker.exists()
    # refused the same way by the resolver (whatever it allows) and by the data check
    with pytest.raises(CorruptDataError, match=re.escape(expected_global)):
        resolve_cifar(tmp_path, split="test", allow_substitute=True, allow_unverified=True)
    test_split = next(c for c in check_data(tmp_path) if (c.dataset, c.split) == ("cifar10", "test"))
    assert test_split.status == "corrupt" and expected_global in test_split.detail
    assert not marker.exists()


def test_only_the_array_reconstruction_globals_are_resolved(tmp_path):
    """A global that numpy itself would accept, but official batches never name, is refused."""
    path = tmp_path / "batch"
    path.write_bytes(b"\x80\x02cnumpy\nload\nq\x00.")
    with pytest.raises(CorruptDataError, match=r"batch: refused.*numpy\.load"):
        load_batch(path)


def test_a_pickle_of_something_else_is_corrupt(tmp_path):
    path = tmp_path / "batch"
    path.write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(CorruptDataError, match="holds a dict, this pickle holds list"):
        load_batch(path)
    path.write_bytes(b"not a pickle at all")
    with pytest.raises(CorruptDataError, match="not a readable CIFAR pickle batch"):
        load_batch(path)

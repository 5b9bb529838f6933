"""The monitor's history: DataFrame, HDF5 file with provenance, figures."""

import json
import sys

import h5py
import numpy as np
import pytest

import lcsuite
from lcsuite.monitor import read_history
from lcsuite.monitor.history import quantity_paths
from monitor_cases import digits, one_thread, plain_mlp, recorded  # noqa: F401


@pytest.fixture(scope="module")
def monitor():
    model, (x, y) = plain_mlp(depth=4, width=16, norm="bn"), digits(limit=128)
    monitor = None
    for step in (0, 5):
        monitor = recorded(model, x, y, step=step, monitor=monitor)
    return monitor


def test_values_are_step_by_layer_arrays_matching_the_analyses(monitor):
    values = monitor.history.values("input/lambda_max")
    assert values.shape == (2, 4)
    assert values[1, 2] == monitor.history.checkpoint(5).analysis.layers[2].input_lambda_max
    kappa = monitor.history.values("grad/kappa_p80")
    assert kappa[0, 0] == monitor.history.checkpoints[0].analysis.layers[0].kappa(0.8, "grad")
    with pytest.raises(KeyError, match="unknown quantity"):
        monitor.history.values("nonsense")
    with pytest.raises(KeyError, match="recorded steps: \\[0, 5\\]"):
        monitor.history.checkpoint(3)


def test_dataframe_has_one_row_per_step_and_layer(monitor):
    frame = monitor.to_dataframe()
    assert len(frame) == 8 and list(frame["step"].unique()) == [0, 5]
    for column in ("layer", "input_lambda_max", "fim_kappa_p80", "units_dying", "weight_domination_ratio"):
        assert column in frame.columns
    row = frame[(frame.step == 5) & (frame.layer_index == 3)].iloc[0]
    assert row["grad_lambda_max"] == monitor.history.values("grad/lambda_max")[1, 2]


def test_dataframe_without_pandas_says_how_to_install_it(monitor, monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match=r"lcsuite\[monitor\]"):
        monitor.to_dataframe()


def test_save_writes_the_store_conventions_and_reads_back(monitor, tmp_path):
    path = monitor.save(tmp_path / "sub" / "history.h5")
    attrs, quantities = read_history(path)
    assert attrs["kind"] == "monitor_history" and attrs["schema_version"] == 1 and attrs["complete"]
    assert attrs["fisher"] == "empirical" and attrs["conv_mode"] == "channel" and attrs["steps"] == [0, 5]
    assert attrs["versions"]["lcsuite"] == lcsuite.__version__ and "torch" in attrs["versions"]
    assert attrs["device"]["kind"].startswith("cpu:") and attrs["loss_reduction"] == "mean"
    assert attrs["layer_names"] == monitor.history.layer_names and attrs["unseen"] == monitor.unseen()
    for qpath in quantity_paths(monitor.ps):
        q = quantities[f"quantities/{qpath}"]
        assert q.dims == ("step", "layer")
        np.testing.assert_array_equal(q.values, monitor.history.values(qpath))
    assert quantities["quantities/step"].values.tolist() == [0, 5]
    spectrum = quantities["spectra/2/input"]
    assert spectrum.dims == ("step", "eigenvalue")
    np.testing.assert_array_equal(spectrum.values[1], monitor.history.checkpoint(5).analysis.layers[1].input_spectrum)
    assert not list(path.parent.glob(".*.tmp"))


def test_a_damaged_history_dataset_is_refused(monitor, tmp_path):
    path = monitor.save(tmp_path / "history.h5")
    with h5py.File(path, "r") as f:
        offset = f["quantities/step"].id.get_offset()
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="dataset quantities/step fails its checksum"):
        read_history(path)


def test_reading_refuses_other_files(tmp_path):
    other = tmp_path / "claim.h5"
    with h5py.File(other, "w") as f:
        f.attrs["kind"] = "claim_item"
    with pytest.raises(ValueError, match="not a monitor history"):
        read_history(other)
    with h5py.File(other, "w") as f:
        f.attrs.update({"kind": "monitor_history", "schema_version": 99})
    with pytest.raises(ValueError, match="schema_version 99"):
        read_history(other)
    with h5py.File(other, "w") as f:
        f.attrs.update({"kind": "monitor_history", "schema_version": 1, "versions": json.dumps({})})
    with pytest.raises(ValueError, match="incomplete"):
        read_history(other)


def test_plot_writes_one_png_per_quantity(monitor, tmp_path):
    pytest.importorskip("matplotlib")
    written = monitor.plot(tmp_path / "figures")
    names = {p.name for p in written}
    assert {"input_lambda_max.png", "grad_lambda_max.png", "fim_kappa_p80.png", "weight_domination_ratio.png"} <= names
    assert all(p.stat().st_size > 1000 and p.read_bytes()[:4] == b"\x89PNG" for p in written)


def test_plot_without_matplotlib_or_checkpoints(monitor, tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="no checkpoint"):
        lcsuite.Monitor(monitor.model).plot(tmp_path)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r"lcsuite\[plots\]"):
        monitor.plot(tmp_path)

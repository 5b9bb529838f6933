"""A monitor's history in HDF5, with the result store's conventions (not a claim result).

Layout (``MONITOR_SCHEMA_VERSION`` 1):

- root attrs: ``kind = "monitor_history"``, ``schema_version``, ``complete`` (written last: a
  file without it is a partial write), and the provenance: ``versions`` (JSON: python, torch,
  numpy, h5py, lcsuite), ``device``, ``fisher``, ``conv_mode``, ``loss_reduction``,
  ``every``, ``batches_per_checkpoint``, ``ps``, ``rtol``, ``steps``, ``layer_names``,
  ``unseen`` (JSON lists), ``created`` (UTC, ISO 8601).
- ``quantities/<path>``: one dataset per quantity path of
  :mod:`lcsuite.monitor.history`, dims ``["step", "layer"]``; ``quantities/step``,
  ``quantities/mean_loss``, ``quantities/num_examples``, ``quantities/batches``: dims
  ``["step"]``.
- ``spectra/<k>/input`` and ``spectra/<k>/grad``: the descending eigenvalues of ``Sx`` and
  ``Sg`` of layer ``k`` (1-based; its module path in the group's attr ``layer``), dims
  ``["step", "eigenvalue"]``, NaN rows where the layer was not used.

Every dataset carries its dim names as a JSON list in its ``dims`` attr and the sha256 of its
dtype, shape and bytes in ``sha256``, verified on read, as in the result store; versions and
device are the store's (:func:`lcsuite.harness.provenance.library_versions`,
:func:`~lcsuite.harness.provenance.device_description`). The file is written under a temporary
name and renamed when complete (:func:`lcsuite.harness.atomic.atomic_write_path`).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from lcsuite.harness.atomic import atomic_write_path
from lcsuite.harness.provenance import device_description, library_versions
from lcsuite.harness.quantities import Quantity
from lcsuite.harness.store import array_sha256

__all__ = ["KIND", "MONITOR_SCHEMA_VERSION", "save_history", "read_history", "provenance"]

KIND = "monitor_history"
MONITOR_SCHEMA_VERSION = 1
_JSON_ATTRS = ("versions", "device", "ps", "steps", "layer_names", "unseen")


def provenance(monitor) -> dict:
    """What a saved history depends on: versions, device and the monitor's conventions."""
    device = next(iter(monitor.model.parameters())).device
    every = monitor.every if isinstance(monitor.every, int) else (
        sorted(monitor.every) if not callable(monitor.every) else repr(monitor.every))
    return {
        "versions": library_versions(),
        "device": device_description(str(device)),
        "fisher": monitor.fisher.value,
        "conv_mode": monitor.conv_mode.value,
        "loss_reduction": monitor.loss_reduction,
        "every": json.dumps(every) if not isinstance(every, str) else every,
        "batches_per_checkpoint": monitor.batches_per_checkpoint,
        "ps": list(monitor.ps),
        "rtol": "default" if monitor.rtol is None else float(monitor.rtol),
        "steps": monitor.history.steps,
        "layer_names": monitor.history.layer_names,
        "unseen": monitor.unseen(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def _dataset(group, name: str, values, dims) -> None:
    values = np.asarray(values, dtype=float)
    dataset = group.create_dataset(name, data=values)
    dataset.attrs["dims"] = json.dumps(list(dims))
    dataset.attrs["sha256"] = array_sha256(values)


def _spectra(history, layer: str, which: str) -> np.ndarray:
    rows = []
    for checkpoint in history.checkpoints:
        found = [la for la in checkpoint.analysis.layers if la.name == layer]
        rows.append(getattr(found[0], f"{which}_spectrum").numpy() if found else None)
    width = max((r.size for r in rows if r is not None), default=0)
    return np.array([r if r is not None else np.full(width, np.nan) for r in rows]).reshape(len(rows), width)


def _write(f, monitor) -> None:
    history = monitor.history
    f.attrs["kind"] = KIND
    f.attrs["schema_version"] = MONITOR_SCHEMA_VERSION
    for key, value in provenance(monitor).items():
        f.attrs[key] = json.dumps(value) if key in _JSON_ATTRS else value
    group = f.create_group("quantities")
    for path, values in history.quantities().items():
        _dataset(group, path, values, ("step", "layer"))
    per_step = {"step": history.steps,
                "mean_loss": [c.analysis.mean_loss for c in history.checkpoints],
                "num_examples": [c.analysis.num_examples for c in history.checkpoints],
                "batches": [c.batches for c in history.checkpoints]}
    for name, values in per_step.items():
        _dataset(group, name, values, ("step",))
    spectra = f.create_group("spectra")
    for k, layer in enumerate(history.layer_names, start=1):
        layer_group = spectra.create_group(str(k))
        layer_group.attrs["layer"] = layer
        for which in ("input", "grad"):
            _dataset(layer_group, which, _spectra(history, layer, which), ("step", "eigenvalue"))


def save_history(monitor, path) -> Path:
    """Write ``monitor``'s history to ``path`` (HDF5, see the module docstring); returns it."""
    import h5py

    path = Path(path)
    with atomic_write_path(path) as tmp, h5py.File(tmp, "w") as f:
        _write(f, monitor)
        f.flush()
        f.attrs["complete"] = True
    return path


def _decode(value):
    if isinstance(value, bytes):
        value = value.decode()
    return value.item() if isinstance(value, np.generic) else value


def read_history(path) -> tuple[dict, dict[str, Quantity]]:
    """``(root attrs, {dataset path: Quantity})`` of a saved history.

    Raises:
        ValueError: Not a complete monitor history of a schema this version reads (one line
            naming the file).
    """
    import h5py

    path = Path(path)
    with h5py.File(path, "r") as f:
        attrs = {key: _decode(value) for key, value in f.attrs.items()}
        if attrs.get("kind") != KIND:
            raise ValueError(f"{path}: not a monitor history (kind {attrs.get('kind')!r}, expected {KIND!r})")
        if attrs.get("schema_version") != MONITOR_SCHEMA_VERSION:
            raise ValueError(f"{path}: monitor history schema_version {attrs.get('schema_version')!r}; "
                             f"this lcsuite reads {MONITOR_SCHEMA_VERSION}")
        if not attrs.get("complete"):
            raise ValueError(f"{path}: incomplete monitor history (no completion marker)")
        for key in _JSON_ATTRS:
            attrs[key] = json.loads(attrs[key])
        quantities: dict[str, Quantity] = {}

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                values = np.asarray(obj[...])
                if array_sha256(values) != _decode(obj.attrs.get("sha256", "")):
                    raise ValueError(f"{path}: dataset {name} fails its checksum")
                quantities[name] = Quantity(values, tuple(json.loads(_decode(obj.attrs["dims"]))))

        f.visititems(visit)
    return attrs, quantities

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

Every dataset carries its dim names as a JSON list in its ``dims`` attr, as in the result
store. The file is written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import json
import os
import platform
import secrets
import time
from pathlib import Path

import numpy as np

from lcsuite.harness.quantities import Quantity

__all__ = ["KIND", "MONITOR_SCHEMA_VERSION", "save_history", "read_history", "provenance"]

KIND = "monitor_history"
MONITOR_SCHEMA_VERSION = 1
_JSON_ATTRS = ("versions", "ps", "steps", "layer_names", "unseen")


def provenance(monitor) -> dict:
    """What a saved history depends on: versions, device and the monitor's conventions."""
    import h5py
    import torch

    import lcsuite

    device = next(iter(monitor.model.parameters())).device
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    every = monitor.every if isinstance(monitor.every, int) else (
        sorted(monitor.every) if not callable(monitor.every) else repr(monitor.every))
    return {
        "versions": {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__,
                     "h5py": h5py.__version__, "lcsuite": lcsuite.__version__},
        "device": f"{device} ({device_name})",
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
    dataset = group.create_dataset(name, data=np.asarray(values, dtype=float))
    dataset.attrs["dims"] = json.dumps(list(dims))


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
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(2)}.tmp")
    try:
        with h5py.File(tmp, "w") as f:
            _write(f, monitor)
            f.flush()
            f.attrs["complete"] = True
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
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
                quantities[name] = Quantity(np.asarray(obj[...]), tuple(json.loads(_decode(obj.attrs["dims"]))))

        f.visititems(visit)
    return attrs, quantities

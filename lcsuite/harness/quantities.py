"""Named-dimension arrays: what experiments return and expectations compare.

A :class:`Quantity` is a numpy array plus one name per axis. After the runner stacks seeds,
the first dim of every quantity is ``seed``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

__all__ = ["Quantity", "QuantityError", "as_quantity", "stack_seeds", "align", "timing", "SEED"]

SEED = "seed"


class QuantityError(ValueError):
    """A returned value cannot be turned into a named array."""


@dataclass(frozen=True)
class Quantity:
    """An array with named dims (``values.ndim == len(dims)``).

    ``timing`` marks wall-clock measurements: they are outside the bitwise reproducibility
    guarantee, and ``lcsuite compare`` judges them only against tolerances given for them.
    """

    values: np.ndarray
    dims: tuple[str, ...]
    timing: bool = False

    def __post_init__(self):
        if self.values.ndim != len(self.dims):
            raise QuantityError(
                f"{self.values.ndim}-d array but {len(self.dims)} dim names {list(self.dims)}"
            )
        if len(set(self.dims)) != len(self.dims):
            raise QuantityError(f"repeated dim names {list(self.dims)}")



def timing(value: Any, dims: tuple[str, ...] = ()) -> Quantity:
    """A wall-clock quantity (seconds), e.g. App. B's timings; see :class:`Quantity`."""
    return Quantity(_to_array(value), tuple(dims), timing=True)


def _to_array(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor; avoid importing torch here
        value = value.detach().cpu().numpy()
    array = np.asarray(value)
    if array.dtype == object:
        raise QuantityError("not a numeric array")
    if array.dtype.kind not in "biuf":
        raise QuantityError(f"dtype {array.dtype} is not numeric (bool, int or float)")
    return array


def as_quantity(value: Any, declared_dims: tuple[str, ...] | None = None) -> Quantity:
    """Turn an experiment's value (number, array, tensor or ``(array, dims)``) into a Quantity."""
    if isinstance(value, Quantity):
        if declared_dims is not None and tuple(value.dims) != tuple(declared_dims):
            raise QuantityError(f"dims {list(value.dims)} differ from the declared {list(declared_dims)}")
        return value
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], (tuple, list)):
        array, dims = _to_array(value[0]), tuple(str(d) for d in value[1])
    else:
        array = _to_array(value)
        dims = declared_dims if declared_dims is not None else tuple(f"d{i}" for i in range(array.ndim))
    if SEED in dims:
        raise QuantityError(f"dim name {SEED!r} is reserved for the stacked seeds")
    if declared_dims is not None and tuple(dims) != tuple(declared_dims):
        raise QuantityError(f"dims {list(dims)} differ from the declared {list(declared_dims)}")
    return Quantity(array, tuple(dims))


def stack_seeds(per_seed: list[Mapping[str, Quantity]], pad_missing: bool = False) -> dict[str, Quantity]:
    """Stack per-seed quantities along a leading ``seed`` dim.

    With ``pad_missing`` (used after a failure), a path missing for some seeds is filled with
    NaN for those seeds; otherwise every seed must return the same paths, dims and shapes.
    """
    paths: list[str] = []
    for outputs in per_seed:
        paths.extend(p for p in outputs if p not in paths)
    stacked: dict[str, Quantity] = {}
    for path in paths:
        present = [outputs.get(path) for outputs in per_seed]
        reference = next(q for q in present if q is not None)
        rows = []
        for seed_index, quantity in enumerate(present):
            if quantity is None:
                if not pad_missing:
                    raise QuantityError(f"{path}: missing for seed index {seed_index}")
                rows.append(np.full(reference.values.shape, np.nan))
                continue
            if quantity.dims != reference.dims or quantity.values.shape != reference.values.shape:
                raise QuantityError(
                    f"{path}: seeds disagree on dims/shape: {list(reference.dims)} "
                    f"{reference.values.shape} vs {list(quantity.dims)} {quantity.values.shape}"
                )
            rows.append(quantity.values)
        values = np.stack(rows) if not pad_missing else np.stack([r.astype(float) for r in rows])
        stacked[path] = Quantity(values, (SEED,) + reference.dims, reference.timing)
    return stacked


def align(*quantities: Quantity) -> tuple[tuple[str, ...], list[np.ndarray]]:
    """Broadcast quantities against each other by dim name.

    Returns the union of dims (in first-seen order) and each array transposed and reshaped
    so that numpy broadcasting lines up equal names. Equal names must have equal sizes.
    """
    dims: list[str] = []
    sizes: dict[str, int] = {}
    for quantity in quantities:
        for dim, size in zip(quantity.dims, quantity.values.shape):
            if dim not in sizes:
                dims.append(dim)
                sizes[dim] = size
            elif sizes[dim] != size and 1 not in (sizes[dim], size):
                raise QuantityError(f"dim {dim!r} has size {sizes[dim]} in one operand and {size} in another")
            else:
                sizes[dim] = max(sizes[dim], size)
    arrays = []
    for quantity in quantities:
        order = [quantity.dims.index(d) for d in dims if d in quantity.dims]
        array = np.transpose(quantity.values, order)
        shape = [quantity.values.shape[quantity.dims.index(d)] if d in quantity.dims else 1 for d in dims]
        arrays.append(array.reshape(shape))
    return tuple(dims), arrays

"""``lcsuite doctor MODEL.py``: the monitor's diagnoses on a user's model, from the command line.

``MODEL.py`` defines a model factory, by default::

    def make_model() -> torch.nn.Module: ...

returning a fresh model that maps a batch of the chosen data to logits ``(N, C)``:
``mnist`` and ``digits`` give images ``(N, 1, 28, 28)`` in ``[0, 1]`` and 10 classes (MNIST when
found in ``--data-dir`` or ``$LCSUITE_DATA``, else scikit-learn's digits upscaled to 28×28,
labelled as a substitute); ``cifar10`` gives ``(N, 3, 32, 32)`` normalised images (CIFAR-10
when found, else the CIFAR-shaped synthetic substitute).

The doctor analyses the model at initialisation on one batch. With ``--train STEPS`` it also
runs plain SGD for that many steps on mini-batches, recording every ``--every`` steps and
after the last update. It prints the per-layer tables and the findings; exit 0. A missing
file, a missing or failing factory, or unusable data is a one-line error with exit 2.
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from lcsuite.monitor.monitor import Monitor
from lcsuite.monitor.rules import format_findings

__all__ = ["DoctorError", "DoctorOptions", "DATASETS", "load_factory", "load_data", "run_doctor"]

DATASETS = ("mnist", "digits", "cifar10")


class DoctorError(Exception):
    """A usage problem the command reports in one line (exit 2)."""


@dataclass
class DoctorOptions:
    """The command's options (see ``lcsuite doctor --help``)."""

    model_file: str
    factory: str = "make_model"
    data: str = "mnist"
    data_dir: str | None = None
    batch_size: int = 256
    train: int = 0
    every: int | None = None
    lr: float = 0.1
    fisher: str = "empirical"
    conv_mode: str = "channel"
    seed: int = 0
    device: str = "cpu"
    save: str | None = None
    plots: str | None = None


def load_factory(model_file: str, factory: str):
    """The factory function ``factory`` defined in the Python file ``model_file``."""
    path = Path(model_file)
    if not path.is_file():
        raise DoctorError(f"{model_file}: no such file")
    spec = importlib.util.spec_from_file_location(f"lcsuite_doctor_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # the user's file: any error is theirs to see, in one line
        raise DoctorError(f"{model_file}: importing it raised {type(exc).__name__}: {exc}") from None
    function = getattr(module, factory, None)
    if not callable(function):
        raise DoctorError(f"{model_file}: no function {factory}() (define 'def {factory}() -> torch.nn.Module')")
    return function


def _build(function, model_file: str, factory: str) -> nn.Module:
    try:
        model = function()
    except Exception as exc:
        raise DoctorError(f"{model_file}: {factory}() raised {type(exc).__name__}: {exc}") from None
    if not isinstance(model, nn.Module):
        raise DoctorError(f"{model_file}: {factory}() returned {type(model).__name__}, not a torch.nn.Module")
    return model


def load_data(name: str, data_dir: str | None, limit: int):
    """The data set ``name`` (see the module docstring), at most ``limit`` examples."""
    from lcsuite.data import digits_substitute, resolve_cifar, resolve_mnist

    if name not in DATASETS:
        raise DoctorError(f"--data {name!r}: expected one of {', '.join(DATASETS)}")
    if name == "mnist":
        return resolve_mnist(data_dir, allow_substitute=True, allow_unverified=True, image_size=28, limit=limit)
    if name == "digits":
        return digits_substitute(image_size=28, limit=limit)
    return resolve_cifar(data_dir, allow_substitute=True, allow_unverified=True, limit=limit, substitute_size=limit)


def _batches(data, batch_size: int, seed: int):
    """Endless shuffled mini-batches ``(inputs, targets)``."""
    generator = torch.Generator().manual_seed(seed)
    while True:
        order = torch.randperm(len(data), generator=generator)
        for start in range(0, len(order) - batch_size + 1, batch_size):
            index = order[start:start + batch_size]
            yield data.inputs[index], data.targets[index]


def _schedule(options: DoctorOptions) -> set[int]:
    every = options.every or max(1, options.train // 5)
    return set(range(0, options.train, every)) | {options.train}


def _train_and_record(model: nn.Module, data, options: DoctorOptions, echo) -> Monitor:
    device = torch.device(options.device)
    monitor = Monitor(model, every=_schedule(options), fisher=options.fisher, conv_mode=options.conv_mode)
    optimizer = torch.optim.SGD(model.parameters(), lr=options.lr)
    batches = _batches(data, options.batch_size, options.seed)
    for step in range(options.train + 1):
        x, y = (t.to(device) for t in next(batches))
        optimizer.zero_grad(set_to_none=True)
        with monitor.record(step, inputs=x, targets=y) as rec:
            loss = F.cross_entropy(model(x), y)
            loss.backward()
        if rec.recording:
            echo(f"step {step}/{options.train}: loss {float(loss.detach()):.4g} (recorded)")
        if step < options.train:
            optimizer.step()
    return monitor


def run_doctor(options: DoctorOptions, echo=print) -> Monitor:
    """Build the model, load the data, record, print tables and findings; returns the monitor.

    Raises:
        DoctorError: Missing file or factory, a failing factory, unusable data or options.
    """
    if options.batch_size < 1 or options.train < 0 or (options.every is not None and options.every < 1):
        raise DoctorError("--batch-size and --every must be >= 1, --train >= 0")
    function = load_factory(options.model_file, options.factory)
    torch.manual_seed(options.seed)
    model = _build(function, options.model_file, options.factory).to(options.device)
    try:
        data = load_data(options.data, options.data_dir, limit=max(options.batch_size * 8, 2048))
    except (OSError, ValueError) as exc:
        raise DoctorError(f"--data {options.data}: {exc}") from None
    if len(data) < options.batch_size:
        raise DoctorError(f"--batch-size {options.batch_size} exceeds the {len(data)} examples of {options.data}")
    provenance = data.provenance
    echo(f"data: {provenance.name}, {provenance.split} split, {len(data)} examples, "
         f"{'SUBSTITUTE' if provenance.substitute else provenance.source}")
    echo(f"model: {type(model).__name__} from {options.model_file}:{options.factory}(); batch {options.batch_size}")
    try:
        monitor = _train_and_record(model, data, options, echo)
    except (ValueError, RuntimeError) as exc:
        raise DoctorError(f"{options.model_file}: recording failed: {str(exc).splitlines()[0]}") from None
    steps = sorted({monitor.history.steps[0], monitor.history.steps[-1]})
    for step in steps:
        echo("\n" + monitor.table(step))
        echo(f"\nfindings at step {step}:\n" + format_findings(monitor.diagnose(steps=[step])))
    if options.save:
        echo(f"\nhistory written to {monitor.save(options.save)}")
    if options.plots:
        echo(f"figures written to {options.plots} ({len(monitor.plot(options.plots))} PNG files)")
    sys.stdout.flush()
    return monitor

"""Measuring one claim item: the experiment over its seeds, into one result file.

:class:`ItemTask` is the unit every executor runs (in this process, in a local subprocess, or as
a Slurm array task): picklable, it computes its item and writes the result file atomically into
the run directory, and returns a small summary. It never judges; judging reads the file.

Errors are results too: when the experiment raises, times out, returns something that is not a
quantity, or is refused its data, the file is written with ``status = "error"``, the message,
and whatever was measured before (seeds stack with NaN where a seed is missing).

Seeds run one after the other, each seeded on its own. The seeds finished so far are kept in a
partial file beside the result, so that an item killed or requeued between seeds resumes from
them with the same bits (:mod:`lcsuite.harness.partial`).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import signal
import subprocess
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import lcsuite
from lcsuite.data.provenance import data_digests
from lcsuite.harness import provenance as prov
from lcsuite.harness.atomic import in_executor_job, job_token
from lcsuite.harness.determinism import ITEM_THREADS, deterministic, seed_all
from lcsuite.harness.devices import DeviceUnavailable, item_device
from lcsuite.harness.enums import MeasurementStatus
from lcsuite.harness.experiments import ExperimentContext, get_experiment
from lcsuite.harness.measuring_code import changed_since_loaded, code_manifest, note_loaded_sources
from lcsuite.harness.partial import Resumed, discard_partial, load_partial, partial_file
from lcsuite.harness.quantities import Quantity, QuantityError, as_quantity, stack_seeds
from lcsuite.harness.reuse import find_reusable, reuse_problems
from lcsuite.harness.runs import item_file
from lcsuite.harness.spec import ItemSpec
from lcsuite.harness.store import StoredItem, write_item
from lcsuite.progress import seed_context
from lcsuite.registry import UnknownName, recording_use

__all__ = ["MeasureSettings", "DEVICE_AUTO", "ItemTask", "ItemTimeout", "measure", "git_commit"]

_log = logging.getLogger("lcsuite")

DEVICE_AUTO = "auto"
"""The device decided by the process that measures the item (:func:`~lcsuite.harness.devices.item_device`)."""


@dataclass(frozen=True)
class MeasureSettings:
    """How this run measures (none of it is part of the reuse key).

    Attributes:
        run_dir: the run directory results are written into.
        device: ``"cpu"``, ``"cuda"``, or :data:`DEVICE_AUTO` (decided where the item is
            measured: the local and Slurm executors' jobs; see :meth:`on_this_machine`).
        data_root: the data folder named by the user (``--lc-data``), or None.
        download: loaders may download missing data sets.
        threads: intra-op threads per item (:data:`ITEM_THREADS`).
        executor: ``inline`` | ``local`` | ``slurm`` (recorded in the provenance).
    """

    run_dir: Path
    device: str = "cpu"
    data_root: Path | None = None
    download: bool = False
    threads: int = ITEM_THREADS
    executor: str = "inline"

    def on_this_machine(self, tier: str) -> "MeasureSettings":
        """These settings with the device decided in this process (DeviceUnavailable when the
        tier is measured on a GPU and none is visible here)."""
        if self.device != DEVICE_AUTO:
            return self
        return dataclasses.replace(self, device=item_device(tier))


class ItemTimeout(BaseException):
    """Raised inside the experiment when the item exceeds the tier's ``timeout_s`` (one limit for
    all its seeds together).

    A BaseException so that an experiment's ``except Exception`` does not swallow it.
    """


WALL_BACKSTOP = 4.0
"""An item's wall-clock limit, as a multiple of its ``timeout_s`` of CPU time: it stops an item
that waits without computing (a hang), and leaves room for a loaded machine (``-n 4`` on two
cores runs an item at about half speed)."""


def _timeout_message(timeout_s: float, clock: str) -> str:
    if clock == "cpu":
        return f"exceeded the tier's timeout_s = {timeout_s:g} s of CPU time (the item's limit, all its seeds together)"
    return (f"ran past {WALL_BACKSTOP * timeout_s:g} s of wall-clock time ({WALL_BACKSTOP:g} x the tier's "
            f"timeout_s = {timeout_s:g} s of CPU time; the item waited without computing)")


@dataclass(frozen=True)
class ItemClock:
    """Where an item's limit stands: ``cpu`` and ``wall`` are the :func:`time.process_time` and
    :func:`time.perf_counter` values at which it is exhausted."""

    cpu: float
    wall: float

    @classmethod
    def starting_now(cls, timeout_s: float, spent_s: float = 0.0) -> "ItemClock":
        """The limit of an item that has already spent ``spent_s`` seconds (resumed seeds, their
        wall-clock times counted as CPU time too: an upper bound for one thread)."""
        return cls(time.process_time() + timeout_s - spent_s,
                   time.perf_counter() + WALL_BACKSTOP * timeout_s - spent_s)


class _Deadline:
    """An item's time limit: ``timeout_s`` seconds of this process's CPU time (the budget "on one
    core" of DECISIONS D5, whatever the machine's load), with a wall-clock backstop of
    :data:`WALL_BACKSTOP` x ``timeout_s``. Signal-based (SIGPROF, SIGALRM): main thread only,
    otherwise not enforced; re-entered for each seed."""

    def __init__(self, clock: ItemClock | None, timeout_s: float | None):
        self.clock, self.timeout_s = clock, timeout_s
        self.active = clock is not None and threading.current_thread() is threading.main_thread() \
            and hasattr(signal, "setitimer")

    def _timers(self):
        return ((signal.ITIMER_PROF, signal.SIGPROF, "cpu", self.clock.cpu - time.process_time()),
                (signal.ITIMER_REAL, signal.SIGALRM, "wall", self.clock.wall - time.perf_counter()))

    def __enter__(self):
        if not self.active:
            return self
        timers = self._timers()
        for _, _, clock, left in timers:
            if left <= 0:
                raise ItemTimeout(_timeout_message(self.timeout_s, clock))
        self.previous = []
        for timer, signum, clock, left in timers:
            def on_expiry(signum, frame, clock=clock):
                raise ItemTimeout(_timeout_message(self.timeout_s, clock))
            self.previous.append((timer, signum, signal.signal(signum, on_expiry)))
            signal.setitimer(timer, left)
        return self

    def __exit__(self, *exc):
        if self.active:
            for timer, signum, handler in self.previous:
                signal.setitimer(timer, 0)
                signal.signal(signum, handler)
        return False


@functools.lru_cache(maxsize=None)
def git_commit(start: Path | None = None) -> str:
    """The current git commit (with ``-dirty``), or ``"unknown"`` outside a git checkout."""
    cwd = Path(start or Path(lcsuite.__file__).parent)
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10)
        if commit.returncode != 0:
            return "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, timeout=10)
        return commit.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except Exception:
        return "unknown"


def _describe_exception(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    inner = [f for f in frames if "lcsuite/harness" not in f.filename.replace("\\", "/")]
    location = f" at {Path(inner[-1].filename).name}:{inner[-1].lineno} in {inner[-1].name}" if inner else ""
    return f"{type(exc).__name__}: {exc}{location}"


@dataclass
class _SeedsOutcome:
    per_seed: list[dict[str, Quantity]]
    data: list[dict]
    timings: dict[str, float]
    error: str | None


def _seed_quantities(ctx, outputs: Mapping[str, Any], declared: Mapping[str, tuple]) -> tuple[dict, str | None]:
    quantities, problem = {}, None
    for qpath, value in {**ctx.saved, **dict(outputs)}.items():
        try:
            quantities[qpath] = as_quantity(value, declared.get(qpath))
        except QuantityError as exc:
            problem = problem or f"quantity {qpath!r} (seed {ctx.seed}): {exc}"
    return quantities, problem


def _item_clock(timeout_s: float | None, resumed: Resumed) -> ItemClock | None:
    """The limit of the item's seeds together, the resumed seeds counted with their measured
    times; None without a limit."""
    if timeout_s is None:
        return None
    return ItemClock.starting_now(timeout_s, sum(resumed.timings.values()))


def _run_seed(experiment, spec: ItemSpec, settings: MeasureSettings, limit: _Deadline,
              declared: Mapping[str, tuple], seed: int, outcome: _SeedsOutcome) -> None:
    """Run one seed (seeded on its own: :func:`seed_all`) under the item's time ``limit`` and
    add what it gave to ``outcome``."""
    ctx = ExperimentContext(
        params=dict(spec.params), seed=seed, tier=spec.tier, device=settings.device,
        data_root=settings.data_root, download=settings.download,
        requires_real_data=spec.requires_real_data, allow_unverified=spec.allow_unverified,
        progress_callback=_log.info,
    )
    start, outputs, failure = time.perf_counter(), {}, None
    seed_all(seed)
    try:
        with limit, seed_context(spec.seeds.index(seed) + 1, len(spec.seeds)):
            outputs = experiment(ctx)
        if not isinstance(outputs, Mapping):
            raise TypeError(f"experiment returned {type(outputs).__name__}, expected a dict of quantities")
    except (Exception, ItemTimeout) as exc:
        failure = f"experiment {spec.experiment!r} failed for seed {seed}: {_describe_exception(exc)}"
    outcome.timings[str(seed)] = time.perf_counter() - start
    outcome.data.extend(entry for entry in ctx.data if entry not in outcome.data)
    quantities, problem = _seed_quantities(ctx, outputs, declared)
    outcome.per_seed.append(quantities)
    outcome.error = failure or problem


def _run_seeds(experiment, spec: ItemSpec, settings: MeasureSettings, timeout_s: float | None,
               resumed: Resumed, seed_finished: Callable[[_SeedsOutcome], None]) -> _SeedsOutcome:
    """The seeds after ``resumed``'s, in order, until one fails; ``seed_finished`` is called
    after each seed that ends without error, except the last."""
    declared = experiment.declared_outputs(spec.params) or {}
    outcome = _SeedsOutcome(list(resumed.per_seed), list(resumed.data), dict(resumed.timings), None)
    limit = _Deadline(_item_clock(timeout_s, resumed), timeout_s)
    for seed in spec.seeds[resumed.finished:]:
        _run_seed(experiment, spec, settings, limit, declared, seed, outcome)
        if outcome.error:
            break
        if len(outcome.per_seed) < len(spec.seeds):
            seed_finished(outcome)
    return outcome


def _stacked(outcome: _SeedsOutcome) -> tuple[dict[str, Quantity], str | None]:
    if not outcome.per_seed:
        return {}, outcome.error
    try:
        return stack_seeds(outcome.per_seed, pad_missing=bool(outcome.error)), outcome.error
    except QuantityError as exc:
        return stack_seeds(outcome.per_seed[:1], pad_missing=True), f"cannot stack seeds: {exc}"


def _source_changed(manifest: dict[str, dict[str, str]]) -> str | None:
    changed = changed_since_loaded(manifest)
    if not changed:
        return None
    return (f"the source of {', '.join(changed)} changed on disk after this process loaded it: the measurement "
            "is not stored as a result of either version; measure it again")


def _refused_data(spec: ItemSpec, data: list[dict]) -> str | None:
    if not spec.requires_real_data:
        return None
    substitutes = [f"{d.get('name')} ({d.get('split', '')})" for d in data if d.get("substitute")]
    if substitutes:
        return f"the claim requires real data at tier {spec.tier!r}, but the experiment used {', '.join(substitutes)}"
    return None


@dataclass
class _Attempt:
    """This attempt at measuring an item: what every file it writes records besides the seeds."""

    spec: ItemSpec
    settings: MeasureSettings
    resumed: Resumed
    started_at: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    start: float = field(default_factory=time.perf_counter)
    versions: dict = field(default_factory=prov.library_versions)
    determinism: dict = field(default_factory=dict)
    used: set[str] = field(default_factory=set)

    @functools.cached_property
    def device(self) -> dict[str, str]:
        """The device's description, taken once, when the first file is written."""
        return prov.device_description(self.settings.device)

    def stored(self, outcome: _SeedsOutcome, status: MeasurementStatus | None = None) -> StoredItem:
        """The item as measured so far: ``status`` given (a partial), or complete / error."""
        quantities, error = _stacked(outcome)
        error = error or _refused_data(self.spec, outcome.data)
        # The experiment's module is among the owners of the registry entries used; a resumed
        # partial's entries stay in the manifest of the seeds it gave.
        device, manifest = self.device, {**self.resumed.code, **code_manifest(self.used)}
        error = error or _source_changed(manifest)
        provenance = {
            "started_at": self.started_at, "elapsed_s": self.resumed.elapsed_s + time.perf_counter() - self.start,
            "timings": outcome.timings, "seeds_measured": list(self.spec.seeds[: len(outcome.per_seed)]),
            "data": outcome.data, "versions": self.versions, "device": device, "determinism": self.determinism,
            "code": manifest, "git_commit": git_commit(), "executor": self.settings.executor, "job": job_token(),
            "run_id": self.settings.run_dir.name,
            "resume": {"seeds": list(self.spec.seeds[: self.resumed.finished]), "note": self.resumed.note},
        }
        digests = {key: sha for entry in outcome.data for key, sha in data_digests(entry).items()}
        status = status or (MeasurementStatus.ERROR if error else MeasurementStatus.COMPLETE)
        return StoredItem(self.spec, status, error or "", provenance, quantities, prov.reuse_key(
            self.spec.spec_hash(), digests, {name: entry["sha256"] for name, entry in manifest.items()},
            self.versions, device["kind"]))

    def keep_partial(self, outcome: _SeedsOutcome) -> None:
        """Write the finished seeds to the item's partial file (atomic), unless the item cannot
        end complete whatever the other seeds give (its seeds do not stack, its data is refused)."""
        partial = self.stored(outcome, MeasurementStatus.PARTIAL)
        if not partial.message:
            write_item(partial_file(self.settings.run_dir, self.spec.key), partial)


def measure(spec: ItemSpec, settings: MeasureSettings, timeout_s: float | None = None) -> StoredItem:
    """Run ``spec``'s experiment over its seeds and write the result file; returns what was written.

    ``timeout_s`` limits the CPU time of the item, all its seeds together (the tier's
    ``timeout_s``; resumed seeds count with their measured times), with a wall-clock backstop of
    :data:`WALL_BACKSTOP` times it; past either the seed running stops with :class:`ItemTimeout`
    and the item is an error. Seeds that a usable partial of an earlier
    attempt holds are not run again (:mod:`lcsuite.harness.partial`); the partial is removed once
    the complete result is stored.
    """
    note_loaded_sources()  # the lcsuite modules imported since the last item
    partial = partial_file(settings.run_dir, spec.key)
    attempt = _Attempt(spec, settings, load_partial(partial, spec, settings.device, settings.data_root))
    with deterministic(settings.threads) as attempt.determinism, recording_use() as attempt.used:
        try:
            outcome = _run_seeds(get_experiment(spec.experiment), spec, settings, timeout_s, attempt.resumed,
                                 attempt.keep_partial)
        except UnknownName as exc:
            outcome = _SeedsOutcome([], [], {}, str(exc))
    item = attempt.stored(outcome)
    write_item(item_file(settings.run_dir, spec.key), item)
    if item.status is MeasurementStatus.COMPLETE:
        discard_partial(partial)
    return item


@dataclass(frozen=True)
class ItemTask:
    """One item to measure into ``settings.run_dir``; picklable, for any executor
    (:mod:`lcsuite.harness.executors`: ``key``, ``__call__``, ``is_done``).

    ``reuse_candidates``: ``(run id, item file)`` pairs of stored results that may stand in for
    the measurement (this run's own on a resume, ``--lc-reuse-from``'s). They are checked where
    the task runs, with that process's device: the executors' jobs decide the device, and so
    the device-dependent part of reuse. A candidate that may be kept is returned at once.

    Called again after a requeue, it resumes from the seeds its earlier attempt finished (its
    partial file).
    """

    spec: ItemSpec
    settings: MeasureSettings
    timeout_s: float | None = None
    reuse_candidates: tuple[tuple[str, Path], ...] = ()

    @property
    def key(self) -> str:
        return self.spec.key

    def is_done(self) -> bool:
        """The run already holds a valid result of this item for this process's device (a rerun
        or requeue skips it). With :data:`DEVICE_AUTO`, only the item's own job can tell: False
        in any other process."""
        if self.settings.device == DEVICE_AUTO and not in_executor_job():
            return False
        try:
            settings = self.settings.on_this_machine(self.spec.tier)
        except DeviceUnavailable:
            return False  # __call__ raises it, with the reason
        path = item_file(settings.run_dir, self.key)
        return reuse_problems(path, self.spec, settings.device, settings.data_root)[0] is not None

    def __call__(self) -> dict[str, str | None]:
        """Keep a reusable candidate, else measure. Returns ``{key, status, message, reused_from,
        note}`` (``note``: why candidates were not kept). DeviceUnavailable propagates, and
        nothing is written: a stored result is never replaced by a missing device's error."""
        settings = self.settings.on_this_machine(self.spec.tier)
        note = ""
        if self.reuse_candidates:
            stored, reused_from, note = find_reusable(list(self.reuse_candidates), item_file(settings.run_dir, self.key),
                                                      self.spec, settings.device, settings.data_root)
            if stored is not None:
                return {"key": self.key, "status": str(stored.status), "message": stored.message,
                        "reused_from": reused_from, "note": ""}
        item = measure(self.spec, settings, self.timeout_s)
        return {"key": self.key, "status": str(item.status), "message": item.message, "reused_from": None,
                "note": note}

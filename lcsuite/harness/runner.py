"""Running one claim item: params, seeds, experiment calls, expectations, HDF5 result, reuse.

``run_item(claim, item, grid_point, settings)`` returns an :class:`ItemSummary` (what the
plugin reports and the terminal table shows) and leaves the result file at
``<results>/<run-id>/<claim-id>/<item>.h5``. Verdicts: ``pass``; ``fail`` (an expectation does
not hold); ``error`` (the experiment raised, timed out, produced NaN, produced a quantity the
claim cannot use, or used substitute data where the tier requires real data). Whatever was
measured before a failure is stored.
"""

from __future__ import annotations

import functools
import hashlib
import json
import signal
import socket
import subprocess
import threading
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

import lcsuite
from lcsuite.harness import devices, store
from lcsuite.harness.expectations import SpecError
from lcsuite.harness.quantities import Quantity, QuantityError, as_quantity, stack_seeds
from lcsuite.harness.schema import Claim

__all__ = ["RunSettings", "ItemSummary", "run_item", "code_version", "git_commit"]


@dataclass
class RunSettings:
    """Per-run settings shared by all items (the same in the xdist controller and workers)."""

    results_dir: Path
    run_id: str
    tier: str
    previous_run_id: str | None = None
    device: str | None = None  # None: "cuda" for gpu/paper tiers when available, else "cpu"
    data_root: Path | None = None
    download: bool = False
    rerun: bool = False
    n_workers: int = 1
    progress: Callable[[str], None] | None = None


@dataclass
class ItemSummary:
    """What the terminal table and failure report need about one item (JSON-serialisable)."""

    claim_id: str
    paper: str
    statement: str
    tier: str
    item: str
    verdict: str
    message: str
    headline: dict[str, float]
    data: list[str]
    elapsed_s: float
    reused: bool
    path: str
    failures: list[dict[str, str]] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self), default=str)

    @classmethod
    def from_json(cls, text: str) -> "ItemSummary":
        return cls(**json.loads(text))

    @classmethod
    def from_result(cls, result: store.ItemResult, reused: bool) -> "ItemSummary":
        attrs = result.attrs
        return cls(
            claim_id=attrs["claim_id"], paper=attrs["paper"], statement=attrs["statement"],
            tier=attrs["tier"], item=attrs["item"], verdict=attrs["verdict"], message=attrs["message"],
            headline=result.headline, data=[_data_label(d) for d in attrs.get("data", [])],
            elapsed_s=float(attrs["elapsed_s"]), reused=reused, path=str(result.path),
            failures=[
                {"description": e.description, "expected": e.expected, "measured": e.measured, "where": e.where}
                for e in result.expectations if not e.passed
            ],
        )


def _data_label(provenance: Mapping[str, Any]) -> str:
    name = str(provenance.get("name", provenance.get("dataset", "data")))
    extras = [str(provenance[k]) for k in ("split", "size") if k in provenance]
    label = f"{name}({', '.join(extras)})" if extras else name
    return label + (" [substitute]" if provenance.get("substitute") else "")


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


def code_version(source_file: str | None) -> str:
    """lcsuite version plus a hash of the experiment's source file (reuse key)."""
    digest = "nosource"
    if source_file:
        try:
            digest = hashlib.sha256(Path(source_file).read_bytes()).hexdigest()[:12]
        except OSError:
            pass
    return f"{lcsuite.__version__}+{digest}"


class ItemTimeout(BaseException):
    """Raised inside the experiment when the tier's ``timeout_s`` is exceeded.

    A BaseException so that an experiment's ``except Exception`` does not swallow it.
    """


class _Deadline:
    """SIGALRM-based wall-clock limit (main thread only; otherwise not enforced)."""

    def __init__(self, seconds: float | None):
        self.seconds = seconds
        self.active = seconds is not None and threading.current_thread() is threading.main_thread() \
            and hasattr(signal, "setitimer")

    def __enter__(self):
        if self.active:
            def on_alarm(signum, frame):
                raise ItemTimeout(f"exceeded the tier's timeout_s = {self.seconds:g} s")
            self.previous = signal.signal(signal.SIGALRM, on_alarm)
            signal.setitimer(signal.ITIMER_REAL, self.seconds)
        return self

    def __exit__(self, *exc):
        if self.active:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self.previous)
        return False


def _resolve_device(settings: RunSettings) -> str:
    if settings.device:
        return settings.device
    if settings.tier == "smoke":
        return "cpu"
    return "cuda" if devices.cuda_device_count() > 0 else "cpu"


def _describe_exception(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    inner = [f for f in frames if "lcsuite/harness" not in f.filename.replace("\\", "/")]
    location = f" at {Path(inner[-1].filename).name}:{inner[-1].lineno} in {inner[-1].name}" if inner else ""
    return f"{type(exc).__name__}: {exc}{location}"


def _nan_report(quantities: Mapping[str, Quantity]) -> list[str]:
    problems = []
    for path, quantity in quantities.items():
        values = quantity.values
        if values.dtype.kind == "f" and np.isnan(values).any():
            bad = np.argwhere(np.isnan(values))
            first = ", ".join(f"{d}={i}" for d, i in zip(quantity.dims, bad[0]))
            problems.append(f"{path} is NaN at {len(bad)} of {values.size} points (first: {first or 'scalar'})")
    return problems


def run_item(claim: Claim, item: str, grid_point: Mapping[str, Any], settings: RunSettings) -> ItemSummary:
    """Run (or reuse) one claim item and store its result; see the module docstring."""
    from lcsuite.experiments import ExperimentContext, UnknownExperiment, get_experiment

    tier = claim.tiers[settings.tier]
    params = claim.item_params(settings.tier, grid_point)
    try:
        experiment = get_experiment(claim.experiment)
        version = code_version(experiment.source_file)
    except UnknownExperiment:
        experiment, version = None, code_version(None)
    spec_hash = claim.spec_hash(settings.tier, params, version)
    path = store.item_path(settings.results_dir, settings.run_id, claim.id, item)

    store.write_latest_once(settings.results_dir, settings.run_id)
    if not settings.rerun:
        run_ids = [settings.run_id] + ([settings.previous_run_id] if settings.previous_run_id else [])
        found = store.find_reusable(settings.results_dir, run_ids, claim.id, item, spec_hash)
        if found is not None:
            try:
                store.link_into(found, path)
                return ItemSummary.from_result(store.read_item(path), reused=True)
            except (store.CorruptResult, OSError):
                pass  # recompute below

    started_at = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    start = time.perf_counter()
    device = _resolve_device(settings)
    errors: list[str] = []
    per_seed: list[dict[str, Quantity]] = []
    data: list[dict] = []
    timings: dict[str, float] = {}

    if experiment is None:
        errors.append(f"unknown experiment {claim.experiment!r}")
    else:
        if settings.n_workers > 1:
            devices.cap_threads(settings.n_workers)
        declared = experiment.declared_outputs(params) or {}
        for seed in tier.seeds:
            ctx = ExperimentContext(
                params=dict(params), seed=seed, tier=settings.tier, device=device,
                data_root=settings.data_root, download=settings.download,
                requires_real_data=tier.requires_real_data, progress_callback=settings.progress,
            )
            seed_start = time.perf_counter()
            outputs: Mapping[str, Any] = {}
            failure = None
            try:
                with _Deadline(tier.timeout_s):
                    outputs = experiment(ctx)
                if not isinstance(outputs, Mapping):
                    raise TypeError(f"experiment returned {type(outputs).__name__}, expected a dict of quantities")
            except (Exception, ItemTimeout) as exc:
                failure = f"experiment {claim.experiment!r} failed for seed {seed}: {_describe_exception(exc)}"
            if settings.n_workers > 1:  # torch may have been imported by the experiment
                devices.cap_threads(settings.n_workers)
            timings[str(seed)] = time.perf_counter() - seed_start
            for entry in ctx.data:
                if entry not in data:
                    data.append(entry)
            quantities: dict[str, Quantity] = {}
            for qpath, value in {**ctx.saved, **dict(outputs)}.items():
                try:
                    quantities[qpath] = as_quantity(value, declared.get(qpath))
                except QuantityError as exc:
                    failure = failure or f"quantity {qpath!r} (seed {seed}): {exc}"
            per_seed.append(quantities)
            if failure:
                errors.append(failure)
                break

    stacked: dict[str, Quantity] = {}
    try:
        stacked = stack_seeds(per_seed, pad_missing=bool(errors)) if per_seed else {}
    except QuantityError as exc:
        errors.append(f"cannot stack seeds: {exc}")
        stacked = stack_seeds(per_seed[:1], pad_missing=True) if per_seed else {}
    if not errors:
        errors.extend(_nan_report(stacked))
    if tier.requires_real_data and any(d.get("substitute") for d in data):
        labels = ", ".join(_data_label(d) for d in data if d.get("substitute"))
        errors.append(f"tier {settings.tier!r} requires real data, but the experiment used {labels}")

    records: list[store.ExpectationRecord] = []
    headline: dict[str, float] = {}
    failed = []
    if not errors:
        for index, expectation in enumerate(claim.expectations):
            try:
                outcome = expectation.check(stacked)
            except (SpecError, QuantityError) as exc:
                key = f"expect[{index}].{exc.key}" if isinstance(exc, SpecError) else f"expect[{index}]"
                message = exc.message if isinstance(exc, SpecError) else str(exc)
                errors.append(f"{claim.display}: {key}: {message}")
                continue
            records.append(store.ExpectationRecord(
                check=expectation.check_name, description=expectation.describe(), passed=outcome.passed,
                expected=outcome.expected, measured=outcome.measured, where=outcome.where, numbers=outcome.numbers,
            ))
            if outcome.headline is not None and np.isfinite(outcome.headline):
                headline[expectation.label] = outcome.headline
            if not outcome.passed:
                failed.append(records[-1])

    verdict = "error" if errors else ("fail" if failed else "pass")
    if errors:
        message = "; ".join(errors)
    elif failed:
        message = f"{len(failed)} of {len(records)} expectations do not hold"
    else:
        message = f"all {len(records)} expectations hold"
    attrs = {
        "claim_id": claim.id, "paper": claim.paper, "statement": claim.statement,
        "experiment": claim.experiment, "item": item, "tier": settings.tier,
        "params": params, "seeds": list(tier.seeds[: len(per_seed)]), "data": data,
        "device": f"{device} ({socket.gethostname()})", "torch_version": devices.torch_version(),
        "lcsuite_version": lcsuite.__version__, "git_commit": git_commit(), "spec_hash": spec_hash,
        "code_version": version, "started_at": started_at,
        "elapsed_s": time.perf_counter() - start, "timings": timings, "verdict": verdict,
        "message": message, "run_id": settings.run_id,
    }
    store.write_item(path, attrs, stacked, records, headline)
    return ItemSummary.from_result(store.read_item(path), reused=False)

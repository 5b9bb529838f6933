"""Helpers for the tests that show each claim can fail: run an experiment over seeds at tiny
sizes, then evaluate the claim file's own ``[[expect]]`` checks (through the harness) on the
measured or mutated quantities."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Mapping

import torch

from lcsuite.harness.experiments import ExperimentContext, get_experiment
from lcsuite.harness.quantities import Quantity, as_quantity, stack_seeds
from lcsuite.harness.schema import load_claim

CLAIMS = Path(__file__).resolve().parents[1] / "claims"


def claim(claim_id: str):
    """The validated claim ``claims/<claim_id>.toml``."""
    return load_claim(CLAIMS / f"{claim_id}.toml")


def claim_params(claim_id: str, **overrides) -> dict:
    """The claim's smoke parameters with the given overrides (grid keys included)."""
    return {**claim(claim_id).item_params("smoke", {}), **overrides}


def run_outputs(function: Callable, params: Mapping, seeds=(0, 1, 2)) -> list[dict]:
    """The raw per-seed outputs of ``function`` (one torch thread; data from ``$LCSUITE_DATA``
    or the labelled substitute)."""
    torch.set_num_threads(1)
    return [dict(function(ExperimentContext(params=dict(params), seed=seed))) for seed in seeds]


def stacked(outputs: list[dict], declared: Mapping[str, tuple] | None = None) -> dict[str, Quantity]:
    """Per-seed outputs stacked along the leading ``seed`` dim, as the harness stores them."""
    declared = declared or {}
    return stack_seeds([{path: as_quantity(value, declared.get(path)) for path, value in out.items()}
                        for out in outputs])


def run_seeds(function: Callable, params: Mapping, seeds=(0, 1, 2)) -> dict[str, Quantity]:
    """:func:`run_outputs` stacked."""
    return stacked(run_outputs(function, params, seeds))


def verdicts(claim_id: str, quantities: Mapping[str, Quantity]) -> dict[str, bool]:
    """``{expectation label: passed}`` of the claim file's checks on ``quantities``."""
    return {e.label: e.check(quantities).passed for e in claim(claim_id).expectations}


def declared_outputs(claim_id: str, params: Mapping) -> dict[str, tuple]:
    """The dims the claim's experiment declares for ``params`` (empty when it declares none)."""
    return get_experiment(claim(claim_id).experiment).declared_outputs(params) or {}

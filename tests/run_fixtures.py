"""Stored runs for the report, compare and CLI tests, written with the harness's own writers
(run file with its plan, item result files, this run's verdicts).

``sample_items()`` describes a small run covering every figure kind, a table-only quantity,
depth parameters, a substitute data set and a claim with published numbers; ``write_run``
stores it. Keys are ``huang2020/<claim>/<item>``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lcsuite.harness import runs
from lcsuite.harness.enums import MeasurementStatus
from lcsuite.harness.quantities import Quantity
from lcsuite.harness.spec import ItemSpec
from lcsuite.harness.store import StoredItem, write_item

PAPER = "huang2020"
MNIST = "mnist (test, n=512)"
DIGITS = "digits (MNIST substitute) (train, n=1797) [substitute]"


def key(claim: str, item: str) -> str:
    return f"{PAPER}/{claim}/{item}"


def item_spec(claim_id, item, *, verdict="pass", quantities=None, headline=None, expectations=None,
              params=None, data=None, ref="Fig. X", statement="A statement.", seeds=(0, 1), timings=None):
    """One item's content as plain dicts (``quantities``, ``timings``: path -> (array, dims))."""
    return dict(
        claim_id=claim_id, item=item, verdict=verdict, quantities=quantities or {}, headline=headline or {},
        timings=timings or {},
        params=params or {}, data=data or [MNIST], ref=ref, statement=statement, seeds=list(seeds),
        expectations=expectations if expectations is not None else [
            {"name": "less0", "check": "less", "description": f"{item}: BN below Plain", "verdict": verdict,
             "expected": ">= 80% of points", "measured": "91% of points", "where": "layer, seed"}],
    )


def _provenance(run_id: str) -> dict:
    return {"started_at": "2024-01-01T00:00:00Z", "elapsed_s": 1.5, "timings": {"0": 0.7, "1": 0.8},
            "data": [], "versions": {"torch": "2.x", "lcsuite": "0.1.0"},
            "device": {"kind": "cpu:test", "name": "test cpu", "host": "h"},
            "determinism": {"threads": 1}, "code": {}, "git_commit": "abc1234", "executor": "inline",
            "run_id": run_id}


def write_run(root: Path, run_id: str, specs: list[dict], *, tier: str = "smoke", missing: tuple = ()) -> Path:
    """Store ``specs`` as the run ``root/run_id``; ``missing`` names planned ``(claim, item)``
    pairs that never finished. Returns the run directory."""
    info = runs.open_run(root, run_id, tier)
    entries = []
    for spec in specs:
        item_spec_ = ItemSpec(PAPER, spec["claim_id"], spec["item"], "test_experiment", tier, spec["params"],
                              tuple(spec["seeds"]))
        entries.append(runs.PlanEntry(item_spec_, spec["ref"], spec["statement"]))
        quantities = {path: Quantity(np.asarray(values, dtype=float), tuple(dims))
                      for path, (values, dims) in spec["quantities"].items()}
        quantities.update({path: Quantity(np.asarray(values, dtype=float), tuple(dims), timing=True)
                           for path, (values, dims) in spec["timings"].items()})
        stored = StoredItem(item_spec_, MeasurementStatus.COMPLETE, "", _provenance(run_id), quantities, "rk")
        write_item(runs.item_file(info.run_dir, item_spec_.key), stored)
        message = "" if spec["verdict"] == "pass" else "expectation not met"
        runs.write_verdict(info.run_dir, runs.VerdictRecord(
            item_spec_.key, tier, spec["verdict"], message, spec["ref"], spec["statement"],
            spec["expectations"], spec["headline"], spec["data"], elapsed_s=1.5))
    for claim, item in missing:
        entries.append(runs.PlanEntry(ItemSpec(PAPER, claim, item, "test_experiment", tier), "Fig. X", "Missing."))
    runs.add_to_plan(info.run_dir, entries)
    return info.run_dir


def sample_items(scale: float = 1.0, fig5_verdict: str = "pass") -> list[dict]:
    """See the module docstring; ``scale`` multiplies every number (to plant drift)."""
    rng = np.random.default_rng(0)
    layers, steps = 5, 3
    plain_kappa = scale * (10.0 ** np.linspace(1, 4, layers))[None, :, None] * np.ones((2, layers, steps))
    bn_kappa = scale * 5.0 * np.ones((2, layers, steps))
    loss = scale * np.exp(-np.linspace(0, 2, 10))[None, :] * np.ones((2, 10))
    specs = [
        item_spec("fig5_bn_improves_conditioning", "init=random", verdict=fig5_verdict, ref="Fig. 5, A6",
                  statement="BN lowers kappa of Sx and Sg in every layer.",
                  quantities={"plain/input/kappa_p80": (plain_kappa, ["seed", "layer", "step"]),
                              "bn/input/kappa_p80": (bn_kappa, ["seed", "layer", "step"]),
                              "plain/train_loss": (loss, ["seed", "step"]),
                              "bn/train_loss": (0.5 * loss, ["seed", "step"]),
                              "fraction_below": (scale * np.array([0.9, 0.95]), ["seed"])},
                  headline={"fraction_below": 0.925 * scale}, params={"init": "random", "depth": 20}),
        item_spec("fig3_magnitude_propagation", "optimizer=gd", ref="Fig. 3",
                  quantities={"plain/input_magnitude": (scale * 10.0 ** -np.arange(8.0)[None, :].repeat(2, 0),
                                                        ["seed", "layer"]),
                              "bn/input_magnitude": (scale * np.ones((2, 8)), ["seed", "layer"]),
                              "weird/histogram": (scale * rng.random((2, 3, 4)), ["seed", "bin", "channel"])},
                  headline={"plain_fall": 1e7 * scale}, data=[DIGITS]),
        item_spec("fig6_resnet_last_layer", "arch=resnet", ref="Fig. 6",
                  quantities={"last/lambda_max_sx": (scale * np.array([[1.0, 4.0, 9.0]] * 2), ["seed", "depth"]),
                              "loss": (scale * np.ones((2, 3, 6)), ["seed", "depth", "step"])},
                  headline={"lambda_max_sx_deepest": 9.0 * scale}, params={"depths": [20, 56, 110]}),
    ]
    for depth, lastbn_loss, resnet_loss in ((8, 0.4, 0.5), (14, 0.35, 0.6)):
        for arch, train_loss in (("resnet", resnet_loss), ("resnet_lastbn", lastbn_loss)):
            specs.append(item_spec(
                "table1_lastbn_beats_resnet", f"arch={arch},depth={depth}", ref="Tables 1, 2",
                quantities={"train_loss": (scale * np.full((2, 4), train_loss), ["seed", "step"])},
                headline={"final_train_loss": train_loss * scale, "test_error": 30.0 * scale},
                params={"arch": arch, "depth": depth}))
    return specs

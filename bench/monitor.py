"""Case ``monitor``: the training monitor's cost on the steps it skips and on those it records.

One training step is ``zero_grad → forward → mean cross-entropy → backward → SGD update`` on
the workload of the ``overhead`` case (CPU: the paper's 20-layer, 256-wide MLP on a full batch
of MNIST-sized random inputs; CUDA: also ResNet-56 at batch 128). Timed side by side:

- ``plain``: the step without a monitor;
- ``skipped``: the step inside ``monitor.record(step, ...)`` at a step the schedule skips
  (no hook is attached: the goal is at most 1.05× a plain step);
- ``skipped context``: the cost of ``with monitor.record(step): pass`` alone at a skipped step,
  averaged over many calls (microseconds). On a loaded machine the two step medians above
  differ by more than this noise-free figure; ``1 + context / plain`` bounds the ratio;
- ``recorded (empirical)``: a recorded step with the default empirical Fisher, including the
  checkpoint's spectra (eigendecompositions of every ``Sx`` and ``Sg``);
- ``recorded (true)``: a recorded step with the true Fisher (the monitor's own forward pass
  and ``1 + C`` backward passes, ``C`` classes).

Measured, never asserted: the ratios and the goal's verdict go into the table and the JSON.
"""

from __future__ import annotations

import itertools
import time

from torch.nn import functional as F

from bench.config import Config
from bench.overhead import workload, workload_kinds
from bench.results import CaseResult, goal
from lcsuite.timing import compare
from lcsuite.monitor import Monitor

__all__ = ["run", "GOAL_SKIPPED_RATIO"]

GOAL_SKIPPED_RATIO = 1.05
"""The issue's goal: a step the monitor skips costs at most 1.05× a plain step."""


def _steps(model, inputs, targets, optimizer):
    """Zero-argument step functions: plain, skipped, recorded (empirical), recorded (true)."""
    never = Monitor(model, every=[-1])  # a schedule no step meets
    empirical = Monitor(model, every=1)
    true = Monitor(model, every=1, fisher="true")
    counter = itertools.count()

    def body():
        loss = F.cross_entropy(model(inputs), targets)
        loss.backward()

    def step_in(monitor):
        def step():
            optimizer.zero_grad(set_to_none=True)
            if monitor is None:
                body()
            else:
                with monitor.record(next(counter), inputs=inputs, targets=targets):
                    body()
            optimizer.step()

        return step

    return {"plain": step_in(None), "skipped": step_in(never),
            "recorded (empirical)": step_in(empirical), "recorded (true)": step_in(true)}


def _skipped_context_seconds(model, calls: int) -> float:
    """Mean wall-clock seconds of entering and leaving ``monitor.record`` at a skipped step."""
    monitor = Monitor(model, every=[-1])
    start = time.perf_counter()
    for step in range(calls):
        with monitor.record(step):
            pass
    return (time.perf_counter() - start) / calls


def _timed_pairs(steps: dict, config: Config, device) -> dict:
    """Two interleaved comparisons: plain vs skipped alone (a 5% difference is hidden by
    anything slow run between them), then plain vs the recorded steps."""
    skipped = compare({name: steps[name] for name in ("plain", "skipped")}, config.repeats, config.warmup,
                      config.budget_s, device)
    recorded = compare({name: steps[name] for name in ("plain", "recorded (empirical)", "recorded (true)")},
                       config.repeats, config.warmup, config.budget_s, device)
    return {"skipped": skipped, "recorded": recorded}


def run(config: Config) -> CaseResult:
    rows, medians, ratios, goals, details = [], {}, {}, [], {"models": {}}
    for kind in workload_kinds(config):
        label, model, inputs, targets, optimizer, device = workload(config, kind)
        pairs = _timed_pairs(_steps(model, inputs, targets, optimizer), config, device)
        for pair, comparison in pairs.items():
            plain = comparison["plain"].median
            medians[f"{kind}/plain (beside {pair})"] = plain
            for name, timing in comparison.items():
                if name != "plain":
                    medians[f"{kind}/{name}"] = timing.median
                    ratios[f"{kind}/{name} over plain"] = timing.median / plain
        context = _skipped_context_seconds(model, 2_000 if config.quick else 100_000)
        medians[f"{kind}/skipped context"] = context
        ratios[f"{kind}/skipped bound over plain"] = 1 + context / medians[f"{kind}/plain (beside skipped)"]
        rows.append([label, str(device), medians[f"{kind}/plain (beside skipped)"] * 1e3,
                     ratios[f"{kind}/skipped over plain"], context * 1e6,
                     medians[f"{kind}/plain (beside recorded)"] * 1e3,
                     ratios[f"{kind}/recorded (empirical) over plain"], ratios[f"{kind}/recorded (true) over plain"],
                     len(pairs["skipped"]["plain"].samples)])
        details["models"][kind] = {"label": label, "device": str(device), "timings": {
            f"{pair}/{name}": t.to_dict() for pair, comparison in pairs.items() for name, t in comparison.items()}}
        goals.append(goal(f"{kind}: skipped step / plain step", ratios[f"{kind}/skipped over plain"],
                          GOAL_SKIPPED_RATIO, False))
    return CaseResult(
        "monitor", "training monitor: skipped and recorded steps against a plain step (medians)",
        ["model", "device", "plain ms", "skipped ×", "skipped context µs", "plain ms (2nd)", "recorded (empirical) ×",
         "recorded (true) ×", "repeats"],
        rows, medians, ratios, goals, [], details,
    )

"""Wall-clock timing of zero-argument functions: medians over repeats, after warm-up calls.

- :func:`timed_call`: one call, synchronised around it on CUDA (else kernel launches are timed).
- :func:`time_calls`: one function, ``repeats`` timed calls after ``warmup`` untimed ones.
- :func:`compare`: several functions side by side in the same process, round-robin (A B C,
  B C A, ...), so that drift in a shared machine's load hits all of them alike; functions
  slower than the time budget are repeated fewer times (at least once after the warm-up run),
  as asv does for slow benchmarks.

Each returns :class:`Timing` (all samples; ``median`` is what tables show).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import Callable, TypeVar

import torch

__all__ = ["Timing", "compare", "synchronize", "timed_call", "time_calls"]

T = TypeVar("T")


@dataclass
class Timing:
    """Wall-clock samples (seconds) of one function; ``median`` is what tables show."""

    name: str
    samples: list[float] = field(default_factory=list)
    warmup: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    def to_dict(self) -> dict:
        return {"median_s": self.median, "samples_s": self.samples, "warmup_s": self.warmup,
                "repeats": len(self.samples)}


def synchronize(device: torch.device | str) -> None:
    """Wait for queued GPU work (timings of CUDA code are otherwise launch times)."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def timed_call(fn: Callable[[], T], device: torch.device | str = "cpu") -> tuple[float, T]:
    """``(seconds, fn())`` of one call, with the device's queued work awaited before and after."""
    synchronize(device)
    start = time.perf_counter()
    value = fn()
    synchronize(device)
    return time.perf_counter() - start, value


def _timed(fn: Callable[[], object], device) -> float:
    return timed_call(fn, device)[0]


def time_calls(fn: Callable[[], object], repeats: int, device: torch.device | str = "cpu", warmup: int = 0,
               name: str = "") -> Timing:
    """``repeats`` timed calls of ``fn`` one after the other, after ``warmup`` untimed calls.

    Args:
        fn: The unit of work.
        repeats: Timed calls (at least 1).
        device: Synchronised around each call when it is a CUDA device.
        warmup: Untimed calls first (lazy initialisation, caches); their times are kept in
            ``Timing.warmup``.
        name: The timing's label.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    timing = Timing(name)
    timing.warmup = [_timed(fn, device) for _ in range(warmup)]
    timing.samples = [_timed(fn, device) for _ in range(repeats)]
    return timing


def compare(
    functions: dict[str, Callable[[], object]],
    repeats: int,
    warmup: int = 1,
    budget_s: float = 30.0,
    device: torch.device | str = "cpu",
) -> dict[str, Timing]:
    """Time every function ``repeats`` times, interleaved, after ``warmup`` untimed rounds.

    Args:
        functions: name -> zero-argument callable; each call is one measured unit of work.
        repeats: Wanted samples per function.
        warmup: Rounds run before timing (caches, lazy initialisation, allocator).
        budget_s: Rough wall-clock budget of the timed rounds; the number of rounds is cut
            (to at least 1) when the warmup says they would not fit, and a function whose
            warmup run alone took longer keeps that run as its only sample.
        device: Synchronised around each call when it is a CUDA device.

    Returns:
        name -> :class:`Timing`, in the order given.
    """
    timings = {name: Timing(name) for name in functions}
    names = list(functions)
    for _ in range(max(warmup, 1)):
        for name in names:
            timings[name].warmup.append(_timed(functions[name], device))
    # A function whose warmup alone exceeds the budget (seconds-long eigendecompositions)
    # is not rerun: its warmup run is its one sample (warm-up effects are negligible there).
    slow = [name for name in names if timings[name].warmup[-1] > budget_s]
    for name in slow:
        timings[name].samples.append(timings[name].warmup[-1])
    names = [name for name in names if name not in slow]
    round_cost = sum(timings[name].warmup[-1] for name in names)
    rounds = max(1, min(repeats, int(budget_s / max(round_cost, 1e-9)))) if names else 0
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            timings[name].samples.append(_timed(functions[name], device))
    return timings

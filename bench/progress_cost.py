"""What the training loop's progress lines cost: a step with them against a step without.

Inside an executor's task, :func:`lcsuite.train.train` writes rate-limited progress lines
(:mod:`lcsuite.progress`); between two lines a step pays one clock read and a comparison. Two
figures, side by side in one process:

- the median time per step of ``train(...)`` (a 4x32 MLP, SGD at batch 32, CPU) with the
  progress lines off and on (``$LCSUITE_TASK_KEY`` set, the default 10 s interval), runs
  interleaved; on a loaded machine their difference is noise;
- the cost of one ``LoopProgress.update`` call between lines, averaged over many calls: the
  noise-free figure, to set against the step time.

Run: ``OMP_NUM_THREADS=1 python bench/progress_cost.py [--steps 3000] [--repeats 7]``;
importable (:func:`measure`, :func:`main`). Measured, never asserted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import timeit

import torch

from lcsuite.models import MLP
from lcsuite.progress import TASK_KEY_ENV, LoopProgress
from lcsuite.train import train

__all__ = ["measure", "main"]


def _step_seconds(data, steps: int, with_progress: bool) -> float:
    previous = os.environ.pop(TASK_KEY_ENV, None)
    if with_progress:
        os.environ[TASK_KEY_ENV] = "bench/progress/item"
    try:
        torch.manual_seed(0)
        model = MLP(data[0].shape[1], 10, depth=4, width=32, norm="none", init="he", bias=False)
        start = time.perf_counter()
        train(model, data, optimizer="sgd", lr=0.05, steps=steps, batch_size=32, evaluate_train=False)
        return (time.perf_counter() - start) / steps
    finally:
        os.environ.pop(TASK_KEY_ENV, None)
        if previous is not None:
            os.environ[TASK_KEY_ENV] = previous


def measure(steps: int = 3000, repeats: int = 7, calls: int = 1_000_000) -> dict:
    """``{"step_off_us", "step_on_us", "ratio", "update_ns"}``: medians over ``repeats``
    interleaved runs of ``steps`` steps, and the mean cost of ``update`` over ``calls`` calls."""
    generator = torch.Generator().manual_seed(0)
    data = (torch.randn(256, 64, generator=generator), torch.randint(0, 10, (256,), generator=generator))
    off, on = [], []
    for _ in range(repeats):
        off.append(_step_seconds(data, steps, False))
        on.append(_step_seconds(data, steps, True))
    with open(os.devnull, "w") as sink:
        progress = LoopProgress(10**9, 100, every_s=3600.0, stream=sink)
        progress.update(0)  # the first line; the calls below fall between lines
        update_s = timeit.timeit(lambda: progress.update(5), number=calls) / calls
    empty_s = timeit.timeit(lambda: None, number=calls) / calls
    return {"step_off_us": statistics.median(off) * 1e6, "step_on_us": statistics.median(on) * 1e6,
            "ratio": statistics.median(on) / statistics.median(off), "update_ns": (update_s - empty_s) * 1e9}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    result = measure(args.steps, args.repeats)
    print(f"train step, median of {args.repeats}: {result['step_off_us']:.1f} us without progress lines, "
          f"{result['step_on_us']:.1f} us with them (ratio {result['ratio']:.3f}); "
          f"LoopProgress.update between lines: {result['update_ns']:.0f} ns per step")
    return result


if __name__ == "__main__":
    main()

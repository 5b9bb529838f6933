"""Property-based instances inside an experiment, reproducible from its seed."""

from __future__ import annotations

__all__ = ["hypothesis_examples"]


def hypothesis_examples(strategy, count: int, seed: int, max_rounds: int = 100) -> list:
    """``count`` examples drawn from a hypothesis ``strategy``, reproducibly from ``seed``.

    Runs a ``@given(strategy)`` function inside the experiment (generate phase only, no example
    database, no deadline, health checks off) that stores every example it is called with, so
    hypothesis' search (boundary values first, then random draws) picks the instances while the
    measurement stays outside it. Hypothesis may stop a run early when it judges the space
    exhausted; further runs with derived seeds then fill up to ``count``.

    Args:
        strategy: a ``hypothesis.strategies`` strategy.
        count: number of examples returned (the list always has exactly this length, so
            per-example arrays of different seeds stack).
        seed: seeds hypothesis' random stream (``hypothesis.seed``); same seed, same examples.
        max_rounds: runs tried before giving up with ``RuntimeError``.
    """
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hypothesis_seed

    examples: list = []
    for round_index in range(max_rounds):
        if len(examples) >= count:
            break

        @settings(max_examples=count - len(examples), database=None, deadline=None, derandomize=False,
                  phases=[Phase.generate], suppress_health_check=list(HealthCheck), print_blob=False)
        @hypothesis_seed(int(seed) * 1_000_003 + round_index)
        @given(strategy)
        def collect(example):
            examples.append(example)

        collect()
    if len(examples) < count:
        raise RuntimeError(f"hypothesis produced {len(examples)} of {count} examples in {max_rounds} runs")
    return examples[:count]

"""Timing helpers: calls interleaved and cut to the budget; sequential repeats after warm-up."""

import pytest

from lcsuite.timing import compare, time_calls, timed_call


def test_compare_interleaves_and_keeps_within_budget():
    calls = []
    timings = compare({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")},
                      repeats=3, warmup=1)
    assert calls == ["a", "b", "a", "b", "b", "a", "a", "b"]
    slow = compare({"slow": lambda: calls.append("s"), "fast": lambda: None}, repeats=3,
                   warmup=1, budget_s=-1.0)
    assert len(slow["slow"].samples) == 1 and len(slow["fast"].samples) == 1
    assert all(len(t.samples) == 3 and t.median >= 0 for t in timings.values())


def test_time_calls_warms_up_then_repeats_and_timed_call_returns_the_value():
    calls = []
    timing = time_calls(lambda: calls.append(len(calls)), repeats=3, warmup=2, name="append")
    assert calls == [0, 1, 2, 3, 4]
    assert (timing.name, len(timing.warmup), len(timing.samples)) == ("append", 2, 3)
    assert timing.median == sorted(timing.samples)[1]
    seconds, value = timed_call(lambda: 42)
    assert value == 42 and seconds >= 0
    with pytest.raises(ValueError, match="repeats must be >= 1"):
        time_calls(lambda: None, repeats=0)

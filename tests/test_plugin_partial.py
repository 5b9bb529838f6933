"""Claim items killed between seeds, in pytest: measured again in the same run (inline, or
resubmitted to the local executor), they resume from the seeds they finished, store the same
bits as an uninterrupted run, and the verdict's note says which seeds were resumed, or why a
partial was ignored."""

import h5py
import pytest
from plugin_toys import LINE_PASS, SMOKE, calls, run_dir, spawn_pytest, write_claim

from lcsuite.harness import runs
from lcsuite.pytest_plugin import EXIT_ERRORED

THREE = LINE_PASS.replace("seeds = [0, 1]", "seeds = [0, 1, 2]")
KEY = "toy/toy_three/default"


def _run(pytester, run_id, *extra):
    process = spawn_pytest(pytester, *SMOKE, "--lc-run-id", run_id, *extra)
    out, _ = process.communicate(timeout=300)
    return process.returncode, out


def _killed_at_seed_two(pytester, monkeypatch, tmp_path, run_id, *extra):
    monkeypatch.setenv("TOY_EXIT_AT_SEED", "2")
    rc, out = _run(pytester, run_id, *extra)
    monkeypatch.delenv("TOY_EXIT_AT_SEED")
    assert rc in (3, EXIT_ERRORED), out  # inline: the process died; an executor: the item errored
    assert (run_dir(pytester, run_id) / "toy" / "toy_three" / "default.h5.partial").is_file()
    assert calls(tmp_path) == ["line:0", "line:1"]
    (tmp_path / "calls.txt").unlink()


def _note(pytester, run_id) -> str:
    return runs.read_verdict(run_dir(pytester, run_id), KEY).note


def _datasets(pytester, run_id) -> dict[str, bytes]:
    with h5py.File(runs.item_file(run_dir(pytester, run_id), KEY), "r") as f:
        return {name: f["quantities"][name][()].tobytes() for name in f["quantities"]}


@pytest.mark.parametrize("executor", ["inline", "local"])
def test_a_killed_item_resumes_from_its_finished_seeds(toy, tmp_path, monkeypatch, executor, executor_env):
    write_claim(toy, "toy_three", THREE)
    extra = ("--lc-executor", executor)
    _killed_at_seed_two(toy, monkeypatch, tmp_path, "r", *extra)
    rc, out = _run(toy, "r", *extra)
    assert rc == 0, out
    assert calls(tmp_path) == ["line:2"]  # seeds 0 and 1 were not measured again
    assert _note(toy, "r").startswith("resumed seeds 0, 1 from the partial measurement of ")
    assert not (run_dir(toy, "r") / "toy" / "toy_three" / "default.h5.partial").exists()
    assert _run(toy, "whole", *extra)[0] == 0
    assert _datasets(toy, "r") == _datasets(toy, "whole")


def test_a_stale_partial_is_ignored_and_rerun_discards_one(toy, tmp_path, monkeypatch):
    write_claim(toy, "toy_three", THREE)
    _killed_at_seed_two(toy, monkeypatch, tmp_path, "s")
    write_claim(toy, "toy_three", THREE.replace("n = 4", "n = 5"))
    assert _run(toy, "s")[0] == 0
    assert calls(tmp_path) == ["line:0", "line:1", "line:2"]
    assert _note(toy, "s") == ("ignored the partial measurement (seeds 0, 1) in default.h5.partial: "
                               "the item's spec changed")
    (tmp_path / "calls.txt").unlink()
    _killed_at_seed_two(toy, monkeypatch, tmp_path, "t")
    assert _run(toy, "t", "--lc-rerun")[0] == 0
    assert calls(tmp_path) == ["line:0", "line:1", "line:2"]
    assert _note(toy, "t") == "discarded the partial measurement (--lc-rerun)"

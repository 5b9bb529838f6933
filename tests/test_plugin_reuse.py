"""Reuse only when asked, and only while everything a measurement depends on still holds.

Fresh runs never reuse; a resumed run (same ``--lc-run-id``) keeps its valid items and judges
them again; ``--lc-reuse-from`` copies another run's valid items. Each invalidating change
forces a new measurement: the item's spec, the source of a measurement module, the data folder
or bytes, a damaged file, an item that ended in an error.
"""

import os
import signal
import time

import h5py
import numpy as np
import pytest
from data_files import write_idx
from plugin_toys import LINE_PASS, SMOKE, calls, spawn_pytest, run_dir, verdicts, write_claim

from lcsuite.harness import runs, store

TOY_MNIST = '''
import numpy as np
from lcsuite.data import resolve_mnist
from lcsuite.harness.experiments import experiment

@experiment("toy_mnist", outputs={"mean": ()}, params=("limit",))
def toy_mnist(ctx):
    data = resolve_mnist(ctx.data_root, allow_substitute=True, allow_unverified=True, split="test",
                         limit=ctx.params["limit"])
    ctx.record_data(data.provenance.to_dict())
    with open(ctx.params.get("counter", "") or __import__("os").environ["TOY_COUNTER"], "a") as f:
        f.write("mnist:%d\\n" % ctx.seed)
    return {"mean": float(data.inputs.mean())}
'''

MNIST_CLAIM = '''
experiment = "toy_mnist"
[params]
limit = 3
[tier.smoke]
seeds = [0]
[[expect]]
check = "greater"
left = "mean"
right = -1
'''


def resume(pytester, *extra):
    return pytester.runpytest(*SMOKE, "--lc-run-id", "r1", *extra)


def test_a_fresh_run_never_reuses_another_runs_results(toy, tmp_path):
    write_claim(toy, "toy_pass", LINE_PASS)
    toy.runpytest(*SMOKE).assert_outcomes(passed=1)
    toy.runpytest(*SMOKE).assert_outcomes(passed=1)
    assert len(calls(tmp_path)) == 4  # two seeds, measured by each run


def test_resuming_keeps_valid_items_and_judges_them_again(toy, tmp_path):
    write_claim(toy, "toy_pass", LINE_PASS)
    resume(toy).assert_outcomes(passed=1)
    assert len(calls(tmp_path)) == 2
    again = resume(toy)
    again.assert_outcomes(passed=1)
    again.stdout.fnmatch_lines(["*(1 reused)*"])
    assert len(calls(tmp_path)) == 2
    # A changed check re-judges the stored tensors without measuring again.
    write_claim(toy, "toy_pass", LINE_PASS.replace('direction = "increasing"', 'direction = "decreasing"'))
    resume(toy).assert_outcomes(failed=1)
    assert len(calls(tmp_path)) == 2 and verdicts(toy, "r1") == {"toy_pass/default": "fail"}
    resume(toy, "--lc-rerun").assert_outcomes(failed=1)
    assert len(calls(tmp_path)) == 4


def test_a_changed_spec_is_measured_again(toy, tmp_path):
    write_claim(toy, "toy_pass", LINE_PASS)
    resume(toy)
    write_claim(toy, "toy_pass", LINE_PASS.replace("n = 4", "n = 5"))
    resume(toy).assert_outcomes(passed=1)
    assert len(calls(tmp_path)) == 4
    assert store.read_item(run_dir(toy, "r1") / "toy" / "toy_pass" / "default.h5").spec.params["n"] == 5


def test_reuse_from_another_run_copies_valid_items(toy, tmp_path):
    write_claim(toy, "toy_pass", LINE_PASS)
    toy.runpytest(*SMOKE, "--lc-run-id", "old").assert_outcomes(passed=1)
    toy.runpytest(*SMOKE, "--lc-run-id", "new", "--lc-reuse-from", "old").assert_outcomes(passed=1)
    assert len(calls(tmp_path)) == 2
    old = run_dir(toy, "old") / "toy" / "toy_pass" / "default.h5"
    new = run_dir(toy, "new") / "toy" / "toy_pass" / "default.h5"
    assert old.stat().st_ino != new.stat().st_ino and old.stat().st_nlink == 1
    record = runs.read_verdict(run_dir(toy, "new"), "toy/toy_pass/default")
    assert record.reused_from == "old" and record.verdict == "pass"


def test_a_damaged_stored_dataset_is_measured_again_and_the_note_says_why(toy, tmp_path):
    write_claim(toy, "toy_pass", LINE_PASS)
    resume(toy)
    path = run_dir(toy, "r1") / "toy" / "toy_pass" / "default.h5"
    with h5py.File(path, "r") as f:
        offset = f["quantities/values"].id.get_offset()
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))
    resume(toy).assert_outcomes(passed=1)
    assert len(calls(tmp_path)) == 4
    note = runs.read_verdict(run_dir(toy, "r1"), "toy/toy_pass/default").note
    assert "dataset quantities/values fails its checksum" in note
    assert store.read_item(path).quantities["values"].values.shape == (2, 4)


def test_an_errored_item_is_never_reused(toy, tmp_path, monkeypatch):
    write_claim(toy, "toy_slow", LINE_PASS.replace("seeds = [0, 1]", "seeds = [0]\ntimeout_s = 0.5"))
    monkeypatch.setenv("TOY_SLEEP_ITEM", "line")
    monkeypatch.setenv("TOY_SLEEP_S", "5")
    resume(toy).assert_outcomes(failed=1)
    monkeypatch.setenv("TOY_SLEEP_S", "0")
    resume(toy).assert_outcomes(passed=1)
    assert len(calls(tmp_path)) == 2
    assert "ended in an error" in runs.read_verdict(run_dir(toy, "r1"), "toy/toy_slow/default").note


def test_a_changed_experiment_module_is_measured_again(toy, tmp_path):
    write_claim(toy, "toy_pass", LINE_PASS)
    resume(toy)
    module = toy.path / "toy_experiments.py"
    module.write_text(module.read_text().replace("ctx.seed * 1e-3", "ctx.seed * 2e-3"))
    resume(toy).assert_outcomes(passed=1)
    assert len(calls(tmp_path)) == 4
    assert "source of lcsuite_plugin_toy_experiments changed" in runs.read_verdict(
        run_dir(toy, "r1"), "toy/toy_pass/default").note


def test_a_changed_core_module_is_measured_again(toy, tmp_path):
    """The stored item says it was measured with other source of a core module (as after an edit
    of lcsuite.harness.quantities): the resumed run must not trust it."""
    write_claim(toy, "toy_pass", LINE_PASS)
    resume(toy)
    path = run_dir(toy, "r1") / "toy" / "toy_pass" / "default.h5"
    item = store.read_item(path)
    assert "lcsuite.harness.quantities" in item.provenance["code"]
    item.provenance["code"]["lcsuite.harness.quantities"]["sha256"] = "0" * 64
    store.write_item(path, item)
    resume(toy).assert_outcomes(passed=1)
    assert len(calls(tmp_path)) == 4
    note = runs.read_verdict(run_dir(toy, "r1"), "toy/toy_pass/default").note
    assert "source of lcsuite.harness.quantities changed" in note


def test_the_stored_code_manifest_holds_the_measuring_code_only(toy):
    """Collecting, judging and reporting modules are loaded in the run, but are not part of
    what the measurement depends on; neither is the other paper the run has loaded."""
    write_claim(toy, "toy_pass", LINE_PASS)
    resume(toy).assert_outcomes(passed=1)
    code = store.read_item(run_dir(toy, "r1") / "toy" / "toy_pass" / "default.h5").provenance["code"]
    assert {"lcsuite_plugin_toy_experiments", "lcsuite.harness.measure", "lcsuite.harness.quantities"} <= set(code)
    others = ("lcsuite.pytest_plugin", "lcsuite.harness.session", "lcsuite.harness.schema", "lcsuite.harness.trends",
              "lcsuite.harness.checks", "lcsuite.harness.judge", "lcsuite.format", "lcsuite.reporting",
              "lcsuite.papers")
    assert [m for m in code if any(m == p or m.startswith(p + ".") for p in others)] == []


def _fake_mnist_test(folder, value):
    folder.mkdir(parents=True)
    write_idx(folder / "t10k-images-idx3-ubyte", np.full((4, 28, 28), value))
    write_idx(folder / "t10k-labels-idx1-ubyte", np.arange(4) % 10)
    return folder


@pytest.fixture
def mnist_toy(toy):
    module = toy.path / "toy_experiments.py"
    module.write_text(module.read_text() + TOY_MNIST)
    write_claim(toy, "toy_data", MNIST_CLAIM)
    return toy


def test_another_data_folder_or_changed_data_bytes_are_measured_again(mnist_toy, tmp_path):
    first = _fake_mnist_test(tmp_path / "a" / "mnist", 10)
    second = _fake_mnist_test(tmp_path / "b" / "mnist", 200)
    resume(mnist_toy, "--lc-data", str(first.parent)).assert_outcomes(passed=1)
    resume(mnist_toy, "--lc-data", str(first.parent)).assert_outcomes(passed=1)
    assert calls(tmp_path) == ["mnist:0"]
    resume(mnist_toy, "--lc-data", str(second.parent)).assert_outcomes(passed=1)
    assert len(calls(tmp_path)) == 2
    note = runs.read_verdict(run_dir(mnist_toy, "r1"), "toy/toy_data/default").note
    assert f"mnist was read from {first.resolve()}, now resolves to {second.resolve()}" in note
    write_idx(second / "t10k-images-idx3-ubyte", np.full((4, 28, 28), 201))
    resume(mnist_toy, "--lc-data", str(second.parent)).assert_outcomes(passed=1)
    assert len(calls(tmp_path)) == 3
    assert "changed (sha256)" in runs.read_verdict(run_dir(mnist_toy, "r1"), "toy/toy_data/default").note


def test_a_substitute_result_is_measured_again_once_real_data_is_there(mnist_toy, tmp_path):
    resume(mnist_toy).assert_outcomes(passed=1)  # no data folder: the digits substitute
    real = _fake_mnist_test(tmp_path / "a" / "mnist", 10)
    resume(mnist_toy, "--lc-data", str(real.parent)).assert_outcomes(passed=1)
    assert len(calls(tmp_path)) == 2
    assert "mnist was read from its substitute" in runs.read_verdict(run_dir(mnist_toy, "r1"), "toy/toy_data/default").note


def test_a_killed_run_is_resumed_where_it_stopped(toy, tmp_path, monkeypatch):
    write_claim(toy, "toy_a", LINE_PASS.replace('name = "line"', 'name = "fast"'))
    write_claim(toy, "toy_b", LINE_PASS.replace('name = "line"', 'name = "slow"'))
    monkeypatch.setenv("TOY_SLEEP_ITEM", "slow")
    monkeypatch.setenv("TOY_SLEEP_S", "120")
    process = spawn_pytest(toy, *SMOKE, "--lc-run-id", "r1", "-p", "no:randomly", start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while "slow:0" not in calls(tmp_path):  # toy_b (after toy_a) is asleep in its first seed
            assert process.poll() is None, process.communicate()[0]
            assert time.monotonic() < deadline, "the slow item never started"
            time.sleep(0.1)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
    assert verdicts(toy, "r1") == {"toy_a/default": "pass", "toy_b/default": "missing"}
    assert [p.name for p in (run_dir(toy, "r1") / "toy").rglob("*.h5")] == ["default.h5"]
    monkeypatch.setenv("TOY_SLEEP_S", "0")
    resume(toy).assert_outcomes(passed=2)
    assert calls(tmp_path) == ["fast:0", "fast:1", "slow:0", "slow:0", "slow:1"]  # toy_a kept
    assert verdicts(toy, "r1") == {"toy_a/default": "pass", "toy_b/default": "pass"}

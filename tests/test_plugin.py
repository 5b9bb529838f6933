"""The pytest plugin end to end, with toy experiments (numpy only, fast).

Toy experiments live in a module written into the pytester directory and registered through
``LCSUITE_EXPERIMENT_MODULES``, the registry's extension point for out-of-package experiments.
"""

import os
import signal
import subprocess
import sys
import time

import h5py  # noqa: F401  (imported before pytester snapshots sys.modules: h5py cannot be re-imported)
import pytest

import lcsuite.experiments as lcsuite_experiments
from lcsuite.harness import store

TOY_EXPERIMENTS = '''
import os, time
import numpy as np
from lcsuite.experiments import experiment

def count_call(ctx):
    counter = os.environ.get("TOY_COUNTER")
    if counter:
        with open(counter, "a") as f:
            f.write(f"{ctx.params.get('name', 'toy')}:{ctx.seed}\\n")
    devices = os.environ.get("TOY_DEVICES")
    if devices:
        with open(devices, "a") as f:
            f.write(f"{os.environ.get('PYTEST_XDIST_WORKER')} {os.environ.get('CUDA_VISIBLE_DEVICES')} "
                    f"{ctx.device} {os.environ.get('OMP_NUM_THREADS')}\\n")

@experiment("toy_line", outputs={"values": ("layer",), "total": ()})
def toy_line(ctx):
    count_call(ctx)
    ctx.record_data({"name": "toyset", "split": "test", "size": 10, "substitute": True})
    if ctx.params.get("name") == os.environ.get("TOY_SLEEP_ITEM"):
        time.sleep(float(os.environ.get("TOY_SLEEP_S", "0")))
    n = ctx.params["n"]
    values = ctx.params["slope"] * np.arange(1, n + 1) + ctx.seed * 1e-3
    return {"values": values, "total": float(values.sum())}

@experiment("toy_undeclared")
def toy_undeclared(ctx):
    return {"measured": (np.ones(3), ("layer",))}

@experiment("toy_raises", outputs={"partial": ("layer",), "values": ("layer",)})
def toy_raises(ctx):
    ctx.save("partial", np.arange(3.0))
    if ctx.seed == 1:
        raise ValueError("the toy diverged")
    return {"values": np.arange(3.0)}

@experiment("toy_nan", outputs={"values": ("layer",)})
def toy_nan(ctx):
    return {"values": np.array([1.0, np.nan, 3.0])}
'''

HEADER = '''
paper = "Toy 1, Sec. 0"
statement = "A toy statement."
'''

LINE_PASS = '''
experiment = "toy_line"
[params]
n = 4
slope = 1.0
name = "line"
[tier.smoke]
seeds = [0, 1]
[[expect]]
check = "monotone"
quantity = "values"
along = "layer"
direction = "increasing"
strict = true
'''

LINE_FAIL = '''
experiment = "toy_line"
[params]
n = 4
slope = 1.0
name = "line"
[tier.smoke]
seeds = [0]
[[expect]]
description = "the values stay below 3"
check = "less"
left = "values"
right = 3
'''


def claim(id_, body):
    return f'id = "{id_}"\n{HEADER}\n{body}'


@pytest.fixture
def toy(pytester, monkeypatch, tmp_path):
    """A pytester dir with the toy experiments registered and a call counter."""
    module = pytester.path / "toy_experiments.py"
    module.write_text(TOY_EXPERIMENTS)
    monkeypatch.setenv("LCSUITE_EXPERIMENT_MODULES", str(module))
    monkeypatch.setenv("TOY_COUNTER", str(tmp_path / "calls.txt"))
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    # In-process runs share this process's registry: start each test from an empty one, so a
    # toy registered from an earlier test's (since deleted) directory is never reused here.
    monkeypatch.setattr(lcsuite_experiments, "_REGISTRY", {})
    (pytester.path / "claims").mkdir()
    return pytester


def write_claim(pytester, id_, body):
    path = pytester.path / "claims" / f"{id_}.toml"
    path.write_text(claim(id_, body))
    return path


def calls(tmp_path):
    path = tmp_path / "calls.txt"
    return path.read_text().splitlines() if path.exists() else []


def test_passing_and_failing_claims(toy):
    write_claim(toy, "toy_pass", LINE_PASS)
    write_claim(toy, "toy_fail", LINE_FAIL)
    result = toy.runpytest("claims", "--lc-tier", "smoke", "--lc-results", "res", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        "*claim toy_fail [[]default[]], Toy 1, Sec. 0, tier smoke: FAIL*",
        "*expectation: the values stay below 3",
        "*expected: values < 3",
        "*measured: 2 of 4 points hold*",
        "*where:    fails at seed=0, layer=2; seed=0, layer=3",
    ])
    assert "Traceback" not in result.stdout.str()
    run_dir = store.latest_run(toy.path / "res")
    verdicts = {r.claim_id: r.verdict for r in store.iter_run(run_dir)}
    assert verdicts == {"toy_pass": "pass", "toy_fail": "fail"}
    stored = store.read_item(run_dir / "toy_pass" / "default.h5")
    assert stored.quantities["values"].dims == ("seed", "layer")
    assert stored.attrs["data"] == [{"name": "toyset", "split": "test", "size": 10, "substitute": True}]


def test_grid_items_and_ids(toy):
    write_claim(toy, "toy_grid", LINE_PASS.replace("[tier.smoke]", '[grid]\nslope = [1.0, 2.0]\n[tier.smoke]'))
    result = toy.runpytest("claims", "--lc-tier", "smoke", "--lc-results", "res", "-v")
    result.stdout.fnmatch_lines(["*claims/toy_grid.toml::slope=1.0 PASSED*", "*claims/toy_grid.toml::slope=2.0 PASSED*"])


def test_ordinary_tests_are_untouched(toy):
    toy.makepyfile(test_plain="def test_ok():\n    assert True\n")
    result = toy.runpytest("test_plain.py")
    result.assert_outcomes(passed=1)
    assert "lcsuite claims" not in result.stdout.str()
    assert not (toy.path / "results").exists()


MALFORMED = {
    "bad_toml": ("id = \n", "bad_toml.toml: not valid TOML"),
    "missing_key": (claim("missing_key", LINE_PASS).replace('experiment = "toy_line"', ""),
                    "missing_key.toml: experiment: missing (required)"),
    "misspelled_key": (claim("misspelled_key", LINE_PASS).replace("[params]", "[parms]"),
                       "misspelled_key.toml: parms: unknown key (did you mean 'params'?)*"),
    "wrong_type": (claim("wrong_type", LINE_PASS).replace("seeds = [0, 1]", 'seeds = "0"'),
                   "wrong_type.toml: tier.smoke.seeds: expected a non-empty list of integers*"),
    "unknown_experiment": (claim("unknown_experiment", LINE_PASS).replace('"toy_line"', '"toy_lines"'),
                           "unknown_experiment.toml: experiment: unknown experiment 'toy_lines' (did you mean 'toy_line'?)*"),
    "unknown_check": (claim("unknown_check", LINE_PASS).replace('"monotone"', '"monotonic"'),
                      "unknown_check.toml: expect[[]0[]].check: unknown check 'monotonic' (did you mean 'monotone'?)*"),
    "unknown_quantity": (claim("unknown_quantity", LINE_PASS).replace('quantity = "values"', 'quantity = "value"'),
                         "unknown_quantity.toml: expect[[]0[]].quantity: quantity 'value' is not produced by experiment 'toy_line' (did you mean 'values'?)"),
    "unknown_dim": (claim("unknown_dim", LINE_PASS).replace('along = "layer"', 'along = "layers"'),
                    "unknown_dim.toml: expect[[]0[]].along: dim 'layers' is not a dim of values*"),
    "wrong_id": (claim("something_else", LINE_PASS), "wrong_id.toml: id: 'something_else' does not match the file name 'wrong_id'"),
}


def _write_malformed(pytester):
    for name, (text, _) in MALFORMED.items():
        (pytester.path / "claims" / f"{name}.toml").write_text(text)
    write_claim(pytester, "toy_pass", LINE_PASS)


def test_malformed_claim_files_are_collection_errors_and_others_still_run(toy):
    _write_malformed(toy)
    result = toy.runpytest("claims", "--lc-tier", "smoke", "--lc-results", "res")
    out = result.stdout.str()
    assert "Traceback" not in out and "site-packages" not in out
    result.stdout.fnmatch_lines_random([f"*claims/{expected}*" for _, expected in MALFORMED.values()])
    result.assert_outcomes(passed=1, errors=len(MALFORMED))
    assert result.ret == pytest.ExitCode.INTERRUPTED  # CI must notice malformed claims


def test_quantity_missing_at_run_time_is_an_item_error(toy):
    write_claim(toy, "toy_runtime", '''
experiment = "toy_undeclared"
[tier.smoke]
seeds = [0]
[[expect]]
check = "less"
left = "measurd"
right = 1
''')
    result = toy.runpytest("claims", "--lc-tier", "smoke", "--lc-results", "res")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*ERROR*",
        "*claims/toy_runtime.toml: expect[[]0[]].left: quantity 'measurd' is not produced*(did you mean 'measured'?)*",
    ])


def test_raising_and_nan_experiments_fail_clearly_and_keep_their_quantities(toy):
    expect = '[tier.smoke]\nseeds = [0, 1]\n[[expect]]\ncheck = "less"\nleft = "values"\nright = 10\n'
    write_claim(toy, "toy_raise", 'experiment = "toy_raises"\n' + expect)
    write_claim(toy, "toy_nans", 'experiment = "toy_nan"\n' + expect)
    result = toy.runpytest("claims", "--lc-tier", "smoke", "--lc-results", "res")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines_random([
        "*experiment 'toy_raises' failed for seed 1: ValueError: the toy diverged at toy_experiments.py:*",
        "*values is NaN at 2 of 6 points (first: seed=0, layer=1)*",
    ])
    run_dir = store.latest_run(toy.path / "res")
    raised = store.read_item(run_dir / "toy_raise" / "default.h5")
    assert raised.verdict == "error"
    assert raised.quantities["partial"].values.shape == (2, 3)  # seed 1 saved it before raising
    assert raised.attrs["seeds"] == [0, 1]
    nans = store.read_item(run_dir / "toy_nans" / "default.h5")
    assert nans.verdict == "error" and nans.quantities["values"].values.shape == (2, 3)


def test_rerun_reuses_completed_items_unless_asked(toy, tmp_path):
    write_claim(toy, "toy_pass", LINE_PASS)
    args = ("claims", "--lc-tier", "smoke", "--lc-results", "res")
    toy.runpytest(*args).assert_outcomes(passed=1)
    assert len(calls(tmp_path)) == 2  # two seeds
    second = toy.runpytest(*args)
    second.assert_outcomes(passed=1)
    second.stdout.fnmatch_lines(["*(1 reused)*"])
    assert len(calls(tmp_path)) == 2
    run_dirs = [p for p in (toy.path / "res").iterdir() if p.is_dir()]
    assert len(run_dirs) == 2 and all((p / "toy_pass" / "default.h5").exists() for p in run_dirs)
    toy.runpytest(*args, "--lc-rerun").assert_outcomes(passed=1)
    assert len(calls(tmp_path)) == 4
    # A changed spec is recomputed.
    write_claim(toy, "toy_pass", LINE_PASS.replace("n = 4", "n = 5"))
    toy.runpytest(*args).assert_outcomes(passed=1)
    assert len(calls(tmp_path)) == 6
    # A corrupt file in the latest run is recomputed.
    latest = store.latest_run(toy.path / "res") / "toy_pass" / "default.h5"
    data = latest.read_bytes()
    latest.unlink()  # it may be a hard link shared with an older run
    latest.write_bytes(data[: len(data) // 2])
    toy.runpytest(*args).assert_outcomes(passed=1)
    assert len(calls(tmp_path)) == 8


def _pytest_subprocess(pytester, *args, **popen):
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", *args], cwd=pytester.path,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **popen,
    )


def test_xdist_two_workers_print_the_table_once(toy):
    write_claim(toy, "toy_pass", LINE_PASS)
    write_claim(toy, "toy_fail", LINE_FAIL)
    write_claim(toy, "toy_grid", LINE_PASS.replace("[tier.smoke]", '[grid]\nslope = [1.0, 2.0]\n[tier.smoke]'))
    (toy.path / "claims" / "broken.toml").write_text(claim("broken", LINE_PASS).replace("[params]", "[parms]"))
    process = _pytest_subprocess(toy, "claims", "-n", "2", "--lc-tier", "smoke", "--lc-results", "res")
    out, _ = process.communicate(timeout=240)
    assert "2 workers [4 items]" in out, out
    assert out.count("lcsuite claims (tier smoke") == 1, out
    assert "claims/broken.toml: parms: unknown key (did you mean 'params'?)" in out
    assert "Traceback" not in out
    assert "3 passed" in out and "1 failed" in out, out
    table = out[out.index("lcsuite claims (tier smoke"):]
    assert "| toy_grid" in table and "toyset(test, 10) [substitute]" in table
    run_dir = store.latest_run(toy.path / "res")
    assert len(list(store.iter_run(run_dir))) == 4  # one run dir shared by both workers
    assert process.returncode == pytest.ExitCode.INTERRUPTED


def test_killed_run_leaves_no_corrupt_file_and_rerun_reuses_completed_items(toy, tmp_path, monkeypatch):
    write_claim(toy, "toy_a", LINE_PASS.replace('name = "line"', 'name = "fast"'))
    write_claim(toy, "toy_b", LINE_PASS.replace('name = "line"', 'name = "slow"'))
    args = ("claims", "--lc-tier", "smoke", "--lc-results", "res", "-p", "no:randomly")
    monkeypatch.setenv("TOY_SLEEP_ITEM", "slow")
    monkeypatch.setenv("TOY_SLEEP_S", "120")
    process = _pytest_subprocess(toy, *args, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while "slow:0" not in calls(tmp_path):  # toy_b (after toy_a) is asleep in its first seed
            assert process.poll() is None, process.communicate()[0]
            assert time.monotonic() < deadline, "the slow item never started"
            time.sleep(0.1)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
    results = toy.path / "res"
    finals = [p for p in results.rglob("*.h5") if not p.name.startswith(".")]
    assert [p.parent.name for p in finals] == ["toy_a"]
    assert all(store.is_complete(p) for p in finals)
    assert calls(tmp_path) == ["fast:0", "fast:1", "slow:0"]

    monkeypatch.setenv("TOY_SLEEP_S", "0")
    rerun = toy.runpytest(*args)
    rerun.assert_outcomes(passed=2)
    assert calls(tmp_path) == ["fast:0", "fast:1", "slow:0", "slow:0", "slow:1"]  # toy_a reused
    verdicts = {r.claim_id: r.verdict for r in store.iter_run(store.latest_run(results))}
    assert verdicts == {"toy_a": "pass", "toy_b": "pass"}


def test_gpu_tier_pins_each_xdist_worker_to_a_device(toy, tmp_path, monkeypatch):
    # No GPU here: the device count comes from the override, the experiment never touches CUDA.
    write_claim(toy, "toy_grid", LINE_PASS.replace("[tier.smoke]", '[grid]\nslope = [1.0, 2.0, 3.0, 4.0]\n[tier.gpu]'))
    monkeypatch.setenv("LCSUITE_CUDA_DEVICE_COUNT", "2")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "5,7")
    monkeypatch.setenv("TOY_DEVICES", str(tmp_path / "devices.txt"))
    process = _pytest_subprocess(toy, "claims", "-n", "2", "--lc-tier", "gpu", "--lc-results", "res")
    out, _ = process.communicate(timeout=240)
    assert "4 passed" in out, out
    seen = {tuple(line.split()) for line in (tmp_path / "devices.txt").read_text().splitlines()}
    assert {(w, v, d) for w, v, d, _ in seen} <= {("gw0", "5", "cuda"), ("gw1", "7", "cuda")}
    assert all(threads.isdigit() for *_, threads in seen)  # thread cap set in each worker


def test_timeout_and_real_data_requirement_are_item_errors(toy, monkeypatch):
    write_claim(toy, "toy_slow", LINE_PASS.replace("seeds = [0, 1]", "seeds = [0]\ntimeout_s = 0.5"))
    write_claim(toy, "toy_real", LINE_PASS.replace('name = "line"', 'name = "real"')
                .replace("seeds = [0, 1]", "seeds = [0]\nrequires_real_data = true"))
    monkeypatch.setenv("TOY_SLEEP_ITEM", "line")
    monkeypatch.setenv("TOY_SLEEP_S", "30")
    result = toy.runpytest("claims", "--lc-tier", "smoke", "--lc-results", "res")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines_random([
        "*ItemTimeout: exceeded the tier's timeout_s = 0.5 s*",
        "*tier 'smoke' requires real data, but the experiment used toyset(test, 10) [[]substitute[]]*",
    ])


def test_claim_without_the_tier_is_skipped(toy):
    write_claim(toy, "toy_pass", LINE_PASS)
    result = toy.runpytest("claims", "--lc-tier", "paper", "--lc-results", "res", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*claims/toy_pass.toml: defines no [[]tier.paper[]] (tiers: smoke)*"])

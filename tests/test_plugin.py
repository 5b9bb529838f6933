"""The pytest plugin end to end with toy experiments: collection, verdicts, exit codes, table."""

import h5py  # noqa: F401  (imported before pytester snapshots sys.modules: h5py cannot be re-imported)
import pytest
from plugin_toys import (LINE_FAIL, LINE_PASS, SMOKE, calls, claim_text, spawn_pytest, run_dir,
                         verdicts, write_claim)

from lcsuite.harness import store
from lcsuite.pytest_plugin import EXIT_ERRORED


def test_passing_and_failing_claims(toy):
    write_claim(toy, "toy_pass", LINE_PASS)
    write_claim(toy, "toy_fail", LINE_FAIL)
    result = toy.runpytest(*SMOKE)
    result.assert_outcomes(passed=1, failed=1)
    assert result.ret == 1
    result.stdout.fnmatch_lines([
        "*claim toy_fail [[]default[]], Toy 1, Sec. 0, tier smoke: FAIL*",
        "*expectation: the values stay below 3",
        "*expected: values < 3",
        "*measured: 2 of 4 points hold*",
        "*where:    fails at seed=0, layer=2; seed=0, layer=3",
    ])
    assert "Traceback" not in result.stdout.str()
    assert verdicts(toy) == {"toy_pass/default": "pass", "toy_fail/default": "fail"}
    stored = store.read_item(run_dir(toy) / "toy" / "toy_pass" / "default.h5")
    assert stored.quantities["values"].dims == ("seed", "layer")
    assert stored.data == [{"name": "toyset", "split": "test", "size": 10, "substitute": True}]
    provenance = stored.provenance
    assert provenance["determinism"]["threads"] == 1 and provenance["determinism"]["deterministic_algorithms"]
    assert {"python", "torch", "numpy", "h5py"} <= set(provenance["versions"])
    assert provenance["device"]["kind"].startswith("cpu:") and provenance["executor"] == "inline"
    assert any(name.startswith("lcsuite_plugin_toy") for name in provenance["code"])


def test_grid_items_and_ids(toy):
    write_claim(toy, "toy_grid", LINE_PASS.replace("[tier.smoke]", '[grid]\nslope = [1.0, 2.0]\n[tier.smoke]'))
    result = toy.runpytest(*SMOKE, "-v")
    result.stdout.fnmatch_lines(["*claims/toy_grid.toml::slope=1.0 PASSED*", "*claims/toy_grid.toml::slope=2.0 PASSED*"])
    assert result.ret == 0


def test_ordinary_tests_are_untouched(toy):
    toy.makepyfile(test_plain="def test_ok():\n    assert True\n")
    result = toy.runpytest("test_plain.py")
    result.assert_outcomes(passed=1)
    assert "lcsuite claims" not in result.stdout.str()
    assert not (toy.path / "results").exists()


def test_claim_files_are_collected_from_any_folder_and_other_toml_files_are_ignored(toy):
    folder = toy.path / "elsewhere"
    folder.mkdir()
    (folder / "toy_pass.toml").write_text(claim_text("toy_pass", LINE_PASS))
    (folder / "settings.toml").write_text('[tool]\nname = "not a claim"\n')
    result = toy.runpytest("elsewhere", "--lc-tier", "smoke", "--lc-results", "res")
    result.assert_outcomes(passed=1)
    strict = toy.runpytest("elsewhere", "--lc-tier", "smoke", "--lc-results", "res", "--lc-claims")
    strict.stdout.fnmatch_lines(["*elsewhere/settings.toml: tool: unknown key; allowed: id, paper, ref*"])
    assert strict.ret == pytest.ExitCode.INTERRUPTED


MALFORMED = {
    "bad_toml": ("id = \n", "bad_toml.toml: not valid TOML"),
    "missing_key": (claim_text("missing_key", LINE_PASS).replace('experiment = "toy_line"', 'experimen = "toy_line"'),
                    "missing_key.toml: experimen: unknown key (did you mean 'experiment'?)*"),
    "misspelled_key": (claim_text("misspelled_key", LINE_PASS).replace("[params]", "[parms]"),
                       "misspelled_key.toml: parms: unknown key (did you mean 'params'?)*"),
    "wrong_type": (claim_text("wrong_type", LINE_PASS).replace("seeds = [0, 1]", 'seeds = "0"'),
                   "wrong_type.toml: tier.smoke.seeds: expected a non-empty list of integers*"),
    "unknown_experiment": (claim_text("unknown_experiment", LINE_PASS).replace('"toy_line"', '"toy_lines"'),
                           "unknown_experiment.toml: experiment: unknown experiment 'toy_lines' (did you mean 'toy_line'?)*"),
    "unknown_check": (claim_text("unknown_check", LINE_PASS).replace('"monotone"', '"monotonic"'),
                      "unknown_check.toml: expect[[]0[]].check: unknown check 'monotonic' (did you mean 'monotone'?)*"),
    "unknown_quantity": (claim_text("unknown_quantity", LINE_PASS).replace('quantity = "values"', 'quantity = "value"'),
                         "unknown_quantity.toml: expect[[]0[]].quantity: quantity 'value' is not produced by experiment 'toy_line' (did you mean 'values'?)"),
    "unknown_dim": (claim_text("unknown_dim", LINE_PASS).replace('along = "layer"', 'along = "layers"'),
                    "unknown_dim.toml: expect[[]0[]].along: dim 'layers' is not a dim of values*"),
    "unknown_param": (claim_text("unknown_param", LINE_PASS).replace("slope = 1.0", "slop = 1.0"),
                      "unknown_param.toml: params.slop: unknown parameter of experiment 'toy_line' (did you mean 'slope'?)*"),
    "unknown_tier_key": (claim_text("unknown_tier_key", LINE_PASS).replace("seeds = [0, 1]", "seeds = [0, 1]\nnn = 3"),
                         "unknown_tier_key.toml: tier.smoke.nn: not a key of [[]params[]] (did you mean 'n'?)*"),
    "wrong_id": (claim_text("something_else", LINE_PASS), "wrong_id.toml: id: 'something_else' does not match the file name 'wrong_id'"),
}


def test_malformed_claim_files_are_collection_errors_and_others_still_run(toy):
    for name, (text, _) in MALFORMED.items():
        (toy.path / "claims" / f"{name}.toml").write_text(text)
    write_claim(toy, "toy_pass", LINE_PASS)
    result = toy.runpytest(*SMOKE, "--lc-claims")
    out = result.stdout.str()
    assert "Traceback" not in out and "site-packages" not in out
    result.stdout.fnmatch_lines_random([f"*claims/{expected}*" for _, expected in MALFORMED.values()])
    result.assert_outcomes(passed=1, errors=len(MALFORMED))
    assert result.ret == pytest.ExitCode.INTERRUPTED  # CI must notice malformed claims


def test_a_quantity_missing_at_run_time_is_an_item_error_with_its_own_exit_status(toy):
    write_claim(toy, "toy_runtime", 'experiment = "toy_undeclared"\n[tier.smoke]\nseeds = [0]\n'
                                    '[[expect]]\ncheck = "less"\nleft = "measurd"\nright = 1\n')
    result = toy.runpytest(*SMOKE)
    result.assert_outcomes(failed=1)
    assert result.ret == EXIT_ERRORED
    result.stdout.fnmatch_lines([
        "*ERROR*",
        "*claims/toy_runtime.toml: expect[[]0[]].left: quantity 'measurd' is not produced*(did you mean 'measured'?)*",
    ])


def test_raising_experiments_are_errors_and_keep_what_they_measured(toy):
    write_claim(toy, "toy_raise", 'experiment = "toy_raises"\n[tier.smoke]\nseeds = [0, 1]\n'
                                  '[[expect]]\ncheck = "less"\nleft = "values"\nright = 10\n')
    result = toy.runpytest(*SMOKE)
    assert result.ret == EXIT_ERRORED
    result.stdout.fnmatch_lines(["*experiment 'toy_raises' failed for seed 1: ValueError: the toy diverged at toy_experiments.py:*"])
    raised = store.read_item(run_dir(toy) / "toy" / "toy_raise" / "default.h5")
    assert raised.status == "error" and raised.provenance["seeds_measured"] == [0, 1]
    assert raised.quantities["partial"].values.shape == (2, 3)  # seed 1 saved it before raising
    assert verdicts(toy) == {"toy_raise/default": "error"}


@pytest.mark.parametrize(("bad", "check"), [("nan", "less"), ("inf", "greater"), ("-inf", "monotone")])
def test_non_finite_values_make_an_expectation_an_error_naming_the_place(toy, bad, check):
    expect = {"less": 'check = "less"\nleft = "values"\nright = 10',
              "greater": 'check = "greater"\nleft = "values"\nright = 0',
              "monotone": 'check = "monotone"\nquantity = "values"\nalong = "layer"\ndirection = "increasing"'}[check]
    write_claim(toy, "toy_bad", f'experiment = "toy_nonfinite"\n[params]\nbad = "{bad}"\n[tier.smoke]\nseeds = [0]\n'
                                f'[[expect]]\n{expect}\n')
    result = toy.runpytest(*SMOKE)
    assert result.ret == EXIT_ERRORED
    result.stdout.fnmatch_lines([f"*expect[[]0[]]: values is non-finite at 1 of 3 points (first: seed=0, layer=1: {bad})*"])


def test_xdist_two_workers_print_the_table_once_and_share_one_run(toy):
    write_claim(toy, "toy_pass", LINE_PASS)
    write_claim(toy, "toy_fail", LINE_FAIL)
    write_claim(toy, "toy_grid", LINE_PASS.replace("[tier.smoke]", '[grid]\nslope = [1.0, 2.0]\n[tier.smoke]'))
    (toy.path / "claims" / "broken.toml").write_text(claim_text("broken", LINE_PASS).replace("[params]", "[parms]"))
    process = spawn_pytest(toy, "claims", "-n", "2", "--lc-tier", "smoke", "--lc-results", "res")
    out, _ = process.communicate(timeout=240)
    assert "2 workers [4 items]" in out, out
    assert out.count("lcsuite claims (tier smoke") == 1, out
    assert "claims/broken.toml: parms: unknown key (did you mean 'params'?)" in out
    assert "Traceback" not in out
    assert "3 passed" in out and "1 failed" in out, out
    table = out[out.index("lcsuite claims (tier smoke"):]
    assert "| toy_grid" in table and "toyset (test, n=10) [substitute]" in table
    assert len(verdicts(toy)) == 4
    assert process.returncode == pytest.ExitCode.INTERRUPTED


def test_a_crashed_worker_leaves_its_item_missing_and_the_run_errored(toy, monkeypatch):
    write_claim(toy, "toy_a", LINE_PASS.replace('name = "line"', 'name = "fine"'))
    write_claim(toy, "toy_b", LINE_PASS.replace('name = "line"', 'name = "crash"'))
    monkeypatch.setenv("TOY_CRASH_ITEM", "crash")
    process = spawn_pytest(toy, "claims", "-n", "2", "--lc-tier", "smoke", "--lc-results", "res")
    out, _ = process.communicate(timeout=240)
    assert process.returncode == EXIT_ERRORED, out
    assert "incomplete: 1 of 2 items finished; missing: toy/toy_b/default" in out
    assert verdicts(toy) == {"toy_a/default": "pass", "toy_b/default": "missing"}
    table = out[out.index("lcsuite claims (tier smoke"):]
    assert "| toy_b " in table and "MISSING" in table


def test_gpu_tier_pins_each_xdist_worker_to_a_device(toy, tmp_path, monkeypatch):
    # No GPU here: the device count comes from the override, the experiment never touches CUDA.
    write_claim(toy, "toy_grid", LINE_PASS.replace("[tier.smoke]", '[grid]\nslope = [1.0, 2.0, 3.0, 4.0]\n[tier.gpu]'))
    monkeypatch.setenv("LCSUITE_CUDA_DEVICE_COUNT", "2")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "5,7")
    monkeypatch.setenv("TOY_DEVICES", str(tmp_path / "devices.txt"))
    process = spawn_pytest(toy, "claims", "-n", "2", "--lc-tier", "gpu", "--lc-results", "res")
    out, _ = process.communicate(timeout=240)
    assert "4 passed" in out, out
    seen = {tuple(line.split()) for line in (tmp_path / "devices.txt").read_text().splitlines()}
    assert seen <= {("gw0", "5", "cuda"), ("gw1", "7", "cuda")}


def test_timeout_and_real_data_requirement_are_item_errors(toy, monkeypatch):
    write_claim(toy, "toy_slow", LINE_PASS.replace("seeds = [0, 1]", "seeds = [0]\ntimeout_s = 0.5"))
    write_claim(toy, "toy_real", LINE_PASS.replace('name = "line"', 'name = "real"')
                .replace("seeds = [0, 1]", "seeds = [0]\nrequires_real_data = true"))
    monkeypatch.setenv("TOY_SPIN_ITEM", "line")
    monkeypatch.setenv("TOY_SPIN_S", "30")
    result = toy.runpytest(*SMOKE)
    result.assert_outcomes(failed=2)
    assert result.ret == EXIT_ERRORED
    result.stdout.fnmatch_lines_random([
        "*ItemTimeout: exceeded the tier's timeout_s = 0.5 s of CPU time*",
        "*the claim requires real data at tier 'smoke', but the experiment used toyset (test)*",
    ])


def test_the_timeout_limits_the_item_all_its_seeds_together(toy, monkeypatch):
    """Two seeds of 0.4 s of CPU each fit a 0.6 s limit per seed, not per item (DECISIONS D5)."""
    write_claim(toy, "toy_slow", LINE_PASS.replace("seeds = [0, 1]", "seeds = [0, 1]\ntimeout_s = 0.6"))
    monkeypatch.setenv("TOY_SPIN_ITEM", "line")
    monkeypatch.setenv("TOY_SPIN_S", "0.4")
    result = toy.runpytest(*SMOKE)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*failed for seed 1: ItemTimeout: exceeded the tier's timeout_s = 0.6 s of CPU "
                                 "time (the item's limit, all its seeds together)*"])


def test_the_timeout_counts_cpu_time_and_a_wall_clock_backstop_stops_a_wait(toy, monkeypatch):
    """Waiting is not computing: a seed that sleeps 1.5 x timeout_s passes (as an item slowed by
    a loaded machine does); one that sleeps past 4 x timeout_s is stopped."""
    write_claim(toy, "toy_wait", LINE_PASS.replace("seeds = [0, 1]", "seeds = [0]\ntimeout_s = 0.4"))
    monkeypatch.setenv("TOY_SLEEP_ITEM", "line")
    monkeypatch.setenv("TOY_SLEEP_S", "0.6")
    toy.runpytest(*SMOKE, "--lc-run-id", "short").assert_outcomes(passed=1)
    monkeypatch.setenv("TOY_SLEEP_S", "30")
    result = toy.runpytest(*SMOKE, "--lc-run-id", "hang")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*ItemTimeout: ran past 1.6 s of wall-clock time (4 x the tier's timeout_s = 0.4 s "
                                 "of CPU time; the item waited without computing)*"])


def test_claim_without_the_tier_is_skipped(toy):
    write_claim(toy, "toy_pass", LINE_PASS)
    result = toy.runpytest("claims", "--lc-tier", "paper", "--lc-results", "res", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*claims/toy_pass.toml: defines no [[]tier.paper[]] (tiers: smoke)*"])


@pytest.mark.parametrize("run_id", ["../escape", "a/b", ".hidden"])
def test_a_run_id_with_a_path_separator_is_a_usage_error(toy, run_id):
    write_claim(toy, "toy_pass", LINE_PASS)
    result = toy.runpytest(*SMOKE, "--lc-run-id", run_id)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*invalid run id '{run_id}'*"])
    assert not (toy.path / "escape").exists() and not (toy.path / "res").exists()


def test_resuming_a_run_at_another_tier_is_refused(toy, monkeypatch):
    write_claim(toy, "toy_pass", LINE_PASS.replace("[tier.smoke]", "[tier.gpu]\nseeds = [0]\n[tier.smoke]"))
    monkeypatch.setenv("LCSUITE_CUDA_DEVICE_COUNT", "1")  # the gpu tier needs one; the toy never touches it
    toy.runpytest("claims", "--lc-tier", "gpu", "--lc-results", "res", "--lc-run-id", "night")
    result = toy.runpytest(*SMOKE, "--lc-run-id", "night")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*run night is a gpu-tier run; resume it with --lc-tier gpu*"])
    assert verdicts(toy, "night") == {"toy_pass/default": "pass"}


@pytest.mark.parametrize("workers", [[], ["-n", "2"]])
def test_a_gpu_tier_without_a_gpu_is_an_item_error_not_a_cpu_run(toy, tmp_path, monkeypatch, workers):
    write_claim(toy, "toy_pass", LINE_PASS.replace("[tier.smoke]", "[tier.paper]"))
    monkeypatch.setenv("LCSUITE_CUDA_DEVICE_COUNT", "0")
    process = spawn_pytest(toy, "claims", "--lc-tier", "paper", "--lc-results", "res", "--lc-run-id", "r", *workers)
    out, _ = process.communicate(timeout=240)
    assert process.returncode == EXIT_ERRORED, out
    assert "tier paper is measured on a CUDA device, but torch sees none on " in out
    assert verdicts(toy, "r") == {"toy_pass/default": "error"} and calls(tmp_path) == []
    assert not list(run_dir(toy, "r").rglob("*.h5"))


@pytest.mark.parametrize("options, message", [
    (["--lc-submit-only"], "--lc-submit-only needs --lc-executor local or slurm*"),
    (["--lc-executor", "local", "--lc-submit-only", "--lc-collect-only"],
     "--lc-submit-only and --lc-collect-only cannot be combined*"),
    (["--lc-collect-only"], "--lc-collect-only judges an existing run: give --lc-run-id of one under *"),
    (["--lc-collect-only", "--lc-run-id", "absent"], "*(there is no */absent/run.json)"),
    (["--lc-collect-only", "--lc-run-id", "r", "--lc-rerun"], "--lc-collect-only cannot be combined with --lc-rerun*"),
    (["--lc-collect-only", "--lc-run-id", "r", "--lc-reuse-from", "r"],
     "--lc-collect-only cannot be combined with --lc-reuse-from*"),
])
def test_submit_only_and_collect_only_refuse_what_contradicts_them(toy, options, message):
    write_claim(toy, "toy_pass", LINE_PASS)
    assert toy.runpytest(*SMOKE, "--lc-run-id", "r").ret == 0
    result = toy.runpytest(*SMOKE, *options)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {message}"])

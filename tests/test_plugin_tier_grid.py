"""A tier with a grid of its own (``[tier.X.grid]``): its items in pytest, the plan, xdist and an
executor; the other tiers keep the claim's items."""

import h5py  # noqa: F401  (imported before pytester snapshots sys.modules: h5py cannot be re-imported)
from plugin_toys import LINE_PASS, SMOKE, run_dir, spawn_pytest, verdicts, write_claim

from lcsuite.harness import runs

TIERED = LINE_PASS.replace("seeds = [0, 1]", 'seeds = [0, 1]\n[tier.smoke.grid]\nslope = [1.0, 2.0, 3.0]\n'
                                             '[tier.gpu]\nseeds = [0]')
SPLIT = {f"toy_tiered/slope={s}": "pass" for s in ("1.0", "2.0", "3.0")}


def _planned(pytester, run_id):
    info = runs.read_run(run_dir(pytester, run_id))
    return {key.split("/", 1)[1]: entry.spec for key, entry in info.plan.items()}


def test_the_tier_grid_gives_that_tier_its_items_and_leaves_the_others_alone(toy, monkeypatch):
    write_claim(toy, "toy_tiered", TIERED)
    result = toy.runpytest(*SMOKE, "--lc-run-id", "smoke", "-v")
    result.stdout.fnmatch_lines([f"*claims/toy_tiered.toml::slope={s} PASSED*" for s in ("1.0", "2.0", "3.0")])
    assert result.ret == 0 and verdicts(toy, "smoke") == SPLIT
    planned = _planned(toy, "smoke")
    assert [planned[k].params["slope"] for k in sorted(planned)] == [1.0, 2.0, 3.0]
    monkeypatch.setenv("LCSUITE_CUDA_DEVICE_COUNT", "1")  # the gpu tier needs one; the toy never touches it
    gpu = spawn_pytest(toy, "claims", "--lc-tier", "gpu", "--lc-results", "res", "--lc-run-id", "gpu", "-v",
                       "-p", "no:cacheprovider")
    out, _ = gpu.communicate(timeout=300)
    assert "claims/toy_tiered.toml::default PASSED" in out, out
    assert verdicts(toy, "gpu") == {"toy_tiered/default": "pass"}
    assert _planned(toy, "gpu")["toy_tiered/default"].params["slope"] == 1.0


def test_one_item_of_a_tier_grid_is_selected_by_its_node_id(toy):
    write_claim(toy, "toy_tiered", TIERED)
    result = toy.runpytest("claims/toy_tiered.toml::slope=2.0", *SMOKE[1:], "--lc-run-id", "one")
    result.assert_outcomes(passed=1)
    assert verdicts(toy, "one") == {"toy_tiered/slope=2.0": "pass"}


def test_xdist_and_the_local_executor_plan_and_measure_the_tier_items(toy, executor_env):
    write_claim(toy, "toy_tiered", TIERED)
    for run_id, extra in (("xdist", ("-n", "2")), ("local", ("--lc-executor", "local"))):
        process = spawn_pytest(toy, *SMOKE, "--lc-run-id", run_id, *extra)
        out, _ = process.communicate(timeout=300)
        assert process.returncode == 0, out
        assert verdicts(toy, run_id) == SPLIT

"""Run-vs-run comparison: verdict flips, drift beyond tolerance, unmatched items, exit codes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from run_fixtures import item_spec, key, sample_items, write_run

from lcsuite.cli import main
from lcsuite.reporting.compare import Tolerances, compare_dirs, relative_drift, render_comparison
from lcsuite.reporting.loading import ResultsError

FIG5 = key("fig5_bn_improves_conditioning", "init=random")


@pytest.fixture
def baseline(tmp_path):
    return write_run(tmp_path / "base", "run-a", sample_items())


def test_two_identical_runs_compare_clean(tmp_path, baseline):
    new = write_run(tmp_path / "new", "run-b", sample_items())
    comparison = compare_dirs(baseline, new)
    assert comparison.matched == len(sample_items())
    assert not comparison.verdict_changes and not comparison.drift_regressions
    assert not comparison.has_regression
    assert main(["compare", str(baseline), str(new)]) == 0


def test_a_planted_verdict_flip_is_a_regression(tmp_path, baseline, capsys):
    new = write_run(tmp_path / "new", "run-b", sample_items(fig5_verdict="fail"))
    comparison = compare_dirs(baseline, new)
    assert [(c.key, c.old, c.new, c.kind) for c in comparison.verdict_changes] == [
        (FIG5, "pass", "fail", "regression")
    ]
    assert main(["compare", str(baseline), str(new)]) == 1
    out = capsys.readouterr().out
    assert FIG5 in out and "REGRESSION" in out


def test_fail_to_pass_is_an_improvement_not_a_regression(tmp_path):
    old = write_run(tmp_path / "base", "run-a", sample_items(fig5_verdict="fail"))
    new = write_run(tmp_path / "new", "run-b", sample_items())
    comparison = compare_dirs(old, new)
    assert [c.kind for c in comparison.verdict_changes] == ["improvement"]
    assert main(["compare", str(old), str(new)]) == 0


def test_planted_drift_beyond_tolerance_is_a_regression(tmp_path, baseline):
    new = write_run(tmp_path / "new", "run-b", sample_items(scale=1.25))
    comparison = compare_dirs(baseline, new, rtol=0.1)
    drifted = {d.path for d in comparison.drift_regressions}
    assert f"{FIG5}/headline/fraction_below" in drifted
    assert f"{FIG5}/quantities/plain/input/kappa_p80" in drifted
    assert all(math.isclose(d.drift, 0.2) for d in comparison.drift_regressions)
    assert main(["compare", str(baseline), str(new)]) == 1
    # The same drift is within a looser default tolerance.
    assert main(["compare", str(baseline), str(new), "--rtol", "0.25"]) == 0


def test_per_path_tolerances_override_the_default(tmp_path, baseline):
    new = write_run(tmp_path / "new", "run-b", sample_items(scale=1.25))
    tolerance_file = tmp_path / "tolerances.toml"
    tolerance_file.write_text('default = 0.5\n[paths]\n"*/fig5_*/quantities/plain/*" = 0.01\n')
    comparison = compare_dirs(baseline, new, tolerance_file=tolerance_file)
    assert {d.path for d in comparison.drift_regressions} == {f"{FIG5}/quantities/plain/input/kappa_p80",
                                                              f"{FIG5}/quantities/plain/train_loss"}
    assert main(["compare", str(baseline), str(new), "--tolerance-file", str(tolerance_file)]) == 1
    tolerance_file.write_text('default = 0.5\n[paths]\n"*/fig5_*" = 0.01\n"*/fig5_*/quantities/plain/*" = 1.0\n')
    assert compare_dirs(baseline, new, tolerance_file=tolerance_file).has_regression  # via */fig5_*
    longest = Tolerances.from_file(tolerance_file)
    assert longest.for_path(f"{FIG5}/quantities/plain/train_loss") == 1.0
    assert longest.for_path(f"{FIG5}/headline/fraction_below") == 0.01
    assert longest.for_path("other/item/headline/x") == 0.5


def test_a_bad_tolerance_file_is_a_clear_error(tmp_path, baseline, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("default = 'loose'\n")
    with pytest.raises(ResultsError):
        Tolerances.from_file(bad)
    assert main(["compare", str(baseline), str(baseline), "--tolerance-file", str(bad)]) == 2
    assert "tolerance file" in capsys.readouterr().err


def test_items_in_only_one_plan_are_listed_as_plans_differ_without_failing(tmp_path, baseline):
    extra = item_spec("fig4_weight_domination", "mask=10111", headline={"loss": 1.0})
    new = write_run(tmp_path / "new", "run-b", sample_items()[1:] + [extra])
    comparison = compare_dirs(baseline, new)
    assert comparison.plan_only_baseline == [FIG5]
    assert comparison.plan_only_new == [key("fig4_weight_domination", "mask=10111")]
    assert not comparison.has_regression and comparison.matched == len(sample_items()) - 1
    markdown = render_comparison(comparison)
    assert "## Plans differ (not regressions)" in markdown
    assert f"| {key('fig4_weight_domination', 'mask=10111')} | new only |" in markdown
    assert f"| {FIG5} | baseline only |" in markdown


@pytest.mark.parametrize("side", ["new", "baseline"])
def test_a_planned_item_missing_in_either_run_is_a_regression(tmp_path, capsys, side):
    complete = write_run(tmp_path / "a", "run-a", sample_items())
    incomplete = write_run(tmp_path / "b", "run-b", sample_items()[1:],
                           missing=(("fig5_bn_improves_conditioning", "init=random"),))
    old, new = (complete, incomplete) if side == "new" else (incomplete, complete)
    comparison = compare_dirs(old, new)
    assert comparison.missing == [(FIG5, side)] and comparison.has_regression
    assert comparison.matched == len(sample_items()) - 1
    assert main(["compare", str(old), str(new)]) == 1
    out = capsys.readouterr().out
    assert f"compared {len(sample_items()) - 1} items" in out and f"planned, missing in {side}" in out


def test_runs_of_different_tiers_are_refused(tmp_path, baseline, capsys):
    gpu = write_run(tmp_path / "gpu", "run-g", sample_items(), tier="gpu")
    with pytest.raises(ResultsError, match="cannot compare a smoke-tier run .* with a gpu-tier run"):
        compare_dirs(baseline, gpu)
    assert main(["compare", str(baseline), str(gpu)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "same tier" in err


def test_runs_without_a_common_item_are_refused(tmp_path, baseline, capsys):
    other = write_run(tmp_path / "other", "run-o", [item_spec("fig4_weight_domination", "mask=10111")])
    assert main(["compare", str(baseline), str(other)]) == 2
    assert "nothing to compare" in capsys.readouterr().err


def test_holds_to_inconclusive_is_a_regression(tmp_path):
    a = write_run(tmp_path / "a", "r", [item_spec("c", "i", verdict="holds")])
    b = write_run(tmp_path / "b", "r", [item_spec("c", "i", verdict="inconclusive")])
    comparison = compare_dirs(a, b)
    assert [(c.old, c.new, c.kind) for c in comparison.regressions] == [("holds", "inconclusive", "regression")]


def test_timings_are_compared_only_where_a_tolerance_names_them(tmp_path):
    a = write_run(tmp_path / "a", "r", [item_spec("c", "i", timings={"seconds": (np.ones((2, 3)), ["seed", "width"])})])
    b = write_run(tmp_path / "b", "r", [item_spec("c", "i", timings={"seconds": (2 * np.ones((2, 3)), ["seed", "width"])})])
    assert not compare_dirs(a, b).has_regression
    tolerances = tmp_path / "t.toml"
    tolerances.write_text('[paths]\n"*/quantities/seconds" = 0.1\n')
    assert [d.path for d in compare_dirs(a, b, tolerance_file=tolerances).drift_regressions] == [
        key("c", "i") + "/quantities/seconds"]


def test_markdown_output_names_flips_and_drifts(tmp_path, baseline):
    new = write_run(tmp_path / "new", "run-b", sample_items(scale=2.0, fig5_verdict="error"))
    output = tmp_path / "out" / "compare.md"
    assert main(["compare", str(baseline), str(new), "-o", str(output)]) == 1
    text = output.read_text()
    assert f"| {FIG5} | pass | error | **regression** |" in text
    assert "## Drift beyond tolerance" in text and "/headline/fraction_below" in text
    assert "**REGRESSION: 1 verdict regressions" in text


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ([1.0, 2.0], [1.0, 2.0], 0.0),
        ([1.0, 2.0], [1.1, 2.0], 0.1 / 1.1),
        ([0.0], [0.0], 0.0),
        ([0.0], [1e-9], 1.0),
        ([0.0], [1e-15], 0.0),  # below the absolute floor ATOL
        ([np.nan], [np.nan], 0.0),
        ([1.0], [np.nan], math.inf),
        ([np.inf], [np.inf], 0.0),
        ([np.inf], [-np.inf], math.inf),
        ([1.0, 2.0], [1.0], math.inf),
    ],
)
def test_relative_drift(old, new, expected):
    assert relative_drift(np.array(old), np.array(new)) == pytest.approx(expected)


def test_quantities_are_compared_on_the_seed_median(tmp_path):
    def run(root, values):
        spec = item_spec("c", "i", quantities={"q": (np.array(values), ["seed", "layer"])})
        return write_run(root, "r", [spec])

    # Seeds swapped: same median per layer, no drift.
    a = run(tmp_path / "a", [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    b = run(tmp_path / "b", [[5.0, 6.0], [1.0, 2.0], [3.0, 4.0]])
    assert not compare_dirs(a, b).drifts[0].beyond
    c = run(tmp_path / "c", [[1.0, 2.0], [3.0, 8.0], [5.0, 6.0]])
    assert compare_dirs(a, c).drifts[0].drift == pytest.approx(2 / 6)


@pytest.mark.parametrize("which", ["baseline", "new"])
def test_missing_or_empty_run_dirs_exit_2_with_one_line(tmp_path, baseline, capsys, which):
    empty = tmp_path / "empty"
    empty.mkdir()
    args = [str(empty), str(baseline)] if which == "baseline" else [str(baseline), str(tmp_path / "nope")]
    assert main(["compare", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err

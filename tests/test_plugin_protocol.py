"""Protocol variants, validity conditions and the three statistical verdicts, end to end."""

import re

import h5py  # noqa: F401  (imported before pytester snapshots sys.modules: h5py cannot be re-imported)
import pytest
from plugin_toys import SMOKE, calls, run_dir, verdicts, write_claim

from lcsuite.harness import runs
from lcsuite.harness.schema import ClaimError, load_claim
from lcsuite.reporting.report import write_report

RISING = '''
experiment = "toy_line"
primary = "with a rising line"
[params]
n = 4
slope = 1.0
name = "line"
[[variant]]
name = "falling"
label = "with a falling line"
params = { slope = -1.0 }
why = "the paper does not say which way the line goes"
[tier.smoke]
seeds = [0, 1, 2, 3, 4]
[[expect]]
check = "monotone"
quantity = "values"
along = "layer"
direction = "increasing"
strict = true
per_seed = true
rule = "sign"
'''


def test_variants_run_beside_the_primary_protocol_and_give_the_robustness_line(toy, tmp_path):
    write_claim(toy, "toy_rising", RISING)
    result = toy.runpytest(*SMOKE, "--lc-run-id", "r", "-v")
    assert result.ret == 0  # a contradicted variant is a finding, not a failure
    result.stdout.fnmatch_lines(["*toy_rising.toml::default HOLDS*", "*toy_rising.toml::default@falling VARIANT CONTRADICTED*"])
    assert verdicts(toy, "r") == {"toy_rising/default": "holds", "toy_rising/default@falling": "contradicted"}
    record = runs.read_verdict(run_dir(toy, "r"), "toy/toy_rising/default@falling")
    assert record.variant == "falling" and record.label == "with a falling line"
    table = result.stdout.str()[result.stdout.str().index("lcsuite claims"):]
    assert "holds with a rising line; contradicted with a falling line" in table
    assert "1 holds" in result.stdout.str().splitlines()[-1]  # pytest's summary counts the verdicts
    text = write_report(run_dir(toy, "r"), tmp_path / "report.md").read_text()
    assert "- robustness: holds with a rising line; contradicted with a falling line" in text
    assert "| default@falling | **CONTRADICTED** |" in text


def test_a_contradicted_primary_protocol_fails_the_run(toy):
    write_claim(toy, "toy_falling", RISING.replace("slope = 1.0", "slope = -1.0").replace("slope = -1.0 }", "slope = 1.0 }"))
    result = toy.runpytest(*SMOKE, "--lc-run-id", "r")
    assert result.ret == 1
    assert verdicts(toy, "r")["toy_falling/default"] == "contradicted"


def test_an_underpowered_tier_is_inconclusive_never_green(toy):
    write_claim(toy, "toy_few", RISING.replace("seeds = [0, 1, 2, 3, 4]", "seeds = [0, 1]"))
    result = toy.runpytest(*SMOKE, "--lc-run-id", "r", "-v")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*toy_few.toml::default INCONCLUSIVE*"])
    record = runs.read_verdict(run_dir(toy, "r"), "toy/toy_few/default")
    assert "inconclusive by design at this tier" in record.expectations[0]["measured"]


def test_an_item_not_valid_at_a_tier_is_not_run_and_says_where_it_is(toy, tmp_path):
    write_claim(toy, "toy_valid", RISING.replace('[tier.smoke]\n', '[tier.gpu]\nn = 8\nseeds = [0]\n[tier.smoke]\n')
                .replace("[[expect]]", "[[valid]]\nparam = \"n\"\nmin = 6\nwhy = \"a trend needs six layers\"\n\n[[expect]]", 1))
    result = toy.runpytest(*SMOKE, "--lc-run-id", "r", "-v")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*toy_valid.toml::default NOT VALID*"])
    record = runs.read_verdict(run_dir(toy, "r"), "toy/toy_valid/default")
    assert record.verdict == "not valid"
    assert record.message == "not valid at tier smoke: n = 4 < 6 (a trend needs six layers); valid at tier gpu"
    assert calls(tmp_path) == [] and not (run_dir(toy, "r") / "toy" / "toy_valid" / "default.h5").exists()


@pytest.mark.parametrize(("old", "new", "message"), [
    ('name = "falling"', 'name = "fall ing"', "variant[0].name: expected an identifier"),
    ('params = { slope = -1.0 }', 'params = { slop = -1.0 }', "variant[0].params.slop: unknown key"),
    ('params = { slope = -1.0 }', 'params = { slope = "down" }', "variant[0].params.slope: expected float"),
    ('label = "with a falling line"\n', '', "variant[0].label: expected the label"),
    ('[[expect]]', '[[valid]]\nparam = "n"\nmin = 6\n\n[[expect]]', "valid[0].why: say why"),
    ('[[expect]]', '[[valid]]\nparam = "m"\nmin = 6\nwhy = "x"\n\n[[expect]]', "valid[0].param: 'm' is not a key"),
])
def test_bad_protocol_tables_are_collection_errors(tmp_path, old, new, message):
    path = tmp_path / "toy_bad.toml"
    path.write_text(f'id = "toy_bad"\npaper = "toy"\nref = "R"\nstatement = "S."\n{RISING.replace(old, new, 1)}')
    with pytest.raises(ClaimError, match=re.escape(message)):
        load_claim(path, check_experiment=False)

"""Claim-file schema: merging, items, spec hash and the tier rules (files with a toy experiment)."""

import pytest

from lcsuite.harness.schema import ClaimError, load_claim

BASE = '''
id = "{id}"
paper = "toy"
ref = "Toy 1"
statement = "A toy statement."
experiment = "anything"
[params]
width = 8
lr = 0.1
[grid]
init = ["random", "he"]
use_bn = [true, false]
[tier.smoke]
width = 4
seeds = [0, 1]
[tier.gpu]
seeds = [0]
timeout_s = 30
requires_real_data = true
[[expect]]
check = "less"
left = "a"
right = "b"
'''


def load(tmp_path, text, name="toy_claim"):
    path = tmp_path / "claims" / f"{name}.toml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text.format(id=name) if "{id}" in text else text)
    return load_claim(path, display=f"claims/{name}.toml", check_experiment=False)


def test_items_and_merge_order(tmp_path):
    claim = load(tmp_path, BASE)
    items = dict(claim.items())
    assert list(items) == ["init=random,use_bn=true", "init=random,use_bn=false",
                           "init=he,use_bn=true", "init=he,use_bn=false"]
    params = claim.item_params("smoke", items["init=he,use_bn=false"])
    assert params == {"width": 4, "lr": 0.1, "init": "he", "use_bn": False}
    assert claim.item_params("gpu", {})["width"] == 8
    gpu = claim.tiers["gpu"]
    assert gpu.seeds == (0,) and gpu.timeout_s == 30 and gpu.requires_real_data


def test_without_grid_the_item_is_default(tmp_path):
    claim = load(tmp_path, BASE.replace('[grid]\ninit = ["random", "he"]\nuse_bn = [true, false]\n', ""))
    assert claim.items() == [("default", {})]


def test_item_specs_and_their_hash_change_with_what_determines_the_measurement(tmp_path):
    claim = load(tmp_path, BASE)
    point = {"init": "he", "use_bn": True}
    spec = claim.item_spec("smoke", "init=he,use_bn=true", point)
    assert spec.key == "toy/toy_claim/init=he,use_bn=true" and spec.seeds == (0, 1)
    assert spec.params == {"width": 4, "lr": 0.1, "init": "he", "use_bn": True}
    reference = spec.spec_hash()
    assert reference == claim.item_spec("smoke", "init=he,use_bn=true", dict(point)).spec_hash()
    assert reference != claim.item_spec("smoke", "init=he,use_bn=true", {**point, "use_bn": False}).spec_hash()
    assert reference != claim.item_spec("gpu", "init=he,use_bn=true", point).spec_hash()
    assert reference != claim.item_spec("smoke", "init=he,use_bn=true", point, allow_unverified=True).spec_hash()
    changed = load(tmp_path, BASE.replace("lr = 0.1", "lr = 0.2"))
    assert reference != changed.item_spec("smoke", "init=he,use_bn=true", point).spec_hash()
    rejudged = load(tmp_path, BASE.replace('right = "b"', 'right = "c"'))
    assert reference == rejudged.item_spec("smoke", "init=he,use_bn=true", point).spec_hash()  # checks: not in it


def test_params_must_be_declared_by_the_experiment(tmp_path):
    claim = load(tmp_path, BASE)
    claim.check_params(("width", "lr", "init", "use_bn"))
    with pytest.raises(ClaimError) as error:
        claim.check_params(("width", "learning_rate", "init", "use_bn", "lrs"))
    assert str(error.value) == ("claims/toy_claim.toml: params.lr: unknown parameter of experiment 'anything' "
                                "(did you mean 'lrs'?); its parameters: width, learning_rate, init, use_bn, lrs")
    with pytest.raises(ClaimError, match="grid.use_bn: unknown parameter"):
        claim.check_params(("width", "lr", "init"))


def test_parameters_naming_registry_entries_must_name_registered_ones(tmp_path):
    from lcsuite.registry import Registry

    widgets = Registry("widget", "test.schema.widgets")
    widgets.register("he", object(), owner=__name__)
    widgets.register("random", object(), owner=__name__)
    claim = load(tmp_path, BASE + '[[variant]]\nname = "wide"\nlabel = "wide"\n[variant.params]\nlr = 0.2\n')
    claim.check_registered_names({"init": widgets})
    wrong_grid = load(tmp_path, BASE.replace('init = ["random", "he"]', 'init = ["random", "hee"]'))
    with pytest.raises(ClaimError) as error:
        wrong_grid.check_registered_names({"init": widgets})
    assert str(error.value) == ("claims/toy_claim.toml: grid.init: unknown widget 'hee' (did you mean 'he'?); "
                                "registered: he, random")
    variant = load(tmp_path, BASE.replace("width = 8\n", 'width = 8\nkind = "he"\n')
                   + '[[variant]]\nname = "odd"\nlabel = "odd"\n[variant.params]\nkind = "odd"\n')
    with pytest.raises(ClaimError, match=r"variant\[0\]\.params\.kind: unknown widget 'odd'"):
        variant.check_registered_names({"kind": widgets})
    with pytest.raises(ClaimError, match="params.width: expected the name of a registered widget, got integer 8"):
        claim.check_registered_names({"width": widgets})


@pytest.mark.parametrize(
    "old, new, key, message",
    [
        ("[tier.smoke]\nwidth = 4", "[tier.smoke]\nwidht = 4", "tier.smoke.widht", "did you mean 'width'"),
        ("[tier.smoke]\nwidth = 4", "[tier.smoke]\ninit = 'he'", "tier.smoke.init", "[grid] key"),
        ("[tier.smoke]\nwidth = 4", "[tier.smoke]\nwidth = 'four'", "tier.smoke.width", "expected integer"),
        ("[tier.gpu]", "[tier.gpus]", "tier.gpus", "did you mean 'gpu'"),
        ("seeds = [0, 1]", "seeds = [0, 0]", "tier.smoke.seeds", "repeated"),
        ("seeds = [0]", "", "tier.gpu.seeds", "missing"),
        ("timeout_s = 30", "timeout_s = -1", "tier.gpu.timeout_s", "positive"),
        ('use_bn = [true, false]', 'use_bn = true', "grid.use_bn", "non-empty list"),
        ('paper = "toy"', "paper = 1", "paper", "non-empty string"),
        ('paper = "toy"', 'paper = "Toy 1"', "paper", "not an identifier"),
        ('ref = "Toy 1"\n', "", "ref", "missing"),
        ('check = "less"', 'check = "less"\nfactor = "big"', "expect[0].factor", "expected a number"),
    ],
)
def test_malformed_claims_name_the_key(tmp_path, old, new, key, message):
    assert old in BASE
    with pytest.raises(ClaimError) as error:
        load(tmp_path, BASE.replace(old, new, 1))
    assert error.value.key == key
    assert message in error.value.message
    assert str(error.value).startswith(f"claims/toy_claim.toml: {key}: ")


def test_missing_expectations_and_tiers(tmp_path):
    no_expect = BASE[: BASE.index("[[expect]]")]
    with pytest.raises(ClaimError, match="expect: missing"):
        load(tmp_path, no_expect)
    with pytest.raises(ClaimError, match="tier: missing"):
        load(tmp_path, BASE[: BASE.index("[tier.smoke]")] + BASE[BASE.index("[[expect]]"):])

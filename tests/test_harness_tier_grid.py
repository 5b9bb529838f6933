"""A tier's own grid (``[tier.X.grid]``): which items each tier gets, their ids and specs, and the
one-line errors where the tables would be ambiguous."""

from pathlib import Path

import pytest
from test_harness_schema import BASE, load

from lcsuite.harness.schema import ClaimError, load_claim

CLAIMS = Path(__file__).resolve().parents[1] / "claims"
LISTED = BASE.replace("lr = 0.1\n", "lr = 0.1\ndepths = [20, 56]\n")
GPU_END = "requires_real_data = true\n"  # the last line of [tier.gpu]


def test_a_tier_grid_replaces_grid_keys_and_adds_params_keys_at_that_tier_only(tmp_path):
    claim = load(tmp_path, BASE.replace(GPU_END, GPU_END + '[tier.gpu.grid]\ninit = ["he"]\n'
                                                           'width = [8, 16]\n'))
    assert [name for name, _ in claim.items("gpu")] == [
        "init=he,use_bn=true,width=8", "init=he,use_bn=true,width=16",
        "init=he,use_bn=false,width=8", "init=he,use_bn=false,width=16"]
    assert claim.items("smoke") == claim.items() and len(claim.items()) == 4
    point = dict(claim.items("gpu"))["init=he,use_bn=false,width=16"]
    assert claim.item_params("gpu", point) == {"width": 16, "lr": 0.1, "init": "he", "use_bn": False}
    names = [name for name, _, _ in claim.all_items("gpu")]
    assert names == [name for name, _ in claim.items("gpu")]


def test_a_list_parameter_is_split_with_lists_and_its_ids_join_the_elements(tmp_path):
    claim = load(tmp_path, LISTED.replace(GPU_END, GPU_END + "[tier.gpu.grid]\n"
                                                              "depths = [[20], [56, 110]]\n"))
    items = dict(claim.items("gpu"))
    assert list(items)[:2] == ["init=random,use_bn=true,depths=20", "init=random,use_bn=true,depths=56+110"]
    spec = claim.item_spec("gpu", "init=he,use_bn=true,depths=20", items["init=he,use_bn=true,depths=20"])
    assert spec.params["depths"] == [20] and spec.key == "toy/toy_claim/init=he,use_bn=true,depths=20"


@pytest.mark.parametrize(
    "tier_table, key, message",
    [
        ("width = 4\n[tier.gpu.grid]\nwidth = [8, 16]", "tier.gpu.grid.width", "also set in [tier.gpu]"),
        ("[tier.gpu.grid]\nwidht = [8]", "tier.gpu.grid.widht", "not a key of [params] or [grid] (did you mean 'width'?)"),
        ("[tier.gpu.grid]\nwidth = ['wide']", "tier.gpu.grid.width", "expected values of type integer"),
        ("[tier.gpu.grid]\ndepths = [20, 56]", "tier.gpu.grid.depths", "expected values of type list"),
        ("[tier.gpu.grid]\nwidth = 8", "tier.gpu.grid.width", "non-empty list"),
        ("[tier.gpu.grid]\nwidth = [8, 8]", "tier.gpu.grid.width", "repeated values"),
        ("grid = 3", "tier.gpu.grid", "expected a table"),
    ],
)
def test_malformed_or_ambiguous_tier_grids_name_the_key(tmp_path, tier_table, key, message):
    with pytest.raises(ClaimError) as error:
        load(tmp_path, LISTED.replace(GPU_END, f"{GPU_END}{tier_table}\n"))
    assert error.value.key == key and message in error.value.message
    assert "\n" not in str(error.value)


def test_a_variant_may_not_override_a_key_of_a_tier_grid(tmp_path):
    text = BASE.replace(GPU_END, GPU_END + "[tier.gpu.grid]\nwidth = [8, 16]\n")
    text += '[[variant]]\nname = "narrow"\nlabel = "narrow"\nparams = {{ width = 4 }}\n'
    with pytest.raises(ClaimError) as error:
        load(tmp_path, text)
    assert error.value.key == "variant[0].params.width" and "grid key at tier gpu" in error.value.message


def test_grid_values_that_give_the_same_item_id_are_refused(tmp_path):
    with pytest.raises(ClaimError, match="grid: grid values give the same item id 'init=1,use_bn=true'"):
        load(tmp_path, BASE.replace('init = ["random", "he"]', 'init = [1, "1"]'))


def _claims():
    return [load_claim(path, display=path.name, check_experiment=False) for path in sorted(CLAIMS.glob("*.toml"))]


def test_smoke_and_gpu_items_of_every_claim_are_its_grid_items():
    for claim in _claims():
        for tier in ("smoke", "gpu"):
            assert claim.all_items(tier) == claim.all_items(), (claim.id, tier)


@pytest.mark.parametrize("claim_id, depths", [("table1_lastbn_beats_resnet", [56, 110, 230, 1202]),
                                              ("tableA2_lastbn_without_bn", [20, 44, 56, 110])])
def test_the_paper_tier_trains_each_depth_of_the_resnet_tables_as_its_own_item(claim_id, depths):
    claim = load_claim(CLAIMS / f"{claim_id}.toml")  # the experiment's declarations checked at every tier
    items = claim.items("paper")
    assert [name for name, _ in items] == [f"depths={d}" for d in depths]
    whole = claim.item_params("paper", {})
    for (name, point), depth in zip(items, depths):
        spec = claim.item_spec("paper", name, point)
        assert spec.params == {**whole, "depths": [depth]} and spec.seeds == (0, 1, 2, 3, 4)
    assert whole["depths"] == depths  # the items together cover the claim's depths
    for expectation in claim.expectations:  # each depth is tested apart: no check compares depths
        assert expectation.over == ("seed",), expectation.label


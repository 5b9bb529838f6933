"""Coverage of any model: every parameter is an analysed weight or a skipped parameter with its
reason, the table's footer names the skipped ones, and ``analyze`` warns exactly when a
parameterised module is missing from the table (never for biases or normalisation affines)."""

import warnings

import pytest
import torch
from torch import nn
from torchvision.models.vision_transformer import VisionTransformer

from cases_conditioning import NUM_CLASSES, mlp, mlp_data
from lcsuite.conditioning import SkipCategory, analyze, skipped_parameters
from lcsuite.conditioning.coverage import coverage_footer, unseen_message

ATTENTION = "encoder.layers.encoder_layer_0.self_attention"
MLP_BLOCK = "encoder.layers.encoder_layer_0.mlp"


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def vit() -> VisionTransformer:
    torch.manual_seed(0)
    model = VisionTransformer(image_size=16, patch_size=8, num_layers=1, num_heads=2, hidden_dim=16, mlp_dim=32,
                              num_classes=10).double()
    nn.init.normal_(model.heads.head.weight, std=0.3)  # torchvision starts the head at zero: no gradients
    return model


def image_data(n: int = 6):
    generator = torch.Generator().manual_seed(1)
    return (torch.randn(n, 3, 16, 16, generator=generator, dtype=torch.float64),
            torch.randint(0, 10, (n,), generator=generator))


def analysed_quietly(model, inputs, targets, **options):
    """``analyze`` with every warning turned into an error (the must-not-warn cases)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return analyze(model, inputs, targets, **options)


def assert_every_parameter_accounted_for(model, analysis):
    """Analysed weights and skipped parameters partition ``model.named_parameters()`` (compared
    by identity: a tied parameter has one name there)."""
    parameters = dict(model.named_parameters())
    analysed = [id(model.get_submodule(layer.name).weight) for layer in analysis.layers]
    skipped = [id(parameters[entry.name]) for entry in analysis.skipped]
    assert sorted(analysed + skipped) == sorted(id(p) for p in parameters.values())
    shapes = {name: tuple(p.shape) for name, p in parameters.items()}
    assert all(entry.shape == shapes[entry.name] for entry in analysis.skipped)


@pytest.fixture(scope="module")
def vit_analysis():
    """``(model, analysis, warnings caught)`` of the small VisionTransformer."""
    torch.set_num_threads(1)
    model, (inputs, targets) = vit(), image_data()
    with pytest.warns(UserWarning) as caught:
        analysis = analyze(model, inputs, targets)
    return model, analysis, list(caught)


def test_vision_transformer_analyses_its_linear_layers_and_names_every_other_parameter(vit_analysis):
    model, analysis, _ = vit_analysis
    assert [layer.name for layer in analysis.layers] == ["conv_proj", f"{MLP_BLOCK}.0", f"{MLP_BLOCK}.3", "heads.head"]
    assert_every_parameter_accounted_for(model, analysis)
    by_name = {entry.name: entry for entry in analysis.skipped}
    expected = {
        "class_token": ("", "VisionTransformer", SkipCategory.NO_LAYER_TYPE),
        "encoder.pos_embedding": ("encoder", "Encoder", SkipCategory.NO_LAYER_TYPE),
        f"{ATTENTION}.in_proj_weight": (ATTENTION, "nn.MultiheadAttention", SkipCategory.NO_LAYER_TYPE),
        f"{ATTENTION}.in_proj_bias": (ATTENTION, "nn.MultiheadAttention", SkipCategory.NO_LAYER_TYPE),
        f"{ATTENTION}.out_proj.weight": (f"{ATTENTION}.out_proj", "nn.NonDynamicallyQuantizableLinear",
                                         SkipCategory.UNUSED_LAYER),
        f"{ATTENTION}.out_proj.bias": (f"{ATTENTION}.out_proj", "nn.NonDynamicallyQuantizableLinear",
                                       SkipCategory.UNUSED_LAYER),
        "conv_proj.bias": ("conv_proj", "nn.Conv2d", SkipCategory.BIAS),
        "heads.head.bias": ("heads.head", "nn.Linear", SkipCategory.BIAS),
        "encoder.layers.encoder_layer_0.ln_1.weight": ("encoder.layers.encoder_layer_0.ln_1", "nn.LayerNorm",
                                                       SkipCategory.NORM_AFFINE),
        "encoder.ln.bias": ("encoder.ln", "nn.LayerNorm", SkipCategory.NORM_AFFINE),
    }
    for name, (module, module_class, category) in expected.items():
        assert (by_name[name].module, by_name[name].module_class, by_name[name].category) == \
            (module, module_class, category), name
    assert len(analysis.skipped) == 16
    # out_proj is a registered Linear that MultiheadAttention never calls: its weight goes to
    # F.multi_head_attention_forward, so its hooks see no rows
    assert analysis.skipped_layers == [f"{ATTENTION}.out_proj"]
    assert "F.multi_head_attention_forward" in by_name[f"{ATTENTION}.out_proj.weight"].reason


def test_vision_transformer_warning_names_the_unseen_modules_only(vit_analysis):
    (warning,) = vit_analysis[2]  # one warning, naming the four modules and only those
    message = str(warning.message)
    assert message.startswith("lcsuite.analyze does not analyse 6 parameters of 4 modules")
    for entry in ["(model) (VisionTransformer: class_token)", "encoder (Encoder: pos_embedding)",
                  f"{ATTENTION} (nn.MultiheadAttention: in_proj_weight, in_proj_bias)",
                  f"{ATTENTION}.out_proj (nn.NonDynamicallyQuantizableLinear: weight, bias)"]:
        assert entry in message
    assert "LayerNorm" not in message and "conv_proj" not in message
    assert warning.filename == __file__  # attributed to the caller of analyze


def test_vision_transformer_table_footer_and_dict_list_the_skipped_parameters(vit_analysis):
    analysis = vit_analysis[1]
    footer = analysis.to_table().split("\n")
    start = next(i for i, line in enumerate(footer) if line.startswith("not analysed:"))
    footer = footer[start:]
    assert footer[0] == "not analysed: 16 of 20 parameters (1,354 of 5,610 values); Analysis.skipped lists them all"
    assert footer[1] == " ! VisionTransformer: no registered layer type [1]: class_token"
    assert footer[2] == " ! Encoder: no registered layer type [1]: encoder.pos_embedding"
    assert footer[3].startswith(" ! nn.MultiheadAttention's own parameters (in_proj_weight, in_proj_bias, ...): "
                                "applied functionally") and footer[3].endswith(
        f"[2]: {ATTENTION}.in_proj_weight, {ATTENTION}.in_proj_bias")
    assert footer[4].startswith(" ! nn.MultiheadAttention's out_proj:") and "[2]" in footer[4]
    assert footer[5].startswith("   bias of an analysed layer") and footer[5].endswith("... (+1 more)")
    assert footer[6].startswith("   nn.LayerNorm affine parameter") and "[6]" in footer[6]
    assert footer[7] == "(! = a parameterised module the table does not cover)"

    stored = analysis.to_dict()
    assert [entry["name"] for entry in stored["skipped"]] == [entry.name for entry in analysis.skipped]
    assert stored["skipped"][0] == {"name": "class_token", "module": "", "module_class": "VisionTransformer",
                                    "shape": [1, 1, 16], "category": "no_layer_type",
                                    "reason": "VisionTransformer: no registered layer type", "expected": False}
    assert stored["skipped_layers"] == [f"{ATTENTION}.out_proj"]


def test_bias_free_mlp_skips_nothing_and_warns_nothing():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 5, bias=False), nn.ReLU(), nn.Linear(5, NUM_CLASSES, bias=False)).double()
    analysis = analysed_quietly(model, *mlp_data())
    assert analysis.skipped == [] and analysis.skipped_layers == []
    assert analysis.to_table().endswith("\ncoverage: all 2 parameters are weights of the analysed layers")
    assert analysis.to_dict()["skipped"] == []


def test_biases_and_batchnorm_affines_are_expected_and_not_warned():
    model = mlp(bn=True)
    analysis = analysed_quietly(model, *mlp_data())
    assert_every_parameter_accounted_for(model, analysis)
    categories = {entry.name: entry.category for entry in analysis.skipped}
    assert categories == {"0.bias": SkipCategory.BIAS, "1.weight": SkipCategory.NORM_AFFINE,
                          "1.bias": SkipCategory.NORM_AFFINE, "3.bias": SkipCategory.BIAS,
                          "4.weight": SkipCategory.NORM_AFFINE, "4.bias": SkipCategory.NORM_AFFINE,
                          "6.bias": SkipCategory.BIAS}
    assert all(entry.expected for entry in analysis.skipped)
    table = analysis.to_table()
    assert "   bias of an analysed layer: not part of the sub-FIM the analysis covers [3]: 0.bias, 3.bias, 6.bias" \
        in table
    assert "   nn.BatchNorm1d affine parameter: a normalisation's scale or shift [4]: 1.weight, 1.bias, 4.weight, " \
        "... (+1 more)" in table
    assert "!" not in table


class TokenClassifier(nn.Module):
    """Embedding → Conv1d over the sequence → mean over tokens → Linear."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(7, 4)
        self.mix = nn.Conv1d(4, 4, kernel_size=3, padding=1)
        self.head = nn.Linear(4, NUM_CLASSES)

    def forward(self, tokens):
        return self.head(self.mix(self.embed(tokens).transpose(1, 2)).mean(dim=2))


def test_modules_without_a_layer_type_are_skipped_and_warned_about():
    torch.manual_seed(0)
    model = TokenClassifier().double()
    tokens, targets = torch.randint(0, 7, (5, 6)), torch.randint(0, NUM_CLASSES, (5,))
    with pytest.warns(UserWarning, match=r"3 parameters of 2 modules.*embed \(nn.Embedding: weight\), "
                                         r"mix \(nn.Conv1d: weight, bias\)"):
        analysis = analyze(model, tokens, targets)
    assert_every_parameter_accounted_for(model, analysis)
    reasons = {entry.name: entry.reason for entry in analysis.skipped}
    assert reasons == {"embed.weight": "nn.Embedding: no registered layer type",
                       "mix.weight": "nn.Conv1d: no registered layer type",
                       "mix.bias": "nn.Conv1d: no registered layer type",
                       "head.bias": "bias of an analysed layer: not part of the sub-FIM the analysis covers"}
    assert " ! nn.Embedding: no registered layer type [1]: embed.weight" in analysis.to_table()


def test_a_shared_parameter_is_listed_once_and_counts_as_analysed_through_its_layer():
    torch.manual_seed(0)
    model = TokenClassifier().double()
    model.head = nn.Linear(4, 7, bias=False).double()
    model.head.weight = model.embed.weight  # tied: the embedding matrix is the head's weight
    tokens, targets = torch.randint(0, 7, (5, 6)), torch.randint(0, 7, (5,))
    with pytest.warns(UserWarning, match="2 parameters of 1 module;"):
        analysis = analyze(model, tokens, targets)
    assert [entry.name for entry in analysis.skipped] == ["mix.weight", "mix.bias"]
    assert_every_parameter_accounted_for(model, analysis)  # embed.weight is head.weight


def test_skipped_parameters_classifies_without_a_forward_pass():
    model = mlp()
    assert [entry.name for entry in skipped_parameters(model, ["0", "2", "4"])] == ["0.bias", "2.bias", "4.bias"]
    unused = skipped_parameters(model, ["0", "4"])
    assert [(entry.name, entry.category) for entry in unused if not entry.expected] == [
        ("2.weight", SkipCategory.UNUSED_LAYER), ("2.bias", SkipCategory.UNUSED_LAYER)]


def test_footer_counts_and_truncates_each_reason():
    entries = skipped_parameters(nn.Sequential(*[nn.LayerNorm(2) for _ in range(3)]), [])
    footer = coverage_footer(entries, num_parameters=8, num_values=100)
    assert footer.split("\n") == [
        "not analysed: 6 of 8 parameters (12 of 100 values); Analysis.skipped lists them all",
        "   nn.LayerNorm affine parameter: a normalisation's scale or shift [6]: 0.weight, 0.bias, 1.weight, "
        "... (+3 more)"]


def test_the_warning_names_at_most_eight_modules():
    model = nn.Sequential(*[nn.Embedding(2, 2) for _ in range(10)], nn.Linear(2, 2))
    message = unseen_message(skipped_parameters(model, ["10"]), "lcsuite.analyze")
    assert message.startswith("lcsuite.analyze does not analyse 10 parameters of 10 modules;")
    assert message.endswith("6 (nn.Embedding: weight), 7 (nn.Embedding: weight), ... (+2 more)")
    assert unseen_message(skipped_parameters(model[10], [""]), "lcsuite.analyze") is None  # only a bias

"""The markdown report: every claim rendered, valid pipe tables, figures written and linked."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from run_fixtures import item_spec, sample_items, write_run

from lcsuite.harness.papers import PAPERS
from lcsuite.reporting.figures import figure_kind
from lcsuite.format import markdown_table
from lcsuite.reporting.loading import ResultsError, load_run
from lcsuite.reporting.report import write_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def pipe_tables(markdown: str) -> list[list[str]]:
    """Every block of consecutive lines starting with '|'."""
    tables, current = [], []
    for line in markdown.splitlines():
        if line.startswith("|"):
            current.append(line)
        elif current:
            tables.append(current)
            current = []
    if current:
        tables.append(current)
    return tables


def split_row(line: str) -> list[str]:
    """Cells of a pipe-table row, honouring escaped pipes."""
    assert line.startswith("|") and line.endswith("|"), line
    return re.split(r"(?<!\\)\|", line[1:-1])


def assert_valid_table(lines: list[str]) -> None:
    assert len(lines) >= 2, f"a table needs a header and a separator: {lines}"
    width = len(split_row(lines[0]))
    separator = split_row(lines[1])
    assert all(re.fullmatch(r"\s*:?-{3,}:?\s*", cell) for cell in separator), lines[1]
    for line in lines:
        assert len(split_row(line)) == width, f"{len(split_row(line))} cells, header has {width}: {line}"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    root = tmp_path_factory.mktemp("report") / "results"
    write_run(root, "20240101-000000-aaaaaa", sample_items(fig5_verdict="fail"))
    output = write_report(root, root.parent / "out" / "report.md")
    return output, output.read_text(encoding="utf-8")


def test_every_claim_has_a_section_and_a_summary_row(rendered):
    _, text = rendered
    summary = text.split("## Summary", 1)[1].split("\n## ", 1)[0]
    for claim in ("fig5_bn_improves_conditioning", "fig3_magnitude_propagation",
                  "fig6_resnet_last_layer", "table1_lastbn_beats_resnet"):
        assert f"\n## {claim}\n" in text
        assert f"[{claim}](#{claim})" in summary
    assert "## Environment" in text


def test_every_table_is_a_valid_pipe_table(rendered):
    _, text = rendered
    tables = pipe_tables(text)
    assert len(tables) >= 10
    for table in tables:
        assert_valid_table(table)


def test_the_table_checker_rejects_a_ragged_table():
    with pytest.raises(AssertionError):
        assert_valid_table(["| a | b |", "| --- | --- |", "| 1 | 2 | 3 |"])
    with pytest.raises(AssertionError):
        assert_valid_table(["| a | b |", "| 1 | 2 |"])


def test_markdown_table_escapes_pipes_and_newlines_and_pads_short_rows():
    table = markdown_table(["a", "b"], [["x|y", "two\nlines"], ["only one"]]).splitlines()
    assert_valid_table(table)
    assert "x\\|y" in table[2] and "two<br>lines" in table[2]


def test_summary_shows_verdict_tier_data_headline_expectation_and_paper_numbers(rendered):
    _, text = rendered
    rows = {split_row(line)[0].strip(): [c.strip() for c in split_row(line)]
            for line in pipe_tables(text.split("## Summary", 1)[1])[0][2:]}
    fig5 = rows["[fig5_bn_improves_conditioning](#fig5_bn_improves_conditioning)"]
    assert fig5[1] == "Fig. 5, A6" and fig5[2] == "smoke" and fig5[4].startswith("**FAIL**")
    assert fig5[5] == "—"  # no variants: no robustness line
    assert "fraction_below=0.925" in fig5[6] and "init=random: BN below Plain" in fig5[7]
    fig3 = rows["[fig3_magnitude_propagation](#fig3_magnitude_propagation)"]
    assert "[substitute]" in fig3[3] and fig3[4].startswith("PASS")
    table1 = rows["[table1_lastbn_beats_resnet](#table1_lastbn_beats_resnet)"]
    assert "7.52" in table1[8] and "0.043" in table1[8]


def test_claim_sections_show_expectations_seeds_and_published_tables(rendered):
    _, text = rendered
    section = text.split("\n## table1_lastbn_beats_resnet\n", 1)[1].split("\n## ", 1)[0]
    assert "### Expectations" in section and "91% of points" in section
    assert "| arch=resnet,depth=8 | PASS |" in section and "| 0, 1 |" in section
    assert section.index("| arch=resnet,depth=8 |") < section.index("| arch=resnet,depth=14 |")
    assert "### The paper's numbers: Table 1" in section
    assert "| ResNetLastBN | 6.5 ± 0.22 | 6.1 ± 0.09 | 5.94 ± 0.18 | 5.68 ± 0.14 |" in section
    assert "### The paper's numbers: Sec. 5.1" in section


def test_figures_exist_and_are_referenced_with_relative_links(rendered):
    output, text = rendered
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert links, "no figures referenced"
    for link in links:
        assert not Path(link).is_absolute() and link.startswith("report_figures/huang2020/")
        assert (output.parent / link).read_bytes()[:8] == PNG_MAGIC
    on_disk = {p.relative_to(output.parent).as_posix() for p in output.parent.rglob("*.png")}
    assert on_disk == set(links)


def test_figures_of_each_kind_are_drawn(rendered):
    _, text = rendered
    titles = re.findall(r"!\[([^\]]*)\]", text)
    # Plain and BN share one per-layer figure, as in the paper.
    assert "init=random: input/kappa_p80 (per layer)" in titles
    assert "init=random: train_loss (loss curve)" in titles
    assert "optimizer=gd: input_magnitude (per layer)" in titles
    assert "arch=resnet: lambda_max_sx (depth trend)" in titles
    assert "arch=resnet: loss (loss by depth)" in titles
    assert "table1_lastbn_beats_resnet: final_train_loss vs depth" in titles
    # Loss curves of a claim's several items share one figure.
    assert "table1_lastbn_beats_resnet: train_loss (loss curve)" in titles
    assert not any(t.startswith("arch=resnet,depth") for t in titles)


def test_items_of_a_claim_split_by_depth_get_a_depth_trend_of_their_headlines(tmp_path):
    items = [item_spec("tableA2_lastbn_without_bn", f"depths={d}", params={"depths": [d], "archs": ["a", "b"]},
                       headline={"resnet_lastbn_lower_error": margin}) for d, margin in ((20, 0.01), (44, 0.02))]
    output = write_report(write_run(tmp_path / "results", "r", items, tier="paper"), tmp_path / "report.md")
    titles = re.findall(r"!\[([^\]]*)\]", output.read_text(encoding="utf-8"))
    assert "tableA2_lastbn_without_bn: resnet_lastbn_lower_error vs depth" in titles


def test_a_quantity_without_a_figure_kind_is_listed_in_a_table(rendered):
    _, text = rendered
    section = text.split("\n## fig3_magnitude_propagation\n", 1)[1].split("\n## ", 1)[0]
    other = section.split("### Other quantities", 1)[1]
    assert "| optimizer=gd | weird/histogram | seed, bin, channel | 2×3×4 |" in other
    assert "histogram" not in "".join(re.findall(r"!\[([^\]]*)\]", text))


@pytest.mark.parametrize(
    ("name", "dims", "kind"),
    [
        ("bn/input/kappa_p80", ["seed", "layer", "step"], "per_layer"),
        ("plain/grad_magnitude", ["seed", "layer"], "per_layer"),
        ("bn/grad/kappa_p80", ["seed", "checkpoint", "layer"], "per_layer"),
        ("plain/dying_units", ["seed", "checkpoint", "hidden_layer"], "per_layer"),
        ("train_loss", ["seed", "depth", "step"], "loss_by_depth"),
        ("last/lambda_max", ["seed", "depth", "step"], "depth_trend"),
        ("train_loss", ["seed", "step"], "loss_curve"),
        ("lambda_max", ["seed", "step"], None),
        ("kappa", ["seed", "layer", "class"], None),
        ("scalar", ["seed"], None),
    ],
)
def test_figure_kind_follows_the_dims_mapping(name, dims, kind):
    assert figure_kind(name, dims, PAPERS.get("huang2020").dim_synonyms) == kind


def test_the_environment_section_names_device_versions_commit_and_time(rendered):
    _, text = rendered
    env = text.split("## Environment", 1)[1]
    for expected in ("| device | test cpu |", "| torch | 2.x |", "| git commit | abc1234 |",
                     "| threads per item | 1 |", "| compute time (sum over items measured in this run) | 10.5 s |"):
        assert expected in env


def test_the_report_needs_only_the_hdf5_files(tmp_path):
    root = tmp_path / "results"
    run_dir = write_run(root, "r1", sample_items()[:1])
    output = write_report(run_dir, tmp_path / "r.md")
    assert load_run(run_dir).run_dir == run_dir
    assert "fig5_bn_improves_conditioning" in output.read_text()


def test_quantities_that_cannot_be_drawn_fall_back_to_the_table(tmp_path):
    nan_curve = np.full((2, 4), np.nan)
    counts = np.array([[0, 1, 3], [0, 2, 4]])  # integer dying-unit counts per layer
    spec = item_spec("sec42_dying_neurons", "default", quantities={
        "plain/kappa": (nan_curve, ["seed", "layer"]),
        "plain/dying_units": (counts, ["seed", "layer"]),
    })
    root = tmp_path / "results"
    write_run(root, "r1", [spec])
    text = write_report(root, tmp_path / "report.md").read_text()
    assert "![default: dying_units (per layer)]" in text
    assert "![default: kappa" not in text
    assert "| default | plain/kappa | seed, layer | 2×4 | nan | nan | nan |" in text


def test_missing_items_are_rows_and_the_report_says_incomplete(tmp_path):
    run_dir = write_run(tmp_path / "results", "r1", sample_items()[:2],
                        missing=(("fig5_bn_improves_conditioning", "init=he"),))
    text = write_report(run_dir, tmp_path / "report.md").read_text()
    assert "**incomplete: 2 of 3 items finished**; missing: huang2020/fig5_bn_improves_conditioning/init=he" in text
    section = text.split("\n## fig5_bn_improves_conditioning\n", 1)[1].split("\n## ", 1)[0]
    assert "| init=he | **MISSING** |" in section and "planned, but never finished in this run" in section
    assert "**MISSING** (1 pass, 1 missing)" in text


def test_a_corrupt_result_file_gets_its_own_row_and_the_rest_renders(tmp_path):
    run_dir = write_run(tmp_path / "results", "r1", sample_items())
    damaged = run_dir / "huang2020" / "fig3_magnitude_propagation" / "optimizer=gd.h5"
    damaged.write_bytes(damaged.read_bytes()[:200])
    text = write_report(run_dir, tmp_path / "report.md").read_text()
    section = text.split("\n## fig3_magnitude_propagation\n", 1)[1].split("\n## ", 1)[0]
    assert "| optimizer=gd | **ERROR** |" in section and "result file unusable" in section
    assert "optimizer=gd.h5" in section
    assert "\n## fig5_bn_improves_conditioning\n" in text and "![init=random: input/kappa_p80" in text


def test_a_directory_as_report_output_is_a_one_line_error(tmp_path):
    run_dir = write_run(tmp_path / "results", "r1", sample_items()[:1])
    with pytest.raises(ResultsError, match="is a directory; give a file name"):
        write_report(run_dir, tmp_path)

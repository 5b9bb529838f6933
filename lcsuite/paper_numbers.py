"""The paper's published numbers, keyed by claim id, for printing beside measured ones.

Source: Huang et al., "Layer-wise Conditioning Analysis in Exploring the Learning Dynamics of
DNNs", ECCV 2020 (arXiv:2002.10801). Test errors are in percent, ``(mean, std)`` over five
seeds as printed in Tables 1, 2 and A2; training losses are the values quoted in Sec. 5.1.
Only numbers the paper prints are here; nothing is read off a plot.
"""

from __future__ import annotations

from dataclasses import dataclass

MeanStd = tuple[float, float]


@dataclass(frozen=True)
class PaperTable:
    """One table of published numbers: rows are methods, columns are settings (e.g. depths).

    ``cells[method][column]`` is ``(mean, std)``; ``std`` is ``None`` when the paper quotes a
    single number.
    """

    title: str
    source: str
    unit: str
    columns: tuple[str, ...]
    cells: dict[str, dict[str, tuple[float, float | None]]]

    def format_cell(self, method: str, column: str) -> str:
        """``mean ± std`` (or ``mean``), or an empty string where the paper gives nothing."""
        value = self.cells.get(method, {}).get(column)
        if value is None:
            return ""
        mean, std = value
        return f"{mean:g}" if std is None else f"{mean:g} ± {std:g}"


def _table(title, source, unit, columns, rows):
    cells = {
        method: {column: value for column, value in zip(columns, values) if value is not None}
        for method, values in rows.items()
    }
    return PaperTable(title, source, unit, tuple(columns), cells)


_DEPTHS_RESNET = ("depth-56", "depth-110", "depth-230", "depth-1202")
_DEPTHS_A2 = ("depth-20", "depth-44", "depth-56", "depth-110")

TABLE1_CIFAR10 = _table(
    "Test error on CIFAR-10 (mean ± std over 5 seeds)",
    "Table 1",
    "%",
    _DEPTHS_RESNET,
    {
        "ResNet": [(7.52, 0.30), (6.89, 0.52), (7.35, 0.64), (9.42, 3.10)],
        "PreResNet": [(6.89, 0.09), (6.25, 0.08), (6.12, 0.21), (6.07, 0.10)],
        "PreResNetv1": [(6.75, 0.26), (6.37, 0.24), (6.32, 0.21), (7.89, 0.58)],
        "ResNetLastBN": [(6.50, 0.22), (6.10, 0.09), (5.94, 0.18), (5.68, 0.14)],
    },
)

TABLE2_CIFAR100 = _table(
    "Test error on CIFAR-100 (mean ± std over 5 seeds)",
    "Table 2",
    "%",
    _DEPTHS_RESNET,
    {
        "ResNet": [(29.60, 0.41), (28.3, 1.09), (29.25, 0.44), (30.49, 4.44)],
        "PreResNet": [(29.29, 0.44), (27.58, 0.12), (26.72, 0.33), (26.23, 0.26)],
        "PreResNetv1": [(29.60, 0.21), (28.54, 0.26), (27.92, 0.34), (30.07, 2.04)],
        "ResNetLastBN": [(28.82, 0.38), (27.05, 0.23), (25.80, 0.10), (25.51, 0.27)],
    },
)

TRAINING_LOSS_SEC51 = _table(
    "Final training loss on CIFAR-10 (quoted in the text)",
    "Sec. 5.1",
    "cross-entropy",
    ("depth-56",),
    {"ResNet": [(0.081, None)], "ResNetLastBN": [(0.043, None)]},
)

TABLE_A2_CIFAR10 = _table(
    "Test error on CIFAR-10, networks without BN, lr 0.01 (mean ± std)",
    "Table A2",
    "%",
    _DEPTHS_A2,
    {
        "VGG": [(14.88, 0.47), (33.90, 7.1), (89.93, 0.12), (90.0, 0.0)],
        "VGGLastBN": [(12.89, 0.20), (18.40, 0.90), (23.40, 1.74), (73.99, 16.0)],
        "ResNet": [(11.21, 0.14), (9.90, 0.31), (9.48, 0.07), (8.93, 0.22)],
        "ResNetLastBN": [(10.31, 0.25), (8.99, 0.25), (8.61, 0.05), (8.37, 0.07)],
    },
)

PAPER_NUMBERS: dict[str, tuple[PaperTable, ...]] = {
    "table1_lastbn_beats_resnet": (TABLE1_CIFAR10, TABLE2_CIFAR100, TRAINING_LOSS_SEC51),
    "fig9_preresnet_extra_bn": (TABLE1_CIFAR10, TABLE2_CIFAR100),
    "tableA2_lastbn_without_bn": (TABLE_A2_CIFAR10,),
}
"""Published tables relevant to each claim id."""

PAPER_SUMMARY: dict[str, str] = {
    "table1_lastbn_beats_resnet": (
        "CIFAR-10 err ResNet 7.52/6.89/7.35/9.42 vs LastBN 6.50/6.10/5.94/5.68 % "
        "(d56/110/230/1202); train loss d56 0.081 vs 0.043"
    ),
    "fig9_preresnet_extra_bn": (
        "CIFAR-10 err d1202: PreResNet 6.07 vs PreResNetv1 7.89 % (LastBN 5.68)"
    ),
    "tableA2_lastbn_without_bn": (
        "CIFAR-10 err VGG 14.88/33.90/89.93/90 vs VGGLastBN 12.89/18.40/23.40/73.99 %; "
        "ResNet 11.21/9.90/9.48/8.93 vs LastBN 10.31/8.99/8.61/8.37 % (d20/44/56/110)"
    ),
}
"""One line per claim for the report's summary table; the full tables are in PAPER_NUMBERS."""


def paper_tables(claim_id: str) -> tuple[PaperTable, ...]:
    """The published tables for ``claim_id`` (empty when the paper prints no numbers for it)."""
    return PAPER_NUMBERS.get(claim_id, ())


def paper_summary(claim_id: str) -> str:
    """A one-line digest of the published numbers for ``claim_id``, or ``""``."""
    return PAPER_SUMMARY.get(claim_id, "")

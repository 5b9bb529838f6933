"""A tiny paper that plugs into lcsuite from outside, through entry points only (a test fixture).

Entry points (written by the test into a distribution's metadata):

- ``lcsuite.papers``: ``tiny = tinypaper`` (this module: registers the paper file);
- ``lcsuite.experiments``: ``tiny = tinypaper.experiments`` (registers ``tiny_descent``);
- ``lcsuite.checks``: ``at_most = tinypaper.checks:AtMost``;
- ``lcsuite.models``: ``tiny_linear = tinypaper.models:tiny_linear``;
- ``lcsuite.datasets``: ``tiny_points = tinypaper.data:tiny_points``.

Its claim names the model and the data set by their registered names. The data file it
publishes is ``tests/tiny_paper/data/tiny_points.csv``.
"""

from pathlib import Path

from lcsuite.harness.papers import register_paper

PAPER = register_paper(Path(__file__).with_name("paper.toml"), owner=__name__)

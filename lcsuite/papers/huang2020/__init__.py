"""Huang et al., "Layer-wise Conditioning Analysis in Exploring the Learning Dynamics of DNNs"
(ECCV 2020): its paper file, experiments and network variants, registered when imported.

This package plugs into the engine like any other paper: through the ``lcsuite.papers`` entry
point (``pyproject.toml``). The engine never imports it by name.
"""

from pathlib import Path

from lcsuite.harness.papers import register_paper
from lcsuite.papers.huang2020 import models  # noqa: F401  (registers the network variants)
from lcsuite.papers.huang2020.experiments import (  # noqa: F401  (register the experiments)
    analysis_cost,
    bn_scaling,
    exact_fisher,
    kronecker,
    lastbn_training,
    mlp_dynamics,
    resnet_depth,
    scaling,
)

PAPER = register_paper(Path(__file__).with_name("paper.toml"), owner=__name__)

"""Models of the paper: MLPs for MNIST and the CIFAR ResNet family.

Every model exposes its last Linear layer as ``model.classifier``.
"""

from lcsuite.models.cifar import CIFAR_ARCHS, CifarNet, cifar_net, valid_depth
from lcsuite.models.mlp import MLP, MLP_INITS, MLP_NORMS
from lcsuite.models.utils import count_parameters, weight_layers

__all__ = [
    "CIFAR_ARCHS",
    "CifarNet",
    "MLP",
    "MLP_INITS",
    "MLP_NORMS",
    "cifar_net",
    "count_parameters",
    "valid_depth",
    "weight_layers",
]

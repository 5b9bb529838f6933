"""Model builders: MLPs and the CIFAR 6n+2 family, registered by name in :data:`MODELS`.

Every model exposes its last Linear layer as ``model.classifier``.
"""

from lcsuite.models.registry import MODELS
from lcsuite.models.cifar import CifarArch, CifarNet, cifar_net, register_cifar_arch, valid_depth
from lcsuite.models.mlp import MLP, MLP_INITS, MLP_NORMS
from lcsuite.models.utils import count_parameters, weight_layers

MODELS.register("mlp", MLP)

__all__ = [
    "MODELS",
    "CifarArch",
    "CifarNet",
    "MLP",
    "MLP_INITS",
    "MLP_NORMS",
    "cifar_net",
    "count_parameters",
    "register_cifar_arch",
    "valid_depth",
    "weight_layers",
]

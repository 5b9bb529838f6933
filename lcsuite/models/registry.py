"""Model builders by name: :data:`MODELS` (entry point group ``lcsuite.models``).

A model builder is a callable returning a ``torch.nn.Module`` whose last Linear layer is
``model.classifier``; claim files name builders where an experiment takes a model (e.g. the
CIFAR architectures, ``archs = ["resnet", ...]``).
"""

from lcsuite.registry import Registry

__all__ = ["MODELS"]

MODELS: Registry = Registry("model", "lcsuite.models")

"""The paper's network variants (Sec. 5, App. D.2), registered as model builders.

=====================  ====================================================================
``resnet_lastbn``       ``resnet`` + BatchNorm1d between pooling and the classifier (the
                        paper's ResNetLastBN, Sec. 5.1)
``preresnet_v1``        ``preresnet`` without its final BN (the ReLU stays): the paper's
                        PreResNetv1 (Sec. 5.2)
``vgg_lastbn``          ``vgg`` + BatchNorm1d before the classifier
``resnet_nobn_lastbn``  ``resnet_nobn`` + BatchNorm1d before the classifier (Table A2)
``vgg_nobn_lastbn``     ``vgg_nobn`` + BatchNorm1d before the classifier (Table A2)
=====================  ====================================================================
"""

from __future__ import annotations

from lcsuite.models import CifarArch, register_cifar_arch

VARIANTS = {
    "resnet_lastbn": CifarArch("post", last_bn=True),
    "preresnet_v1": CifarArch("pre", final_bn=False),
    "vgg_lastbn": CifarArch("post", shortcut=False, last_bn=True),
    "resnet_nobn_lastbn": CifarArch("post", bn=False, last_bn=True),
    "vgg_nobn_lastbn": CifarArch("post", bn=False, shortcut=False, last_bn=True),
}

for _name, _spec in VARIANTS.items():
    register_cifar_arch(_name, _spec, owner=__name__)

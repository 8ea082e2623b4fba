"""BatchNorm running-statistics momentum, as the release's backbones set it.

PyTorch updates ``running = (1 - momentum) * running + momentum * batch``;
TensorFlow's ``decay`` is ``1 - momentum``. The release's backbones keep far
slower statistics than PyTorch's default momentum of 0.1.
"""
from __future__ import annotations

from torch import nn

RELEASE_BN_MOMENTUM = {
    'mobilenet': 3e-4,  # TF-slim MobileNet-v1: decay 0.9997
    'resnet': 3e-3,  # TF-slim ResNet-v1: decay 0.997
}
BN_MOMENTUM = 0.0  # keep each layer's own momentum (torchreid's models: PyTorch's 0.1)


def check_bn_momentum(momentum: float) -> None:
    """Raises ``ValueError`` unless ``momentum`` is in [0, 1] (0 keeps the model's own)."""
    if not 0 <= momentum <= 1:
        raise ValueError(f'bn_momentum must be in [0, 1] (0 keeps the model\'s own), '
                         f'got {momentum}')


def release_bn_momentum(arch: str) -> float:
    """The release's BatchNorm momentum for a torchreid architecture name.

    The release trained TF-slim's MobileNet-v1 and ResNet-50; torchreid's
    ``mobilenetv2_*`` and ``resnet*`` take their values by family.

    Examples::

        >>> release_bn_momentum('mobilenetv2_x1_0')
        0.0003
    """
    for family, momentum in RELEASE_BN_MOMENTUM.items():
        if arch.startswith(family):
            return momentum
    raise ValueError(f'arch {arch!r} has no release BatchNorm momentum; the release trained '
                     f'{", ".join(f"{k}* ({v})" for k, v in RELEASE_BN_MOMENTUM.items())}')


def set_bn_momentum(model: nn.Module, momentum: float = BN_MOMENTUM) -> int:
    """Sets the running-statistics momentum of every BatchNorm layer of ``model``.

    Args:
        model (nn.Module): the model; all ``BatchNorm1d/2d/3d`` and
            ``SyncBatchNorm`` layers are set.
        momentum (float, optional): PyTorch's momentum, ``1 - `` TensorFlow's
            decay. 0 leaves the model as it is (a momentum of 0 would freeze
            the statistics, which ``eval()`` does already). Default is 0.

    Returns:
        The number of layers set.

    Examples::

        >>> model = torchreid.models.build_model('mobilenetv2_x1_0', 10)
        >>> set_bn_momentum(model, release_bn_momentum('mobilenetv2_x1_0'))
        53
    """
    check_bn_momentum(momentum)
    if momentum == 0:
        return 0
    layers = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for layer in layers:
        layer.momentum = momentum
    return len(layers)

"""Which parameters weight decay covers.

torchreid's builder decays every parameter. The DAL release (TF-slim) puts its
L2 term on convolution and fully connected weights only: not on BatchNorm's
scale and shift, not on biases, and not on MobileNet's depthwise convolutions.
"""
from __future__ import annotations

from torch import nn

WEIGHT_DECAY_SCOPES = ('all', 'conv_linear')
WEIGHT_DECAY_SCOPE = 'all'  # torchreid's behaviour


def check_weight_decay_scope(scope: str) -> None:
    """Raises ``ValueError`` unless ``scope`` is one of ``WEIGHT_DECAY_SCOPES``."""
    if scope not in WEIGHT_DECAY_SCOPES:
        raise ValueError(f'weight_decay_scope must be one of {WEIGHT_DECAY_SCOPES}, got {scope!r}')


def is_depthwise(module: nn.Module) -> bool:
    """Whether ``module`` is a depthwise convolution: one group per input channel."""
    return (isinstance(module, nn.modules.conv._ConvNd)
            and module.groups > 1 and module.groups == module.in_channels)


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Trainable parameters split into a decayed and a not-decayed group.

    Decayed: the weights of convolutions (except depthwise ones) and of
    ``nn.Linear``. Not decayed: every other trainable parameter (normalisation
    scales and shifts, biases, depthwise weights). Parameters with
    ``requires_grad=False`` (a frozen classifier) are in neither group.

    Args:
        model (nn.Module): the model (a parameter shared by modules counts once).
        weight_decay (float): the decayed group's ``weight_decay``.

    Returns:
        ``[{'params': decayed, 'weight_decay': weight_decay},
        {'params': rest, 'weight_decay': 0.0}]``, for any ``torch.optim`` optimizer.

    Examples::

        >>> groups = param_groups(model, weight_decay=4e-5)
        >>> optimizer = torch.optim.SGD(groups, lr=0.01, momentum=0.9)
    """
    if weight_decay < 0:
        raise ValueError(f'weight_decay must be >= 0, got {weight_decay}')
    decayed_ids = set()
    for module in model.modules():
        if isinstance(module, (nn.modules.conv._ConvNd, nn.Linear)) and not is_depthwise(module):
            decayed_ids.add(id(module.weight))
    decayed, rest = [], []
    for p in model.parameters():  # each parameter once, in registration order
        if p.requires_grad:
            (decayed if id(p) in decayed_ids else rest).append(p)
    return [{'params': decayed, 'weight_decay': weight_decay},
            {'params': rest, 'weight_decay': 0.0}]

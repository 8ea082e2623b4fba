"""One optimizer builder: torchreid's optimizers plus the release's RMSProp."""
from __future__ import annotations

import torch
import torchreid
from torch import nn

from dal_torchreid.optim.rmsprop_tf import RMSpropTF
from dal_torchreid.optim.weight_decay import (
    WEIGHT_DECAY_SCOPE, check_weight_decay_scope, param_groups,
)

TORCHREID_OPTIMIZERS = ('adam', 'amsgrad', 'sgd', 'rmsprop', 'radam')
OPTIMIZERS = TORCHREID_OPTIMIZERS + ('rmsprop_tf',)


def check_optim(optim: str) -> None:
    """Raises ``ValueError`` unless ``optim`` is one of ``OPTIMIZERS``."""
    if optim not in OPTIMIZERS:
        raise ValueError(f'optim must be one of {OPTIMIZERS}, got {optim!r}')


def build_optimizer(model: nn.Module, optim: str = 'adam', lr: float = 0.0003,
                    weight_decay: float = 5e-4, weight_decay_scope: str = WEIGHT_DECAY_SCOPE,
                    momentum: float = 0.9, rmsprop_alpha: float = 0.99,
                    rmsprop_eps: float | None = None, **kwargs) -> torch.optim.Optimizer:
    """``torchreid.optim.build_optimizer``, plus ``'rmsprop_tf'`` and a weight-decay scope.

    Args:
        model (nn.Module): the model.
        optim (str, optional): one of ``OPTIMIZERS``: torchreid's names, or
            ``'rmsprop_tf'`` (:class:`RMSpropTF`, the release's). Default is ``'adam'``.
        lr (float, optional): learning rate. Default is 0.0003.
        weight_decay (float, optional): L2 penalty. Default is 5e-4.
        weight_decay_scope (str, optional): ``'all'`` decays every parameter
            (torchreid); ``'conv_linear'`` only convolution and linear weights
            (:func:`param_groups`, the release). Default is ``'all'``.
        momentum (float, optional): momentum of sgd, rmsprop and rmsprop_tf. Default is 0.9.
        rmsprop_alpha (float, optional): mean-square decay of rmsprop and
            rmsprop_tf. Default is 0.99.
        rmsprop_eps (float, optional): epsilon of rmsprop and rmsprop_tf
            (torchreid's builder has none). Default is None: each optimizer's own.
        **kwargs: the rest of ``torchreid.optim.build_optimizer``'s arguments
            (``sgd_nesterov``, ``adam_beta1``, ``staged_lr``, ...).

    Examples::

        >>> # the DAL release on PRID2011 / iLIDS-VID
        >>> optimizer = build_optimizer(model, optim='rmsprop_tf', lr=0.045,
        >>>                             weight_decay=4e-5, weight_decay_scope='conv_linear',
        >>>                             momentum=0.9, rmsprop_alpha=0.9, rmsprop_eps=1.0)
    """
    check_optim(optim)
    check_weight_decay_scope(weight_decay_scope)
    if weight_decay < 0:
        raise ValueError(f'weight_decay must be >= 0, got {weight_decay}')
    staged = kwargs.get('staged_lr', False)
    if staged and (optim == 'rmsprop_tf' or weight_decay_scope != 'all'):
        raise ValueError(f'staged_lr is torchreid\'s and works with its optimizers and '
                         f'weight_decay_scope \'all\' only, got optim {optim!r} and '
                         f'weight_decay_scope {weight_decay_scope!r}')
    params = param_groups(model, weight_decay) if weight_decay_scope == 'conv_linear' \
        else model.parameters()
    if optim == 'rmsprop_tf':
        eps = {} if rmsprop_eps is None else {'eps': rmsprop_eps}
        return RMSpropTF(params, lr=lr, alpha=rmsprop_alpha, momentum=momentum,
                         weight_decay=weight_decay, **eps)
    optimizer = torchreid.optim.build_optimizer(
        model, optim=optim, lr=lr, weight_decay=weight_decay, momentum=momentum,
        rmsprop_alpha=rmsprop_alpha, **kwargs)
    if weight_decay_scope != 'all':
        # torchreid chose the class and its settings; regroup the parameters
        optimizer = type(optimizer)(params, **optimizer.defaults)
    if optim == 'rmsprop' and rmsprop_eps is not None:
        for group in optimizer.param_groups:
            group['eps'] = rmsprop_eps
    return optimizer

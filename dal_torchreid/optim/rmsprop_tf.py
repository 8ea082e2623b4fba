"""RMSProp as TensorFlow 1's ``tf.train.RMSPropOptimizer``, which the DAL release trains with."""
from __future__ import annotations

from typing import Callable, Iterable

import torch
from torch import Tensor
from torch.optim import Optimizer

RMSPROP_TF_ALPHA = 0.9  # TF1's ``decay`` (the release's too)
RMSPROP_TF_EPS = 1e-10  # TF1's ``epsilon`` (the release uses 1.0)
RMSPROP_TF_MOMENTUM = 0.0  # TF1's ``momentum`` (the release uses 0.9)


def check_rmsprop_tf(lr: float, alpha: float, eps: float, momentum: float,
                     weight_decay: float) -> None:
    """Raises ``ValueError`` naming the first setting of :class:`RMSpropTF` out of range."""
    if not lr > 0:
        raise ValueError(f'lr must be > 0, got {lr}')
    if not 0 <= alpha < 1:
        raise ValueError(f'alpha must be in [0, 1), got {alpha}')
    if not eps > 0:
        raise ValueError(f'eps must be > 0, got {eps}')
    if not 0 <= momentum < 1:
        raise ValueError(f'momentum must be in [0, 1), got {momentum}')
    if not weight_decay >= 0:
        raise ValueError(f'weight_decay must be >= 0, got {weight_decay}')


class RMSpropTF(Optimizer):
    """RMSProp with TensorFlow 1's update, which differs from ``torch.optim.RMSprop``.

    For a gradient ``g`` (plus ``weight_decay * p``, an L2 term as TF-slim's
    regularisers add to the loss):

    .. code-block:: none

        ms  = alpha * ms + (1 - alpha) * g ** 2       # ms starts at ONES (PyTorch: zeros)
        mom = momentum * mom + lr * g / sqrt(ms + eps)  # eps inside the root, lr inside mom
        p   = p - mom

    PyTorch starts ``ms`` at zeros, so its first steps divide by a small root,
    adds ``eps`` outside the root, and scales ``mom`` by the current lr when
    applying it. With the release's ``eps = 1.0`` the two differ a lot; with a
    decayed lr they also differ in how past steps are weighted.

    Args:
        params (iterable): parameters or parameter groups (dicts), as any optimizer.
        lr (float): learning rate.
        alpha (float, optional): decay of the mean square (TF's ``decay``). Default is 0.9.
        eps (float, optional): added to the mean square under the root. Default is 1e-10.
        momentum (float, optional): momentum factor. Default is 0.
        weight_decay (float, optional): L2 penalty added to the gradient. Default is 0.

    Examples::

        >>> # the DAL release's settings
        >>> optimizer = RMSpropTF(model.parameters(), lr=0.045, alpha=0.9, eps=1.0,
        >>>                       momentum=0.9, weight_decay=4e-5)
    """

    def __init__(self, params: Iterable, lr: float, alpha: float = RMSPROP_TF_ALPHA,
                 eps: float = RMSPROP_TF_EPS, momentum: float = RMSPROP_TF_MOMENTUM,
                 weight_decay: float = 0.0) -> None:
        check_rmsprop_tf(lr, alpha, eps, momentum, weight_decay)
        defaults = dict(lr=lr, alpha=alpha, eps=eps, momentum=momentum, weight_decay=weight_decay)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, alpha, eps = group['lr'], group['alpha'], group['eps']
            momentum, weight_decay = group['momentum'], group['weight_decay']
            for p in group['params']:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError('RMSpropTF does not support sparse gradients')
                grad = p.grad
                if weight_decay != 0:
                    grad = grad.add(p, alpha=weight_decay)
                state = self.state[p]
                if not state:
                    state['square_avg'] = torch.ones_like(p, memory_format=torch.preserve_format)
                    state['momentum_buffer'] = torch.zeros_like(
                        p, memory_format=torch.preserve_format)
                square_avg, buf = state['square_avg'], state['momentum_buffer']
                square_avg.mul_(alpha).addcmul_(grad, grad, value=1 - alpha)
                buf.mul_(momentum).addcdiv_(grad, square_avg.add(eps).sqrt_(), value=lr)
                p.sub_(buf)
        return loss

"""Exponential moving average of the trained weights, as the release evaluates."""
from __future__ import annotations

import copy

import torch
from torch import nn

from dal_torchreid.engine.embedding import unwrap_model

EMA_DECAY = 0.9999  # the release's


def check_ema_decay(decay: float) -> None:
    """Raises ``ValueError`` unless ``decay`` is in (0, 1)."""
    if not 0 < decay < 1:
        raise ValueError(f'ema_decay must be in (0, 1), got {decay}')


class ModelEMA:
    """A copy of the model whose trainable weights follow an exponential moving average.

    After each optimiser step, :meth:`update` sets ``ema = d * ema + (1 - d) * w``
    for every parameter the live model trains (``requires_grad=True``), with
    TensorFlow's ``ExponentialMovingAverage(decay, num_updates)`` schedule
    ``d = min(decay, (1 + n) / (10 + n))``, ``n`` counting the updates before
    this one (the release's global step), so early weights fade fast.

    Everything else is copied from the live model at each update, as in the
    release, whose average covers the trainable variables only: buffers (the
    BatchNorm running statistics, whose own momentum already averages them)
    and frozen parameters (a classifier the loss does not train, or layers
    frozen for a while). The copy then evaluates with the live statistics.

    Args:
        model (nn.Module): the model being trained (wrappers are unwrapped).
        decay (float, optional): the final decay. Default is 0.9999 (release).

    Examples::

        >>> ema = ModelEMA(model)
        >>> for imgs in loader:
        >>>     loss(model(imgs)).backward()
        >>>     optimizer.step()
        >>>     ema.update(model)
        >>> evaluate(ema.module)
    """

    def __init__(self, model: nn.Module, decay: float = EMA_DECAY) -> None:
        check_ema_decay(decay)
        self.module = copy.deepcopy(unwrap_model(model)).eval()
        self.module.requires_grad_(False)
        self.decay = float(decay)
        self.num_updates = 0

    def current_decay(self) -> float:
        """The decay the next :meth:`update` applies."""
        n = self.num_updates
        return min(self.decay, (1.0 + n) / (10.0 + n))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Averages ``model``'s trainable parameters in; copies its other state."""
        live = unwrap_model(model)
        d = self.current_decay()
        live_params = dict(live.named_parameters())
        for name, avg in self.module.named_parameters():
            new = live_params[name].detach()
            if live_params[name].requires_grad:
                avg.lerp_(new.to(avg), 1.0 - d)
            else:
                avg.copy_(new)
        live_buffers = dict(live.named_buffers())
        for name, avg in self.module.named_buffers():
            avg.copy_(live_buffers[name])
        self.num_updates += 1

    def state_dict(self) -> dict:
        return {'module': self.module.state_dict(), 'num_updates': self.num_updates,
                'decay': self.decay}

    def load_state_dict(self, state: dict) -> None:
        self.module.load_state_dict(state['module'])
        self.num_updates = int(state['num_updates'])
        self.decay = float(state['decay'])

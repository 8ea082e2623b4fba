"""Exponential moving average of model weights, as the release evaluates."""
from __future__ import annotations

import copy

import torch
from torch import nn

from dal_torchreid.engine.embedding import unwrap_model

EMA_DECAY = 0.9999  # the release's


def check_ema_decay(ema_decay: float) -> None:
    if not 0 < ema_decay < 1:
        raise ValueError(f'ema_decay must be in (0, 1), got {ema_decay}')


class ModelEMA:
    """Keeps ``ema = d * ema + (1 - d) * weights`` after every optimiser step.

    As TensorFlow's ``ExponentialMovingAverage`` with ``num_updates`` (the
    release), the decay starts small, ``d = min(decay, (1 + n) / (10 + n))``, so
    short runs are not dominated by the initial weights. Integer buffers (BN's
    batch counter) are copied.

    Args:
        model (nn.Module): the model being trained (wrappers are unwrapped).
        decay (float, optional): the final decay. Default is 0.9999 (release).
    """

    def __init__(self, model: nn.Module, decay: float = EMA_DECAY) -> None:
        check_ema_decay(decay)
        self.module = copy.deepcopy(unwrap_model(model)).eval()
        self.module.requires_grad_(False)
        self.decay = float(decay)
        self.num_updates = 0

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.num_updates += 1
        d = min(self.decay, (1.0 + self.num_updates) / (10.0 + self.num_updates))
        current = unwrap_model(model).state_dict()
        for name, avg in self.module.state_dict().items():
            new = current[name].detach()
            if avg.dtype.is_floating_point:
                avg.mul_(d).add_(new.to(avg.dtype), alpha=1.0 - d)
            else:
                avg.copy_(new)

    def state_dict(self) -> dict:
        return {'module': self.module.state_dict(), 'num_updates': self.num_updates,
                'decay': self.decay}

    def load_state_dict(self, state: dict) -> None:
        self.module.load_state_dict(state['module'])
        self.num_updates = int(state['num_updates'])
        self.decay = float(state['decay'])

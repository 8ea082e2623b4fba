"""One optimisation step of the DAL engine: mixed precision, clipping, weight averaging.

The release clips gradients by value (2.0) and evaluates an exponential moving
average of the weights; mixed precision is this plugin's addition for speed.
:class:`OptimizerStep` keeps these three together so the engine's training
step reads as the method: features, loss, step.
"""
from __future__ import annotations

import contextlib

import torch
from torch import Tensor, nn

from dal_torchreid.engine.ema import ModelEMA

CLIP_GRAD_VALUE = 2.0  # the release's gradient clipping by value
AMP_DTYPES = {'bf16': torch.bfloat16, 'fp16': torch.float16}
AMP_MODES = ('',) + tuple(AMP_DTYPES)


def check_clip_grad_value(clip_grad_value: float | None) -> None:
    if clip_grad_value is not None and clip_grad_value < 0:
        raise ValueError(f'clip_grad_value must be >= 0 (0 or None disables), got {clip_grad_value}')


def check_amp(amp: str | None, use_gpu: bool | None = None) -> None:
    """``amp`` is None or '' (off), 'bf16' or 'fp16' (CUDA only, when ``use_gpu`` is known)."""
    if (amp or '') not in AMP_MODES:
        raise ValueError(f'amp must be one of {list(AMP_MODES)}, got {amp!r}')
    if amp == 'fp16' and use_gpu is False:
        raise ValueError('amp "fp16" needs CUDA; use "bf16" on the CPU')


class OptimizerStep:
    """Backward, clip, step and average, with optional autocast and gradient scaling.

    Args:
        model (nn.Module): the trained model (wrappers included).
        optimizer (Optimizer): over its parameters.
        use_gpu (bool): whether the model runs on CUDA.
        clip_grad_value (float, optional): clip gradients by value; 0 or None disables.
        amp (str, optional): ``'bf16'`` (CPU or CUDA) or ``'fp16'`` (CUDA, with
            gradient scaling) autocast of :meth:`autocast`; None or '' is float32.
        ema_decay (float, optional): keep a :class:`ModelEMA` with this decay.

    Examples::

        step = OptimizerStep(model, optimizer, use_gpu=False, clip_grad_value=2.0)
        with step.autocast():
            features = model(imgs)
        step(loss_fn(features.float()))
    """

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, use_gpu: bool,
                 clip_grad_value: float | None = CLIP_GRAD_VALUE, amp: str | None = None,
                 ema_decay: float | None = None) -> None:
        check_clip_grad_value(clip_grad_value)
        check_amp(amp, use_gpu)
        self.model, self.optimizer = model, optimizer
        self.device = 'cuda' if use_gpu else 'cpu'
        self.clip_grad_value = clip_grad_value or None
        self.amp_dtype = AMP_DTYPES.get(amp or '')
        self.scaler = torch.amp.GradScaler('cuda', enabled=amp == 'fp16')
        self.ema = None if ema_decay is None else ModelEMA(model, ema_decay)

    def autocast(self):
        """The forward pass's autocast context (a no-op without ``amp``)."""
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device, dtype=self.amp_dtype)

    def __call__(self, loss: Tensor) -> None:
        self.optimizer.zero_grad()
        self.scaler.scale(loss).backward()
        if self.clip_grad_value is not None:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_value_(self.model.parameters(), self.clip_grad_value)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.ema is not None:
            self.ema.update(self.model)

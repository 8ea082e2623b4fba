"""Convolution kernel taps that read only padding, and the CPU bf16 fault they meet.

With zero padding, a kernel tap that falls in the padding at every output position
multiplies only zeros: its weight gradient is exactly zero. PyTorch's oneDNN bf16
convolution backward on the CPU leaves such gradients unwritten at random, so they
come out NaN or arbitrary (``python -m dal_torchreid.benchmarks.bf16_conv`` counts
them; every non-finite tap it has seen was one of these). Which of these taps go
wrong depends on the CPU's kernels: on an AMD EPYC only maps of 1 or 2 pixels showed
it, on an Intel Xeon with AMX also ResNet's 4x2 maps. Where no convolution of a
model has a tap wholly in padding, the fault has nothing to act on; this module
finds such taps for a model and an input size, and the smallest safe input size, so
that ``train.amp bf16`` on the CPU can refuse a size that leads there.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

SIZE_STEP = 8  # safe sizes are searched among multiples of this many pixels
MAX_SCALE = 16  # ... up to this many times the requested size


class Bf16InputSizeError(ValueError):
    """CPU bf16 training refused at an input size where kernel taps lie wholly in padding."""


def padded_taps(size: int, kernel: int, stride: int, padding: int, dilation: int = 1) -> list[int]:
    """The kernel taps along one dimension that read padding at every output position.

    Args:
        size (int): the input map's size along the dimension.
        kernel, stride, padding, dilation (int): the convolution's, along it.

    Examples::

        >>> padded_taps(2, kernel=3, stride=2, padding=1)   # ResNet's layer4 at a 2-pixel map
        [0]
        >>> padded_taps(4, kernel=3, stride=2, padding=1)
        []
    """
    outputs = (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1
    return [tap for tap in range(kernel)
            if all(not 0 <= out * stride - padding + tap * dilation < size
                   for out in range(max(outputs, 0)))]


@dataclass(frozen=True)
class PaddedConvolution:
    """A convolution of a model whose input map leaves kernel rows or columns in padding."""

    name: str
    kernel: tuple[int, int]
    stride: tuple[int, int]
    map_size: tuple[int, int]  # (height, width) of its input feature map
    rows: tuple[int, ...]      # kernel rows wholly in padding
    columns: tuple[int, ...]   # kernel columns wholly in padding

    def describe(self) -> str:
        (kh, kw), (sh, sw), (h, w) = self.kernel, self.stride, self.map_size
        return f'"{self.name}" ({kh}x{kw}, stride {sh}x{sw}) on a {h}x{w} feature map'


def _zero_padding(conv: nn.Conv2d) -> tuple[int, int] | None:
    """The (rows, columns) of zeros the convolution pads with itself, None if it pads
    otherwise (reflect, replicate, circular: no tap multiplies only zeros)."""
    if conv.padding_mode != 'zeros':
        return None
    if conv.padding == 'valid':
        return 0, 0
    if conv.padding == 'same':
        return tuple(d * (k - 1) // 2 for d, k in zip(conv.dilation, conv.kernel_size))
    return tuple(conv.padding)


def padded_convolutions(model: nn.Module, height: int, width: int) -> list[PaddedConvolution]:
    """Every 2-D convolution of ``model`` that has kernel taps wholly in zero padding
    for a ``height`` x ``width`` input, found with one forward pass of a zero image
    (evaluation mode, no gradient; the model's mode is restored)."""
    maps: dict[str, tuple[int, int]] = {}

    def record(name):
        def hook(_module, args):
            maps.setdefault(name, tuple(args[0].shape[-2:]))  # returns None: args unchanged
        return hook
    hooks = [module.register_forward_pre_hook(record(name))
             for name, module in model.named_modules() if isinstance(module, nn.Conv2d)]
    parameter = next(model.parameters(), None)
    device = parameter.device if parameter is not None else torch.device('cpu')
    training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, 3, height, width, device=device))
    finally:
        model.train(training)
        for hook in hooks:
            hook.remove()
    found = []
    for name, module in model.named_modules():
        padding = _zero_padding(module) if name in maps else None
        if padding is None:
            continue
        map_size = maps[name]
        rows, columns = (tuple(padded_taps(map_size[d], module.kernel_size[d], module.stride[d],
                                           padding[d], module.dilation[d])) for d in (0, 1))
        if rows or columns:
            found.append(PaddedConvolution(name, tuple(module.kernel_size), tuple(module.stride),
                                           map_size, rows, columns))
    return found


def safe_input_size(model: nn.Module, height: int, width: int) -> tuple[int, int] | None:
    """The smallest (height, width), each at least the one given and a multiple of
    :data:`SIZE_STEP` when above it, at which no convolution of ``model`` has a tap
    wholly in padding; None if none up to :data:`MAX_SCALE` times the size given."""
    size = [height, width]
    # rows in padding depend on the height alone, columns on the width alone
    for dim in (0, 1):
        first_step = (size[dim] // SIZE_STEP + 1) * SIZE_STEP
        for candidate in [size[dim], *range(first_step, MAX_SCALE * size[dim] + 1, SIZE_STEP)]:
            trial = list(size)
            trial[dim] = candidate
            if not any((c.rows, c.columns)[dim] for c in padded_convolutions(model, *trial)):
                size[dim] = candidate
                break
        else:
            return None
    return size[0], size[1]


def check_cpu_bf16_input(model: nn.Module, height: int, width: int) -> None:
    """Refuses CPU bf16 training at an input size where ``model`` has convolution taps
    wholly in padding (see the module's docstring), naming the smallest such feature
    map and a safe input size."""
    found = padded_convolutions(model, height, width)
    if not found:
        return
    smallest = min(found, key=lambda c: (c.map_size[0] * c.map_size[1], c.name))
    safe = safe_input_size(model, height, width)
    advice = (f'an input of at least {safe[0]}x{safe[1]} (data.height, data.width) is safe'
              if safe is not None else 'no larger input found safe')
    raise Bf16InputSizeError(
        f'amp "bf16" (train.amp) on the CPU at {height}x{width}: {len(found)} convolution(s) have kernel taps '
        f'lying wholly in padding, the smallest map being {smallest.describe()}; PyTorch\'s '
        f'oneDNN bf16 convolution backward gives such taps NaN weight gradients at random. '
        f'{advice[0].upper() + advice[1:]}, or use amp "" (float32)')

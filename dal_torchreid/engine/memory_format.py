"""The memory format every engine of the plugin trains in: channels-last or contiguous.

In channels-last format a batch of frames is stored pixel by pixel, the
channels of a pixel side by side (``(B, C, H, W)`` with strides of
``(B, H, W, C)``). oneDNN's CPU convolutions and cuDNN's tensor-core ones run
faster on it; the values are those of the contiguous format up to the
rounding of a differently ordered sum. An engine that trains in it converts
its model's 4-D weights once (:func:`to_memory_format`, when it registers
the model) and each training batch of frames (:func:`batch_to_memory_format`);
a video batch ``(B, S, C, H, W)`` is laid out so that torchreid's
``view(B * S, C, H, W)`` gives a channels-last batch.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

CHANNELS_LAST = True  # train.channels_last: see the measurements in docs/benchmarks.md


def check_channels_last(channels_last: bool) -> None:
    """Raises ``ValueError`` unless ``channels_last`` is a bool."""
    if not isinstance(channels_last, bool):
        raise ValueError(f'channels_last must be true or false, got {channels_last!r}')


def to_memory_format(model: nn.Module, channels_last: bool) -> nn.Module:
    """Converts ``model``'s 4-D parameters and buffers in place to channels-last (or
    back to contiguous) format; returns ``model``."""
    return model.to(memory_format=torch.channels_last if channels_last
                    else torch.contiguous_format)


def batch_to_memory_format(imgs: Tensor, channels_last: bool) -> Tensor:
    """A training batch of frames ``(B, C, H, W)`` or clips ``(B, S, C, H, W)`` in the
    memory format; the same values. Contiguous format returns ``imgs`` as it is."""
    if not channels_last or imgs.dim() not in (4, 5):
        return imgs
    if imgs.dim() == 4:
        return imgs.contiguous(memory_format=torch.channels_last)
    # (B, S, H, W, C) in memory, so that flattening B and S is a channels-last view
    return imgs.permute(0, 1, 3, 4, 2).contiguous().permute(0, 1, 4, 2, 3)


class MemoryFormatError(ValueError):
    """A model that cannot run in channels-last format (a ``view`` of a tensor it assumes
    contiguous); the message names ``train.channels_last False``."""


def check_channels_last_model(model: nn.Module, height: int, width: int,
                              name: str = '', remedy: str = 'set train.channels_last False') -> None:
    """Raises :class:`MemoryFormatError` when one ``height`` x ``width`` frame does not pass
    through ``model`` in channels-last format (torchreid's ``mudeep`` reshapes with
    ``view``, which needs contiguous tensors); one frame, in eval mode, without
    gradients. The message names the model (``name``, else its class) and ``remedy``.
    The model is left contiguous."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    try:
        with torch.no_grad():
            to_memory_format(model, True)
            model(batch_to_memory_format(torch.zeros(1, 3, height, width, device=device), True))
    except RuntimeError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise MemoryFormatError(
            f'{name or type(model).__name__} cannot run in channels-last memory '
            f'format ({first[:80]}): {remedy}') from err
    finally:
        to_memory_format(model, False)
        model.train(was_training)


def extraction_format(channels_last: bool) -> bool | None:
    """The ``channels_last`` argument of
    :func:`~dal_torchreid.engine.features.extract_tracklet_features` for an engine training
    in ``channels_last``: None (that function's choice) if it does, else contiguous, so a
    model that cannot run in channels-last format (``mudeep``) is never given it."""
    return None if channels_last else False

"""A torchreid backbone with its ImageNet weights, or an error saying why there are none.

``torchreid.models.build_model(name, pretrained=True)`` warns and goes on with random
weights when it cannot obtain them (``mobilenetv2_x1_0``, ``mlfn``, ``shufflenet`` ...);
:func:`build_model` takes the same arguments, loads the weights the plugin obtains itself
(:mod:`~dal_torchreid.models.imagenet`) and stops with :class:`PretrainedWeightsError` when
there are none, saying how to proceed offline. ``dal-train`` builds its models with it.

Examples::

    model = dal_torchreid.models.build_model('mobilenetv2_x1_0', num_classes=1, pretrained=True)
"""
from __future__ import annotations

import os
import os.path as osp
import sys

import torch

import torchreid

from dal_torchreid.models.imagenet import (
    IMAGENET_BACKBONES, ImageNetWeightsError, load_imagenet_weights
)

# Backbones whose ImageNet weights torchreid only asks the user to download (the plugin
# obtains those of IMAGENET_BACKBONES itself).
MANUAL_IMAGENET_WEIGHTS = ('mlfn', 'mobilenetv2_x1_4', 'shufflenet')


def _expected_weights_file(name: str) -> str | None:
    """Where torchreid looks for ``name``'s ImageNet weights, when its model module says."""
    modules = [m for key, m in list(sys.modules.items())
               if key.startswith('torchreid') and '.models.' in key]
    for module in modules:
        model_urls = getattr(module, 'model_urls', {})
        if name in model_urls and not model_urls[name].startswith('https://mega'):
            filename = osp.basename(model_urls[name].split('?')[0])
            return osp.join(torch.hub.get_dir(), 'checkpoints', filename)
        if name in getattr(module, 'pretrained_urls', {}):
            torch_home = osp.expanduser(os.getenv(
                'TORCH_HOME', osp.join(os.getenv('XDG_CACHE_HOME', '~/.cache'), 'torch')))
            return osp.join(torch_home, 'checkpoints', name + '_imagenet.pth')
    return None


def _offline_advice(name: str) -> str:
    expected = _expected_weights_file(name)
    hub = osp.join(torch.hub.get_dir(), 'checkpoints')
    where = (f'put the weights file at "{expected}" (torch hub\'s checkpoint directory; set '
             '$TORCH_HOME to move it)' if expected else
             f'put the weights file in torch hub\'s checkpoint directory ("{hub}", or '
             '$TORCH_HOME/checkpoints for OSNet models) under the file name torchreid expects')
    return (f'To proceed offline: {where}; or pass "model.load_weights PATH" with a weights '
            'file you have (and "model.pretrained False"); or train from scratch with '
            '"model.pretrained False".')


class PretrainedWeightsError(RuntimeError):
    """ImageNet weights for ``pretrained=True`` (``model.pretrained``) could not be obtained."""


def build_model(name: str, num_classes: int, loss: str = 'softmax', pretrained: bool = True,
                use_gpu: bool = False) -> torch.nn.Module:
    """``torchreid.models.build_model``, with ImageNet weights loaded or an error.

    Args:
        name (str): a torchreid model name.
        num_classes (int): classifier outputs (1 for the label-free engines).
        loss (str): ``'softmax'`` or ``'triplet'``, as torchreid.
        pretrained (bool): ImageNet weights: torchreid's download, or the plugin's for
            :data:`~dal_torchreid.models.imagenet.IMAGENET_BACKBONES` (fetched once).
        use_gpu (bool): passed to torchreid.

    Raises :class:`PretrainedWeightsError` when ``pretrained`` weights cannot be had
    (offline, or a backbone whose weights torchreid does not download), saying how to
    proceed; never returns random weights for ``pretrained=True``.
    """
    if pretrained and name in MANUAL_IMAGENET_WEIGHTS:
        raise PretrainedWeightsError(
            f'model.pretrained: torchreid does not download the ImageNet weights of "{name}". '
            'Download them and pass "model.load_weights PATH", or set "model.pretrained False" '
            'to train from scratch.')
    ours = pretrained and name in IMAGENET_BACKBONES
    try:
        model = torchreid.models.build_model(name=name, num_classes=num_classes, loss=loss,
                                             pretrained=pretrained and not ours,
                                             use_gpu=use_gpu)
    except OSError as err:
        raise PretrainedWeightsError(
            f'model.pretrained: could not download the ImageNet weights of "{name}" ({err}). '
            f'{_offline_advice(name)}') from err
    if ours:
        try:
            path = load_imagenet_weights(model, name)
        except ImageNetWeightsError as err:
            raise PretrainedWeightsError(f'model.pretrained: {err}') from err
        # the run's log says which weights it started from, as torchreid's own loaders do
        print(f'=> Loaded the ImageNet weights of {name} from "{path}"')
    return model

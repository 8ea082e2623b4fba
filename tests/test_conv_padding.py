"""Kernel taps wholly in padding, and the refusal of CPU bf16 training where they occur."""
import itertools

import pytest
import torch

from dal_torchreid.models.conv_padding import (
    Bf16InputSizeError, check_cpu_bf16_input, padded_convolutions, padded_taps, safe_input_size
)

from cli_helpers import one_error, run_train, tiny_options
from engine_helpers import tiny_datamanager, tiny_engine, tiny_model


def zero_gradient_taps(size, kernel, stride, padding, dilation):
    """The taps whose weight gradient is exactly zero for an all-ones input and output
    gradient: those that multiply only padding (an independent count through autograd)."""
    weight = torch.zeros(1, 1, kernel, dtype=torch.float64, requires_grad=True)
    out = torch.nn.functional.conv1d(torch.ones(1, 1, size, dtype=torch.float64), weight,
                                     stride=stride, padding=padding, dilation=dilation)
    out.sum().backward()
    return [tap for tap in range(kernel) if weight.grad[0, 0, tap] == 0]


def test_padded_taps_are_the_taps_with_an_exactly_zero_gradient():
    checked = 0
    for size, kernel, stride, padding, dilation in itertools.product(
            range(1, 10), (1, 3, 5), (1, 2, 3), (0, 1, 2), (1, 2)):
        if size + 2 * padding < dilation * (kernel - 1) + 1:
            continue  # no output: the convolution itself refuses
        assert padded_taps(size, kernel, stride, padding, dilation) == \
            zero_gradient_taps(size, kernel, stride, padding, dilation), \
            (size, kernel, stride, padding, dilation)
        checked += 1
    assert checked > 300
    assert padded_taps(2, 3, 2, 1) == [0] and padded_taps(1, 3, 2, 1) == [0, 2]


def test_resnet_maps_with_padded_taps_and_a_safe_size():
    model = tiny_model('resnet18')
    found = {c.name: c for c in padded_convolutions(model, 64, 32)}
    # layer4's strided 3x3 sees a 4x2 map: its first kernel column reads only padding
    first = found['layer4.0.conv1']
    assert first.map_size == (4, 2) and first.stride == (2, 2)
    assert first.rows == () and first.columns == (0,)
    # its stride-1 convolutions see 2x1 maps: the outer columns read only padding
    assert found['layer4.0.conv2'].map_size == (2, 1) and found['layer4.0.conv2'].columns == (0, 2)
    assert model.training  # the mode is restored
    assert padded_convolutions(model, 64, 48) == []
    safe = safe_input_size(model, 64, 32)
    assert safe == (64, 40) and padded_convolutions(model, *safe) == []


def test_cpu_bf16_refused_at_a_size_with_padded_taps_naming_map_and_safe_size():
    with pytest.raises(Bf16InputSizeError, match=r'at 64x32: 4 convolution\(s\) .* the smallest map '
                                                 r'being "layer4.0.conv2" \(3x3, stride 1x1\) on a '
                                                 r'2x1 feature map.* at least 64x40 \(data.height, '
                                                 r'data.width\) is safe, or use amp "" \(float32\)'):
        check_cpu_bf16_input(tiny_model('resnet18'), 64, 32)
    check_cpu_bf16_input(tiny_model('resnet18'), 64, 48)  # no padded taps: accepted


def test_engine_refuses_cpu_bf16_before_training(tiny_prid2011_root):
    dm = tiny_datamanager(tiny_prid2011_root)  # 32x16
    with pytest.raises(Bf16InputSizeError, match='at 32x16'):
        tiny_engine(dm, amp='bf16')
    tiny_engine(dm, amp='')  # float32 is not concerned


def test_dal_train_refuses_cpu_bf16_at_a_size_with_padded_taps(tiny_prid2011_root, tmp_path, capsys):
    code, _, err = run_train(tiny_options(tiny_prid2011_root, tmp_path / 'log', 'train.amp', 'bf16',
                                          'train.max_epoch', '1'), capsys)
    line = one_error(code, err)
    assert 'amp "bf16" (train.amp) on the CPU at 32x16' in line and 'is safe' in line
    assert not (tmp_path / 'log' / 'model').exists()

"""How often CPU bf16 autocast gives wrong weight gradients in a convolution.

What ``train.amp bf16`` on the CPU refuses, and why: each convolution below (the
3x3 layers of ResNet's last stage and of MobileNet-v2, strided or not) is run
forward and backward on random maps of each size under bf16 autocast, and the
passes whose weight gradient is wrong are counted, with the kernel taps seen wrong:
a gradient is wrong where it is NaN or infinite (it is fully determined by finite
inputs), or non-zero at a tap lying wholly in padding
(:func:`~dal_torchreid.models.conv_padding.padded_taps`), whose true gradient is
exactly zero. The last line counts wrong taps outside the padding: every fault seen
so far was inside it, which is what the refusal relies on.

Usage::

    python -m dal_torchreid.benchmarks.bf16_conv --passes 200 --threads 2
    python -m dal_torchreid.benchmarks.bf16_conv --convs resnet-s2 --maps 2x1,4x2 --passes 1000
"""
from __future__ import annotations

import argparse
import sys

import torch

from dal_torchreid.benchmarks.speed import machine_info
from dal_torchreid.models.conv_padding import padded_taps

# name: (in channels, out channels, stride, groups) of a 3x3 convolution with padding 1
CONVS = {
    'resnet-s2': (256, 512, 2, 1),    # ResNet-50's layer4.0.conv2 (ResNet-18's conv1)
    'resnet-s1': (512, 512, 1, 1),    # the rest of layer4's 3x3 convolutions
    'depthwise-s2': (576, 576, 2, 576),  # MobileNet-v2's last strided depthwise convolution
    'depthwise-s1': (960, 960, 1, 960),
}
MAPS = ((1, 1), (2, 1), (2, 2), (3, 2), (4, 2), (8, 4))  # 2x1, 4x2, 8x4: layer4 at 32x16, 64x32, 128x64


def padded_kernel_taps(height: int, width: int, stride: int) -> list[list[int]]:
    """The (row, column) taps of a 3x3, padding-1 kernel wholly in padding at this map."""
    rows, columns = padded_taps(height, 3, stride, 1), padded_taps(width, 3, stride, 1)
    return [[r, c] for r in range(3) for c in range(3) if r in rows or c in columns]


def bad_passes(height: int, width: int, bf16: bool, passes: int, batch: int, seed: int = 0,
               conv: str = 'resnet-s2') -> tuple[int, int, list[list[int]]]:
    """(passes with a non-finite weight gradient, passes with a wrong one, the kernel taps
    (row, column) seen wrong) of ``passes`` forward-backward passes of the convolution
    ``conv`` (a key of :data:`CONVS`) over random (batch, channels, h, w) maps. A gradient
    is wrong where it is non-finite, or non-zero at a tap wholly in padding (whose true
    gradient is exactly zero)."""
    torch.manual_seed(seed)
    in_channels, out_channels, stride, groups = CONVS[conv]
    layer = torch.nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1,
                            groups=groups, bias=False)
    padded = torch.zeros(3, 3, dtype=torch.bool)
    for row, column in padded_kernel_taps(height, width, stride):
        padded[row, column] = True
    non_finite, wrong, taps = 0, 0, set()
    for _ in range(passes):
        x = torch.randn(batch, in_channels, height, width)
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf16):
            y = layer(x)
        y.float().sum().backward()
        grad = layer.weight.grad
        bad = ~torch.isfinite(grad) | (padded & (grad != 0))
        if bad.any():
            wrong += 1
            non_finite += bool((~torch.isfinite(grad)).any())
            taps.update(map(tuple, bad.nonzero()[:, 2:].tolist()))
        layer.weight.grad = None
    return non_finite, wrong, sorted(map(list, taps))


def parse_maps(text: str) -> list[tuple[int, int]]:
    """'2x1,4x2' -> [(2, 1), (4, 2)]."""
    try:
        maps = [tuple(int(v) for v in item.split('x')) for item in text.split(',')]
    except ValueError:
        maps = []
    if not maps or any(len(m) != 2 or min(m) < 1 for m in maps):
        raise argparse.ArgumentTypeError(f'maps must look like 2x1,4x2, got {text!r}')
    return maps


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--passes', type=int, default=200)
    parser.add_argument('--batch', type=int, default=16, help='maps per pass (frames)')
    parser.add_argument('--threads', type=int, default=None)
    parser.add_argument('--convs', default=','.join(CONVS),
                        help=f'comma-separated, of {", ".join(CONVS)}')
    parser.add_argument('--maps', type=parse_maps, default=list(MAPS),
                        help='comma-separated HxW maps (default: %(default)s)')
    parser.add_argument('--fp32', action='store_true', help='also run each in float32')
    args = parser.parse_args(argv)
    if args.passes < 1 or args.batch < 1:
        parser.error('--passes and --batch must be >= 1')
    convs = args.convs.split(',')
    if any(c not in CONVS for c in convs):
        parser.error(f'--convs must name some of {", ".join(CONVS)}, got {args.convs!r}')
    if args.threads:
        torch.set_num_threads(args.threads)
    machine = machine_info('cpu')
    print(f'torch {machine["torch"]}, {machine["cpu"]}, {machine["threads"]} threads, '
          f'batch {args.batch}, {args.passes} passes each')
    outside = 0
    for conv in convs:
        for height, width in args.maps:
            padded = padded_kernel_taps(height, width, CONVS[conv][2])
            for bf16 in (True, False) if args.fp32 else (True,):
                non_finite, wrong, taps = bad_passes(height, width, bf16, args.passes,
                                                     args.batch, conv=conv)
                outside += sum(t not in padded for t in taps)
                print(f'{conv} {height}x{width} map, {"bf16" if bf16 else "fp32"}: wrong weight '
                      f'gradient in {wrong} of {args.passes} passes '
                      f'({100 * wrong / args.passes:.1f}%; non-finite in {non_finite}), taps '
                      f'{taps}; taps wholly in padding {padded}', flush=True)
    print(f'wrong taps outside the padding: {outside}')
    return 0


if __name__ == '__main__':
    sys.exit(main())

"""How often CPU bf16 autocast gives NaN weight gradients in a strided convolution.

Why the test suite trains under ``amp 'bf16'`` at 64x32 rather than its usual 32x16,
and what the divergence message means by a PyTorch kernel fault: ResNet's first
layer4 convolution (3x3, stride 2, padding 1, 256 -> 512 channels) is run forward
and backward on random maps of each size, under bf16 autocast and in float32, and
the passes whose weight gradient holds NaN or infinite values are counted. The
gradient is fully determined by finite inputs, so every such pass is a kernel fault.

Usage::

    python -m dal_torchreid.benchmarks.bf16_conv --passes 1000 --threads 2
"""
from __future__ import annotations

import argparse
import sys

import torch

from dal_torchreid.benchmarks.speed import machine_info

MAPS = ((2, 1), (4, 2), (8, 4))  # layer4's input at 32x16, 64x32 and 128x64


def bad_passes(height: int, width: int, bf16: bool, passes: int, batch: int,
               seed: int = 0) -> tuple[int, list[list[int]]]:
    """(passes with a non-finite weight gradient, the kernel taps (row, column) seen
    non-finite) of ``passes`` forward-backward passes over random (batch, 256, h, w) maps."""
    torch.manual_seed(seed)
    conv = torch.nn.Conv2d(256, 512, 3, stride=2, padding=1, bias=False)
    bad, taps = 0, set()
    for _ in range(passes):
        x = torch.randn(batch, 256, height, width)
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf16):
            y = conv(x)
        y.float().sum().backward()
        finite = torch.isfinite(conv.weight.grad)
        if not finite.all():
            bad += 1
            taps.update(map(tuple, (~finite).nonzero()[:, 2:].tolist()))
        conv.weight.grad = None
    return bad, sorted(map(list, taps))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--passes', type=int, default=1000)
    parser.add_argument('--batch', type=int, default=16, help='maps per pass (frames)')
    parser.add_argument('--threads', type=int, default=None)
    args = parser.parse_args(argv)
    if args.passes < 1 or args.batch < 1:
        parser.error('--passes and --batch must be >= 1')
    if args.threads:
        torch.set_num_threads(args.threads)
    machine = machine_info('cpu')
    print(f'torch {machine["torch"]}, {machine["cpu"]}, {machine["threads"]} threads, '
          f'batch {args.batch}, {args.passes} passes each')
    for height, width in MAPS:
        for bf16 in (True, False):
            bad, taps = bad_passes(height, width, bf16, args.passes, args.batch)
            print(f'{height}x{width} map, {"bf16" if bf16 else "fp32"}: NaN weight gradient in '
                  f'{bad} of {args.passes} passes ({100 * bad / args.passes:.1f}%)'
                  + (f', kernel taps {taps}' if taps else ''))
    return 0


if __name__ == '__main__':
    sys.exit(main())

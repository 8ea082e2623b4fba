"""Per-frame model time on the CPU by frames per call and memory format.

Why the all-frame evaluation path calls the model on at most
``CPU_FRAMES_PER_CALL`` frames at a time in channels-last format on the CPU
(:mod:`dal_torchreid.engine.features`): for each call size, passes over the
same random frames in contiguous and in channels-last format are timed in
turns (A B, B A, ...), and the median milliseconds per frame are printed with the
largest difference between the two formats' features.

Usage::

    python -m dal_torchreid.benchmarks.call_format --threads 2
    python -m dal_torchreid.benchmarks.call_format --model mobilenetv2_x1_0 --height 64 --width 32
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch

import torchreid

from dal_torchreid.benchmarks.speed import interleaved


def time_pass(model: torch.nn.Module, frames: torch.Tensor, per_call: int,
              channels_last: bool) -> float:
    """Seconds for one pass over ``frames`` in calls of ``per_call`` frames."""
    start = time.perf_counter()
    with torch.no_grad():
        for part in frames.split(per_call):
            if channels_last:
                part = part.contiguous(memory_format=torch.channels_last)
            model(part)
    return time.perf_counter() - start


def measure(model: torch.nn.Module, frames: torch.Tensor, sizes: list[int],
            rounds: int) -> list[dict]:
    """Median ms per frame of each call size, contiguous and channels-last, timed in turns
    (:func:`~dal_torchreid.benchmarks.speed.interleaved`, one untimed round first)."""
    rows = []
    for per_call in sizes:
        contiguous, channels_last = interleaved(
            [lambda: time_pass(model, frames, per_call, False),
             lambda: time_pass(model, frames, per_call, True)], rounds, warmup=1)
        rows.append({'frames_per_call': per_call,
                     'contiguous_ms': 1000 * statistics.median(contiguous) / len(frames),
                     'channels_last_ms': 1000 * statistics.median(channels_last) / len(frames)})
    return rows


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--model', default='resnet50', help='torchreid model name')
    parser.add_argument('--height', type=int, default=224)
    parser.add_argument('--width', type=int, default=112)
    parser.add_argument('--threads', type=int, default=2, help='torch CPU threads')
    parser.add_argument('--frames', type=int, default=128, help='frames per pass')
    parser.add_argument('--sizes', type=int, nargs='+', default=[8, 16, 32],
                        help='frames per model call')
    parser.add_argument('--rounds', type=int, default=5, help='timed passes per format')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads < 1 or args.frames < 1 or args.rounds < 1 or min(args.sizes) < 1:
        raise SystemExit('--threads, --frames, --rounds and --sizes must be >= 1')
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = torchreid.models.build_model(args.model, num_classes=1, loss='softmax',
                                         pretrained=False).eval()
    frames = torch.randn(args.frames, 3, args.height, args.width)
    with torch.no_grad():
        reference = model(frames[:8])
        other = model(frames[:8].contiguous(memory_format=torch.channels_last))
    difference = float((other - reference).abs().max() / reference.abs().max())
    print(f'{args.model} at {args.height}x{args.width}, {args.threads} threads, '
          f'{args.frames} frames per pass, median of {args.rounds} interleaved passes')
    print(f'{"frames/call":>11} {"contiguous ms":>14} {"channels-last ms":>17} {"speed-up":>9}')
    for row in measure(model, frames, args.sizes, args.rounds):
        print(f'{row["frames_per_call"]:>11} {row["contiguous_ms"]:>14.1f} '
              f'{row["channels_last_ms"]:>17.1f} '
              f'{row["contiguous_ms"] / row["channels_last_ms"]:>8.2f}x')
    print(f'features of the two formats differ by {difference:.1e} of their largest value')
    return 0


if __name__ == '__main__':
    sys.exit(main())

"""DAL loss step time and anchor memory as the number of training tracklets grows.

Times one ``DeepAssociationLoss`` step (forward, anchor update, backward to the
features, with cross-camera association on and input checks off as a trainer
runs it) for 1k, 8k, 32k and 128k training tracklets spread over 6 cameras, at
D = 2048 and 64 frames per batch. Prints the median step time and the anchor
memory (intra and cross memories together), fits a line through time against
tracklets, and extrapolates both to 1M tracklets.

A step costs three (frames x tracklets x D) matrix products (association
ranking, then cyclic ranking there and back), so time grows linearly with the
number of tracklets once those products dominate, as does memory (2 x
tracklets x D x 4 bytes, plus 8 bytes per tracklet of kept norms and a few
frames x tracklets distance matrices during a step).

Example::

    python -m dal_torchreid.benchmarks.loss_scale --device cpu --threads 1
    python -m dal_torchreid.benchmarks.loss_scale --device cuda
"""
from __future__ import annotations

import argparse
import math
import statistics
import sys
import time

import torch

from dal_torchreid.losses import DeepAssociationLoss

TRACKLETS = (1_000, 8_000, 32_000, 128_000)
SMALL_TRACKLETS = (600, 1_200, 2_400, 4_800)
EXTRAPOLATE_TO = 1_000_000
MIB = 2 ** 20


def spread(total: int, cameras: int) -> list[int]:
    """``total`` tracklets over ``cameras`` cameras, as evenly as possible."""
    return [total // cameras + (c < total % cameras) for c in range(cameras)]


def anchor_bytes(tracklets: int, dim: int) -> int:
    """Bytes of the intra and cross anchor memories (float32)."""
    return 2 * tracklets * dim * 4


def _sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def step_seconds(tracklets: int, cameras: int, dim: int, frames: int, steps: int,
                 warmup: int, device: torch.device, seed: int = 0) -> tuple[float, int | None]:
    """Median seconds of one loss step, and the step's peak device memory (CUDA only)."""
    counts = spread(tracklets, cameras)
    gen = torch.Generator(device=device).manual_seed(seed)
    criterion = DeepAssociationLoss(counts, dim).to(device)
    with torch.no_grad():
        criterion.intra_memory.normal_(generator=gen)
        criterion.cross_memory.normal_(generator=gen)
    sizes = torch.tensor(counts, device=device)
    times = []
    for i in range(warmup + steps):
        camids = torch.randint(cameras, (frames,), device=device, generator=gen)
        labels = (torch.rand(frames, device=device, generator=gen) * sizes[camids]).long()
        feats = torch.randn(frames, dim, device=device, generator=gen, requires_grad=True)
        if device.type == 'cuda' and i == warmup:
            torch.cuda.reset_peak_memory_stats(device)
        _sync(device)
        start = time.perf_counter()
        criterion(feats, labels, camids, associate=True).backward()
        _sync(device)
        if i >= warmup:
            times.append(time.perf_counter() - start)
        criterion.validate_inputs = False  # the first batch was checked, as a trainer does
    peak = torch.cuda.max_memory_allocated(device) if device.type == 'cuda' else None
    return statistics.median(times), peak


def fit_line(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least-squares ``y = a + b x``: returns ``(a, b)``."""
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    return my - b * mx, b


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--device', choices=('cpu', 'cuda'), default='cpu')
    parser.add_argument('--small', action='store_true',
                        help=f'quick check: {SMALL_TRACKLETS} tracklets, D = 128, 16 frames')
    parser.add_argument('--threads', type=int, default=1, help='CPU threads (default 1)')
    parser.add_argument('--steps', type=int, default=None,
                        help='timed steps per size, median reported (default 9, small 3)')
    parser.add_argument('--warmup', type=int, default=2, help='untimed steps per size')
    parser.add_argument('--cameras', type=int, default=6)
    args = parser.parse_args(argv)
    if args.device == 'cuda' and not torch.cuda.is_available():
        parser.error('--device cuda: CUDA is not available')
    if args.threads < 1 or args.warmup < 0 or args.cameras < 2 or (args.steps or 1) < 1:
        parser.error('--threads, --steps and --cameras (>= 2) must be positive, --warmup >= 0')
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    device = torch.device(args.device)
    sizes, dim, frames = (SMALL_TRACKLETS, 128, 16) if args.small else (TRACKLETS, 2048, 64)
    steps = args.steps or (3 if args.small else 9)
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        print(f'DAL loss step (forward + anchor update + backward), {args.cameras} cameras, '
              f'D = {dim}, {frames} frames, {args.device}'
              + (f', {args.threads} thread(s)' if args.device == 'cpu' else '')
              + f', torch {torch.__version__}; median of {steps} steps')
        print(f'{"tracklets":>10} {"step ms":>9} {"anchors MiB":>12}'
              + (f' {"peak MiB":>9}' if args.device == 'cuda' else ''))
        seconds = []
        for n in sizes:
            t, peak = step_seconds(n, args.cameras, dim, frames, steps, args.warmup, device)
            seconds.append(t)
            print(f'{n:>10} {t * 1e3:>9.2f} {anchor_bytes(n, dim) / MIB:>12.1f}'
                  + (f' {peak / MIB:>9.1f}' if peak is not None else ''), flush=True)
    finally:
        torch.set_num_threads(threads)
    a, b = fit_line([float(n) for n in sizes], seconds)
    worst = max(abs(a + b * n - t) / t for n, t in zip(sizes, seconds))
    exponent = math.log(seconds[-1] / seconds[-2]) / math.log(sizes[-1] / sizes[-2])
    print(f'fit: step = {a * 1e3:.2f} ms + {b * 1e6:.3f} ms per 1k tracklets '
          f'(largest deviation from the line {worst:.0%}); between the two largest sizes '
          f'time grows as tracklets^{exponent:.2f} (1.00 is linear: three frames x '
          'tracklets x D matrix products per step)')
    big = EXTRAPOLATE_TO
    print(f'{big:,} tracklets (D = {dim}) would need {anchor_bytes(big, dim) / MIB:,.0f} MiB '
          f'of anchors (2 x {big:,} x {dim} x 4 bytes = {anchor_bytes(big, dim) / 1e9:.1f} GB) '
          f'and about {(a + b * big) * 1e3:,.0f} ms per step on this device')
    return 0


if __name__ == '__main__':
    sys.exit(main())

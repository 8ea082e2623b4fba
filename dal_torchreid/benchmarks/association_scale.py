"""The cross-camera association of footage tracklets at a day's scale.

:func:`~dal_torchreid.footage.linking.link_tracklets` from features to global ids.

Times the association of 1k, 10k and 100k synthetic tracklets (100k: a day of about
20 busy cameras) from features to global ids, with its defaults (threshold found,
camera links auto), and records each run's peak resident memory above its state
after the inputs were made, and its CPU seconds (wall time on a shared machine
depends on the load; CPU time much less). Each size runs in a fresh process.

The tracklets have the structure of footage: cameras along a route, each person
walking through a run of adjacent cameras in order, each ordered camera pair with
its own transit time, tracks of 3-6 seconds at 10 frames a second spread over a
day; their features are one centre per person, made of one of a few hundred outfits'
centres and a smaller part of the person's own, plus noise for each tracklet, so
that appearance alone confuses people dressed alike; D = 1280 as MobileNet-v2's.

Example::

    python -m dal_torchreid.benchmarks.association_scale --sizes 1000,10000 --threads 2
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np
import torch
from torch.nn import functional as F

TRACKLETS = (1_000, 10_000, 100_000)
DIM = 1280
DAY = 864_000  # frames: 24 h at 10 frames a second
OUTFITS = 200  # people dressed alike share most of their feature
MIB = 2 ** 20
TARGET_SIZE, TARGET_SECONDS, TARGET_MIB = 100_000, 600, 4096  # a day of ~20 cameras, on 2 cores
MODULE = 'dal_torchreid.benchmarks.association_scale'


def synthetic_footage(n: int, dim: int = DIM, seed: int = 0):
    """``(times, features, people)`` of about ``n`` tracklets: one camera per 5000
    tracklets (at least 4) along a route, each person through 1-4 adjacent cameras."""
    from dal_torchreid.footage.linking import tracklet_times

    rng = np.random.default_rng(seed)
    cameras = max(4, n // 5000)
    transit = rng.uniform(100, 600, (cameras, 2))  # frames to the next / previous camera
    rows, person = [], 0
    while len(rows) < n:
        visits = int(rng.integers(1, 5))
        way = int(rng.choice((-1, 1)))
        camera = int(rng.integers(0, cameras))
        t = int(rng.integers(0, DAY))
        for _ in range(visits):
            if not 0 <= camera < cameras or len(rows) >= n:
                break
            length = int(rng.integers(30, 61))
            side = 2 if way > 0 else 0
            rows.append((camera, t, t + length - 1, side, 2 - side, person))
            mean = transit[camera, 0 if way > 0 else 1]
            t += length - 1 + max(1, int(rng.normal(mean, 0.15 * mean)))
            camera += way
        person += 1
    table = np.asarray(rows, np.int64)
    times = tracklet_times(table[:, 0], table[:, 1], table[:, 2], (table[:, 4] + 0.5) / 3,
                           (table[:, 3] + 0.5) / 3)
    g = torch.Generator().manual_seed(seed)
    people = table[:, 5]
    outfits = torch.randn(OUTFITS, dim, generator=g)
    features = torch.empty(len(table), dim)
    for start in range(0, len(table), 4096):
        block = slice(start, start + 4096)
        first = int(people[block].min())
        count = int(people[block].max()) - first + 1
        centres = (outfits[torch.randint(0, OUTFITS, (count,), generator=g)]
                   + 0.6 * torch.randn(count, dim, generator=g))
        own = torch.as_tensor(people[block] - first)
        features[block] = F.normalize(centres[own] + torch.randn(len(own), dim, generator=g),
                                      dim=1)
    return times, features, people


def measure_here(n: int, dim: int, threads: int) -> dict:
    """Associates ``n`` synthetic tracklets in this process; seconds, peak memory and
    the pairwise F1 against the synthetic people."""
    import sklearn.mixture  # noqa: F401  (imported before the clock and the memory base)
    from dal_torchreid.footage.linking import link_tracklets
    from dal_torchreid.footage.scores import pairwise_scores
    torch.set_num_threads(threads)
    times, features, people = synthetic_footage(n, dim)
    before = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    result = link_tracklets(times, features)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    peak = (after.ru_maxrss - before.ru_maxrss) / 1024  # ru_maxrss: KiB on Linux
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    row = {'tracklets': len(people), 'cameras': times.num_cameras, 'dim': dim,
           'seconds': round(seconds, 2), 'cpu_seconds': round(cpu, 2), 'peak_mib': round(peak, 1),
           'features_mib': round(len(people) * dim * 4 / MIB, 1),
           'ids': int(result.ids.max()) + 1, 'people': int(len(np.unique(people))),
           'camera_links': result.record['camera_links']['used'],
           'threshold': result.record['threshold'], 'graph_edges': result.record['graph_edges']}
    if len(people) <= 20_000:  # the pairwise score holds an N x N matrix: small sizes only
        row['pairwise_f1'] = round(pairwise_scores(result.ids, people, times.cameras)['f1'], 4)
    return row


def measure(n: int, dim: int = DIM, threads: int = 1) -> dict:
    """:func:`measure_here` in a fresh Python process (so its peak memory is its own)."""
    command = [sys.executable, '-m', MODULE, '--here', str(n), '--dim', str(dim),
               '--threads', str(threads)]
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f'associating {n} tracklets failed: {proc.stderr.strip()[-500:]}')
    return json.loads(proc.stdout.strip().splitlines()[-1])


def scale_rows(sizes=TRACKLETS, threads: int = 1, dim: int = DIM) -> dict:
    """One :func:`measure` row per size, each in a fresh process (``dal-benchmark --parts
    associate``)."""
    return {'threads': threads, 'rows': [measure(int(n), dim, threads) for n in sizes]}


def format_rows(rows: list, threads: int) -> str:
    lines = [f'Cross-camera association (link_tracklets, defaults), {threads} threads:',
             f'{"tracklets":>10} {"cameras":>8} {"seconds":>9} {"CPU s":>9} {"peak MiB":>9} '
             f'{"features MiB":>13} {"edges":>9} {"ids":>8} {"people":>8} {"links":>6} '
             f'{"pair F1":>8}']
    for r in rows:
        f1 = f'{r["pairwise_f1"]:.3f}' if 'pairwise_f1' in r else '-'
        lines.append(f'{r["tracklets"]:>10} {r["cameras"]:>8} {r["seconds"]:>9.1f} '
                     f'{r["cpu_seconds"]:>9.1f} '
                     f'{r["peak_mib"]:>9.1f} {r["features_mib"]:>13.1f} {r["graph_edges"]:>9} '
                     f'{r["ids"]:>8} {r["people"]:>8} {str(r["camera_links"]):>6} {f1:>8}')
    for r in rows:
        if r['tracklets'] >= TARGET_SIZE:
            met = r['seconds'] < TARGET_SECONDS and r['peak_mib'] < TARGET_MIB
            lines.append(f'{r["tracklets"]:,} tracklets: {r["seconds"]:.0f} s ('
                         f'{r["cpu_seconds"]:.0f} '
                         f'CPU s), peak {r["peak_mib"]:.0f} MiB; target < {TARGET_SECONDS} s and '
                         f'< {TARGET_MIB} MiB: ' + ('MET' if met else 'NOT MET'))
    return '\n'.join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--sizes', default=','.join(map(str, TRACKLETS)),
                        help='tracklet counts, comma-separated, each in a fresh process')
    parser.add_argument('--dim', type=int, default=DIM, help='feature dimension')
    parser.add_argument('--threads', type=int, default=1, help='torch CPU threads')
    parser.add_argument('--here', type=int, help='measure this size in this process (JSON)')
    args = parser.parse_args(argv)
    if args.here:
        print(json.dumps(measure_here(args.here, args.dim, args.threads)))
        return 0
    rows = []
    for size in filter(None, args.sizes.split(',')):
        rows.append(measure(int(size), args.dim, args.threads))
        print(json.dumps(rows[-1]), flush=True)
    print(format_rows(rows, args.threads))
    return 0


if __name__ == '__main__':
    sys.exit(main())

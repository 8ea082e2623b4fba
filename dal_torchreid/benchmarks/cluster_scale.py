"""Cluster Contrast's clustering step against the number of training tracklets.

Times the clustering step of :func:`~dal_torchreid.cluster.cluster_tracklets`
(features given) for 1k, 8k, 32k and 128k tracklets at D = 2048 with the
reference's settings (k1 30, k2 6, eps 0.6, min_samples 4), phase by phase: the
exact neighbour search, which compares every pair of tracklets (N^2 D
multiply-adds, in chunks of bounded memory); the sparse Jaccard distances from
those neighbours; DBSCAN. Everything after the search grows with N x k1. Each
size runs in a fresh process, whose peak resident memory above its state after
the features were made is the step's memory.

The features are synthetic tracklets of people (four per person around a
random centre, noise of the centres' scale), L2-normalised.

Example::

    python -m dal_torchreid.benchmarks.cluster_scale --sizes 1000,8000,32000 --threads 2
"""
from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import time

import torch
from torch.nn import functional as F

TRACKLETS = (1_000, 8_000, 32_000, 128_000)
SMALL_TRACKLETS = (500, 1_000, 2_000)
DIM = 2048
MIB = 2 ** 20


def synthetic_features(n: int, dim: int, seed: int = 0) -> torch.Tensor:
    """``n`` L2-normalised features, four around each of ``n / 4`` random centres (made a
    block at a time, so making them costs little more memory than they take)."""
    g = torch.Generator().manual_seed(seed)
    out = torch.empty(n, dim)
    for start in range(0, n, 4096):
        stop = min(n, start + 4096)
        centres = torch.randn(-(-(stop - start) // 4), dim, generator=g)
        out[start:stop] = F.normalize(centres.repeat_interleave(4, 0)[:stop - start] +
                                      0.7 * torch.randn(stop - start, dim, generator=g), dim=1)
    return out


def _rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


def measure_here(n: int, dim: int, threads: int) -> dict:
    """Clusters ``n`` synthetic features in this process; seconds and peak memory."""
    import sklearn.cluster  # noqa: F401  (imported before the clock and the memory base)
    from dal_torchreid.cluster import (
        EPS, K1, K2, MIN_SAMPLES, dbscan_labels, jaccard_distances, nearest_neighbors
    )
    torch.set_num_threads(threads)
    features = synthetic_features(n, dim)
    base = _rss_bytes()
    start = time.perf_counter()
    neighbors = nearest_neighbors(features, K1, return_similarities=True)
    search = time.perf_counter() - start
    start = time.perf_counter()
    distances = jaccard_distances(features, K1, K2, neighbors=neighbors)
    jaccard = time.perf_counter() - start
    start = time.perf_counter()
    labels = dbscan_labels(distances, EPS, MIN_SAMPLES)
    dbscan = time.perf_counter() - start
    return {'tracklets': n, 'dim': dim, 'total_s': search + jaccard + dbscan,
            'search_s': search, 'jaccard_s': jaccard, 'dbscan_s': dbscan,
            'rest_s': jaccard + dbscan, 'peak_mib': (_rss_bytes() - base) / MIB,
            'stored_per_tracklet': distances.nnz / n,
            'features_mib': n * dim * 4 / MIB, 'clusters': int(labels.max()) + 1,
            'outliers': float((labels < 0).mean())}


def measure(n: int, dim: int = DIM, threads: int = 1) -> dict:
    """:func:`measure_here` in a fresh Python process (so its peak memory is its own)."""
    code = ('import json, sys; from dal_torchreid.benchmarks.cluster_scale import measure_here; '
            f'print(json.dumps(measure_here({int(n)}, {int(dim)}, {int(threads)})))')
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f'clustering {n} tracklets failed: {proc.stderr.strip()[-500:]}')
    return json.loads(proc.stdout.strip().splitlines()[-1])


def scale_rows(sizes=TRACKLETS, dim: int = DIM, threads: int = 1) -> dict:
    """One :func:`measure` row per size, and the growth exponents between the two largest
    sizes of the search and of the rest (1.00 is linear)."""
    rows = [measure(n, dim, threads) for n in sizes]

    def exponent(key):
        a, b = rows[-2], rows[-1]
        if len(rows) < 2 or a[key] <= 0 or b[key] <= 0:
            return None
        return math.log(b[key] / a[key]) / math.log(b['tracklets'] / a['tracklets'])
    return {'dim': dim, 'threads': threads, 'rows': rows, 'search_exponent': exponent('search_s'),
            'rest_exponent': exponent('rest_s'), 'memory_exponent': exponent('peak_mib')}


def format_rows(result: dict) -> str:
    lines = [f'Cluster Contrast clustering step (features given), D = {result["dim"]}, '
             f'{result["threads"]} threads, reference settings:',
             f'{"tracklets":>10} {"total s":>9} {"search s":>9} {"jaccard s":>10} '
             f'{"dbscan s":>9} {"peak MiB":>9} {"features MiB":>13} {"stored/row":>11} '
             f'{"clusters":>9}']
    for r in result['rows']:
        lines.append(f'{r["tracklets"]:>10} {r["total_s"]:>9.2f} {r["search_s"]:>9.2f} '
                     f'{r["jaccard_s"]:>10.2f} {r["dbscan_s"]:>9.2f} {r["peak_mib"]:>9.1f} '
                     f'{r["features_mib"]:>13.1f} {r["stored_per_tracklet"]:>11.1f} '
                     f'{r["clusters"]:>9}')
    parts = [f'{name} tracklets^{result[key]:.2f}' for name, key in
             (('search', 'search_exponent'), ('jaccard + dbscan', 'rest_exponent'),
              ('memory', 'memory_exponent')) if result[key] is not None]
    if parts:
        lines.append('between the two largest sizes: ' + ', '.join(parts) + ' (1.00 is linear)')
    return '\n'.join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--sizes', default=','.join(map(str, TRACKLETS)))
    parser.add_argument('--dim', type=int, default=DIM)
    parser.add_argument('--threads', type=int, default=1)
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(',') if s.strip()]
    print(format_rows(scale_rows(sizes, args.dim, args.threads)))
    return 0


if __name__ == '__main__':
    sys.exit(main())

"""Finding one person in a gallery of 10k and 100k tracklets: time and memory of :func:`search`.

Times :func:`~dal_torchreid.footage.search.search` over a
:class:`~dal_torchreid.footage.gallery.Gallery` of random L2-normalised float32 features
(features given: nothing is extracted), for each size and feature dimension (512: OSNet's;
1280: MobileNet-v2's), the query a tracklet of
the gallery, 20 cameras:

* ``top100_s``: the 100 best hits (what ``dal-search`` shows), median over the queries;
* ``all_s``: every tracklet ranked (one :class:`SearchHit` each);
* ``links_s``: the 100 best with a camera-link model written in Python (a Gaussian of the
  gap per camera pair), which is asked once per tracklet of the query's session;
* ``peak_mib``: the peak resident memory of the searches above the process's memory once
  the gallery is built (Linux's high-water mark, reset after the gallery is built, so the
  building's own peak is not counted; each size runs in a fresh process), against
  ``features_mib``.

Example::

    python -m dal_torchreid.benchmarks.search_scale --sizes 10000,100000 --dims 512,1280 --threads 2
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import time

import torch

SIZES = (10_000, 100_000)
DIMS = (512, 1280)
QUERIES = 7
TARGET_S = 1.0  # the issue's: a search over 100k tracklets answers in under a second
TARGET_SIZE = 100_000
CAMERAS = 20
MIB = 2 ** 20


class GaussianLinks:
    """A camera-link model for timing: per camera pair a Gaussian of the gap (mean 20 frames
    per camera index apart, sd 30), as a log-likelihood ratio against a flat 1/5000."""

    def transit_log_likelihood(self, from_camera: str, to_camera: str, gap_frames: int) -> float:
        mean = 20.0 * abs(int(from_camera[3:]) - int(to_camera[3:])) + 40.0
        z = (gap_frames - mean) / 30.0
        return max(-8.0, -0.5 * z * z - math.log(30.0 * math.sqrt(2 * math.pi)) + math.log(5000))


def random_gallery(n: int, dim: int, seed: int = 0):
    """A :class:`~dal_torchreid.footage.gallery.Gallery` of ``n`` random tracklets in
    :data:`CAMERAS` cameras (a track every 10 frames, 40 frames long; 4 tracklets a person)."""
    from dal_torchreid.footage.gallery import Gallery, ModelFingerprint
    from dal_torchreid.footage.tracklet_table import TrackletTable
    g = torch.Generator().manual_seed(seed)
    features = torch.randn(n, dim, generator=g)
    table = TrackletTable([f'cam{i % CAMERAS}' for i in range(n)], list(range(n)),
                          [10 * i for i in range(n)], [10 * i + 40 for i in range(n)],
                          [1 + i // 4 for i in range(n)])
    fingerprint = ModelFingerprint('0' * 64, 'random', 256, 128, (0.5,) * 3, (0.5,) * 3, 'avg')
    return Gallery(features, table, 0.5, fingerprint)


def _memory_kib(field: str) -> int:
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1])
    raise RuntimeError(f'/proc/self/status has no {field}: the benchmark needs Linux')


def _reset_peak() -> int:
    """Resets the process's peak resident memory to what it holds now (Linux >= 4.0);
    returns that, in bytes."""
    with open('/proc/self/clear_refs', 'w') as f:
        f.write('5')
    return _memory_kib('VmRSS') * 1024


def _peak_bytes() -> int:
    return _memory_kib('VmHWM') * 1024


def measure_here(n: int, dim: int, threads: int, queries: int = QUERIES) -> dict:
    """Times the searches in this process; seconds (medians) and peak memory."""
    from dal_torchreid.footage.search import search
    torch.set_num_threads(threads)
    gallery = random_gallery(n, dim)
    picks = [(gallery.table.cameras[i], gallery.table.tracks[i])
             for i in range(0, n, max(1, n // queries))][:queries]
    search(gallery, picks[0], top_k=100)  # warm-up: first-call allocations
    base = _reset_peak()

    def median_time(**kwargs) -> float:
        times = []
        for query in picks:
            start = time.perf_counter()
            search(gallery, query, **kwargs)
            times.append(time.perf_counter() - start)
        return statistics.median(times)
    top100 = median_time(top_k=100)
    peak_top = _peak_bytes() - base
    links = median_time(top_k=100, camera_links=GaussianLinks())
    every = median_time()
    return {'tracklets': n, 'dim': dim, 'threads': threads, 'queries': len(picks),
            'top100_s': top100, 'links_s': links, 'all_s': every,
            'peak_top100_mib': peak_top / MIB, 'peak_mib': (_peak_bytes() - base) / MIB,
            'features_mib': n * dim * 4 / MIB}


def measure(n: int, dim: int, threads: int = 2, queries: int = QUERIES) -> dict:
    """:func:`measure_here` in a fresh Python process (so its peak memory is its own)."""
    code = ('import json; from dal_torchreid.benchmarks.search_scale import measure_here; '
            f'print(json.dumps(measure_here({int(n)}, {int(dim)}, {int(threads)}, '
            f'{int(queries)})))')
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f'searching {n} tracklets of {dim} dimensions failed: '
                           f'{proc.stderr.strip()[-500:]}')
    return json.loads(proc.stdout.strip().splitlines()[-1])


def scale_rows(sizes=SIZES, dims=DIMS, threads: int = 2, queries: int = QUERIES) -> dict:
    """One :func:`measure` row per size and dimension."""
    return {'threads': threads, 'queries': queries,
            'rows': [measure(n, dim, threads, queries) for dim in dims for n in sizes]}


COLUMNS = (('tracklets', 'tracklets', '{:>10}'), ('dim', 'dim', '{:>5}'),
           ('top-100 s', 'top100_s', '{:>10.3f}'), ('+links s', 'links_s', '{:>9.3f}'),
           ('all ranked s', 'all_s', '{:>13.3f}'),
           ('peak MiB top-100', 'peak_top100_mib', '{:>17.1f}'),
           ('peak MiB all', 'peak_mib', '{:>13.1f}'), ('features MiB', 'features_mib', '{:>13.1f}'))


def format_rows(result: dict) -> str:
    """The table :func:`main` prints: a line per size and dimension (:data:`COLUMNS`)."""
    widths = [len(fmt.format(0)) for _, _, fmt in COLUMNS]
    head = ' '.join(name.rjust(w) for (name, _, _), w in zip(COLUMNS, widths))
    rows = [' '.join(fmt.format(r[key]) for _, key, fmt in COLUMNS) for r in result['rows']]
    verdicts = [f'{r["tracklets"]:,} tracklets of {r["dim"]} dimensions: the best 100 in '
                f'{r["top100_s"]:.3f} s, every tracklet ranked in {r["all_s"]:.3f} s; target < '
                f'{TARGET_S:g} s: '
                + ('MET' if max(r['top100_s'], r['all_s']) < TARGET_S else 'NOT MET')
                for r in result['rows'] if r['tracklets'] >= TARGET_SIZE]
    return '\n'.join([f'search over a gallery (features given), {result["threads"]} threads, '
                      f'median of {result["queries"]} queries:', head, *rows, *verdicts])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--sizes', default=','.join(map(str, SIZES)))
    parser.add_argument('--dims', default=','.join(map(str, DIMS)))
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--queries', type=int, default=QUERIES)
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(',') if s.strip()]
    dims = [int(s) for s in args.dims.split(',') if s.strip()]
    print(format_rows(scale_rows(sizes, dims, args.threads, args.queries)))
    return 0


if __name__ == '__main__':
    sys.exit(main())

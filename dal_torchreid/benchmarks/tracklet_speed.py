"""How fast ``dal-make-tracklets`` decodes and crops 1080p video, and whether memory stays flat.

Writes a 1920x1080 MP4 (a textured scene panning, 25 frames/s) and a tracker file with
``--people`` boxes of 90x260 in every frame (tracks of 100 frames), then cuts every box
(``max_frames`` 0: all) for the first ``--frames`` and for a fifth of them, each in a
fresh process, and prints the frames decoded and cropped per second and the peak
resident memory of each. Run it with one thread::

    OMP_NUM_THREADS=1 python -m dal_torchreid.benchmarks.tracklet_speed --work /tmp/speed
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import resource
import subprocess
import sys
import time

import cv2
import numpy as np

WIDTH, HEIGHT, FPS = 1920, 1080, 25


def write_footage(work: str, frames: int, people: int) -> None:
    """``work/footage/cam1/cam1.mp4`` and ``work/tracks/cam1.txt`` (kept when present)."""
    video = osp.join(work, 'footage', 'cam1', 'cam1.mp4')
    if osp.isfile(video):
        return
    os.makedirs(osp.dirname(video), exist_ok=True)
    os.makedirs(osp.join(work, 'tracks'), exist_ok=True)
    rng = np.random.default_rng(0)
    scene = cv2.resize(rng.integers(0, 255, (HEIGHT // 8, WIDTH // 8, 3), np.uint8),
                       (WIDTH, HEIGHT), interpolation=cv2.INTER_CUBIC)
    writer = cv2.VideoWriter(video, cv2.VideoWriter_fourcc(*'mp4v'), FPS, (WIDTH, HEIGHT))
    if not writer.isOpened():
        raise RuntimeError('OpenCV cannot write an mp4v MP4 here')
    for f in range(frames):
        writer.write(np.roll(scene, 4 * f, axis=1))
    writer.release()
    with open(osp.join(work, 'tracks', 'cam1.txt'), 'w') as out:
        for f in range(1, frames + 1):
            for p in range(people):
                track = p + people * ((f - 1 + 12 * p) // 100) + 1
                out.write(f'{f},{track},{100 + 200 * p},{300 + 10 * p},90,260,0.9,-1,-1,-1\n')


def cut(work: str, frames: int) -> None:
    """In this process: the tracklets of the first ``frames`` frames; prints one line."""
    from dal_torchreid.footage import TrackletSettings, make_tracklets

    tracks = osp.join(work, f'tracks-{frames}')
    os.makedirs(tracks, exist_ok=True)
    with open(osp.join(work, 'tracks', 'cam1.txt')) as f, \
            open(osp.join(tracks, 'cam1.txt'), 'w') as out:
        out.writelines(line for line in f if int(line.split(',')[0]) <= frames)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    info = make_tracklets(osp.join(work, 'footage'), tracks, osp.join(work, f'data-{frames}'),
                          'speed', TrackletSettings(max_frames=0), stream=open(os.devnull, 'w'))
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    crops = info['cameras']['cam1']['counts']['crops']
    print(f'{frames} frames of {WIDTH}x{HEIGHT}, {crops} crops: {seconds:.1f} s, '
          f'{frames / seconds:.1f} frames/s ({frames / seconds / FPS:.2f}x real time); peak '
          f'memory {peak / 1024:.0f} MiB ({(peak - before) / 1024:.0f} MiB above the imports)')


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--work', required=True, help='scratch folder (the video is kept)')
    parser.add_argument('--frames', type=int, default=1500, help='frames of the long run')
    parser.add_argument('--people', type=int, default=8, help='boxes per frame')
    parser.add_argument('--cut', type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.cut:
        cut(args.work, args.cut)
        return 0
    write_footage(args.work, args.frames, args.people)
    for frames in (args.frames // 5, args.frames):  # fresh processes: peaks not shared
        subprocess.run([sys.executable, '-m', 'dal_torchreid.benchmarks.tracklet_speed',
                        '--work', args.work, '--cut',
                        str(frames)], check=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())

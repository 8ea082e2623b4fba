"""Frames per second of the synthetic data generator on one core.

Times drawing alone (people, scenes, camera transforms) and the whole
``make_synthetic_dataset`` (drawing plus PNG/JPEG encoding and file writes).

Example::

    python -m dal_torchreid.benchmarks.synthetic_speed --ids 40
"""
from __future__ import annotations

import argparse
import os

# One core: pin the thread pools before numpy and OpenCV start them.
for _var in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ[_var] = '1'

import json
import tempfile
import time

import cv2
import numpy as np

from dal_torchreid.data.synthetic import INFO_FILE, SyntheticConfig, make_synthetic_dataset
from dal_torchreid.data.synthetic.cameras import sample_camera
from dal_torchreid.data.synthetic.people import sample_person
from dal_torchreid.data.synthetic.render import render_tracklet


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--ids', type=int, default=40)
    parser.add_argument('--height', type=int, default=128)
    parser.add_argument('--width', type=int, default=64)
    parser.add_argument('--layout', default='prid2011')
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)
    try:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    except (AttributeError, OSError):
        pass

    cameras = [sample_camera(np.random.default_rng([0, 2, c]), args.height, args.width) for c in range(2)]
    frames, start = 0, time.perf_counter()
    for i in range(args.ids):
        person = sample_person(np.random.default_rng([0, 1, i]))
        for c, camera in enumerate(cameras):
            frames += len(render_tracklet(person, camera, np.random.default_rng([0, 3, i, c]), 28))
    draw = frames / (time.perf_counter() - start)

    config = SyntheticConfig.for_layout(args.layout, ids=args.ids, height=args.height, width=args.width)
    with tempfile.TemporaryDirectory() as root:
        start = time.perf_counter()
        folder = make_synthetic_dataset(args.layout, root, config)
        seconds = time.perf_counter() - start
        with open(os.path.join(folder, INFO_FILE)) as f:
            written = json.load(f)['counts']['frames']
    print(f'{args.height}x{args.width}, one core: drawing {draw:.0f} frames/s; '
          f'{args.layout} set of {args.ids} ids written at {written / seconds:.0f} frames/s '
          f'({written} frames in {seconds:.1f}s)')


if __name__ == '__main__':
    main()

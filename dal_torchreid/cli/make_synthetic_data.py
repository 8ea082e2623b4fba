"""Write a synthetic video re-id data set in the PRID2011, iLIDS-VID or MARS layout.

Example::

    dal-make-synthetic --layout prid2011 --root reid-data
    dal-make-synthetic --layout mars --root reid-data --ids 40 --cameras 6
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

from dal_torchreid.data.synthetic import INFO_FILE, LAYOUTS, SyntheticConfig, make_synthetic_dataset

# CLI flag -> (type, help) of a SyntheticConfig field; unset flags keep the layout's defaults.
_OPTIONS = {
    'ids': (int, 'identities, split 50/50 into train and test'),
    'cameras': (int, 'cameras: 2 for prid2011/ilidsvid, 2-6 for mars'),
    'tracklets_per_camera': (int, 'tracklets per identity and camera, >1 for mars only'),
    'distractors': (int, 'mars distractor tracklets, pid 0'),
    'junk': (int, 'mars junk tracklets, pid -1'),
    'min_frames': (int, 'fewest frames per tracklet'),
    'max_frames': (int, 'most frames per tracklet'),
    'height': (int, 'image height'),
    'width': (int, 'image width'),
    'seed': (int, 'the same seed writes byte-identical files'),
    'camera_shift': (float, 'strength of per-camera colour/exposure/blur/noise changes'),
    'occlusion': (float, 'probability that a tracklet is partly occluded'),
}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--layout', required=True, choices=LAYOUTS)
    parser.add_argument('--root', required=True, help='data root; the set goes to ROOT/<dataset folder>')
    defaults, mars = SyntheticConfig(), SyntheticConfig.for_layout('mars')
    for name, (kind, text) in _OPTIONS.items():
        default, mars_default = getattr(defaults, name), getattr(mars, name)
        note = f'default {default}' + (f', mars {mars_default}' if mars_default != default else '')
        parser.add_argument('--' + name.replace('_', '-'), type=kind, help=f'{text} ({note})')
    parser.add_argument('--overwrite', action='store_true', help='replace an existing data set folder')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    """Runs the command; returns the exit status (0 written, 2 refused)."""
    args = parse_args(argv)
    overrides = {k: getattr(args, k) for k in _OPTIONS if getattr(args, k) is not None}
    start = time.perf_counter()
    try:
        config = SyntheticConfig.for_layout(args.layout, **overrides)
        folder = make_synthetic_dataset(args.layout, args.root, config, overwrite=args.overwrite)
    except (ValueError, OSError) as error:
        print(f'error: {error}', file=sys.stderr)
        return 2
    seconds = time.perf_counter() - start
    with open(os.path.join(folder, INFO_FILE)) as f:
        counts = json.load(f)['counts']
    print(f'wrote {args.layout} to {folder} in {seconds:.1f}s '
          f'({counts["frames"] / seconds:.0f} frames/s)')
    print(f'  ids {config.ids}, cameras {config.cameras}, {config.height}x{config.width}, seed {config.seed}')
    print('  ' + ', '.join(f'{k.replace("_", " ")} {v}' for k, v in counts.items()))
    return 0


if __name__ == '__main__':
    sys.exit(main())

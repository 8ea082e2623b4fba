"""Writes torchreid's ``splits_prid2011.json`` for the 178-person PRID2011 protocol.

Usage::

    dal-prepare-splits --prid-dir reid-data/prid2011 --seed 0

Keeps the people seen by both cameras with at least ``--min-frames`` frames in
each, and draws ``--num-splits`` random 50/50 person splits (train gets the
extra person of an odd count).
"""
from __future__ import annotations

import argparse
import json
import os.path as osp
import sys

from dal_torchreid.data.splits import write_prid2011_splits


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--prid-dir', required=True,
                        help='torchreid PRID2011 folder (<root>/prid2011), holding prid_2011/multi_shot')
    parser.add_argument('--seed', type=int, default=0, help='random seed of the splits')
    parser.add_argument('--num-splits', type=int, default=10, help='number of splits')
    parser.add_argument('--min-frames', type=int, default=21,
                        help='fewest frames a person needs in each camera')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace an existing splits_prid2011.json')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        path = write_prid2011_splits(args.prid_dir, seed=args.seed, num_splits=args.num_splits,
                                     min_frames=args.min_frames, overwrite=args.overwrite)
    except (FileNotFoundError, FileExistsError, ValueError) as err:
        print('error: {}'.format(err), file=sys.stderr)
        return 2
    with open(path) as f:
        first = json.load(f)[0]
    num_train, num_test = len(first['train']), len(first['test'])
    print('{} people with >= {} frames in both cameras; {} splits of {} train / {} test '
          '(seed {}) written to "{}"'.format(num_train + num_test, args.min_frames,
                                             args.num_splits, num_train, num_test,
                                             args.seed, path))
    return 0


if __name__ == '__main__':
    sys.exit(main())

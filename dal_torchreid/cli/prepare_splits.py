"""Writes the person splits torchreid reads for PRID2011 or iLIDS-VID.

Usage::

    python -m dal_torchreid.cli.prepare_splits --dataset prid2011 --root reid-data
    python -m dal_torchreid.cli.prepare_splits --dataset ilidsvid --root reid-data
    python -m dal_torchreid.cli.prepare_splits --dataset prid2011 --root reid-data \\
        --random --seed 1

By default the DAL release's 10 splits (PRID2011: 178 people, iLIDS-VID: 300)
go to ``<root>/prid2011/splits_prid2011.json`` or ``<root>/ilids-vid/splits.json``,
after checking that every person of the splits has ``--min-frames`` frames in
both cameras. ``--random`` (PRID2011) draws seeded 50/50 splits of
``person_0001``..``person_0200`` with ``--min-frames`` frames in both cameras
instead. An existing file is kept unless ``--overwrite``.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence

from dal_torchreid.data.splits import (
    DATASETS, MIN_FRAMES, NUM_SPLITS, SEED, official_ilidsvid_splits,
    write_random_prid2011_splits, write_release_splits
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog='\n'.join(__doc__.splitlines()[2:]))
    parser.add_argument('--dataset', required=True, choices=DATASETS,
                        help='torchreid data set name')
    parser.add_argument('--root', required=True,
                        help='torchreid data root (data.root), holding prid2011/ or ilids-vid/')
    parser.add_argument('--min-frames', type=int, default=None,
                        help='fewest .png frames a person needs in each camera (default: the '
                             'release\'s shortest tracklet, '
                             + ', '.join(f'{k} {v}' for k, v in MIN_FRAMES.items()) + ')')
    parser.add_argument('--random', action='store_true',
                        help='PRID2011 only: seeded random splits instead of the release\'s')
    parser.add_argument('--seed', type=int, default=None,
                        help=f'with --random: random seed (default {SEED})')
    parser.add_argument('--num-splits', type=int, default=None,
                        help=f'with --random: number of splits (default {NUM_SPLITS})')
    parser.add_argument('--overwrite', action='store_true', help='replace an existing split file')
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command; returns the exit status (0 written, 2 refused)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.random and args.dataset != 'prid2011':
        parser.error('--random applies to --dataset prid2011 only')
    if not args.random and (args.seed is not None or args.num_splits is not None):
        parser.error('--seed and --num-splits apply with --random only')
    min_frames = MIN_FRAMES[args.dataset] if args.min_frames is None else args.min_frames
    seed = SEED if args.seed is None else args.seed
    try:
        if args.random:
            path = write_random_prid2011_splits(
                args.root, seed=seed,
                num_splits=NUM_SPLITS if args.num_splits is None else args.num_splits,
                min_frames=min_frames, overwrite=args.overwrite)
        else:
            path = write_release_splits(args.root, args.dataset, min_frames=min_frames,
                                        overwrite=args.overwrite)
        official = official_ilidsvid_splits(args.root) if args.dataset == 'ilidsvid' else None
    except (OSError, ValueError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    with open(path) as f:
        splits = json.load(f)
    kind = f'{len(splits)} random splits (seed {seed})' if args.random \
        else f"the release's {len(splits)} splits"
    first = splits[0]
    print(f'{kind} of {args.dataset}, {len(first["train"])} train / {len(first["test"])} test '
          f'people each, all with >= {min_frames} frames per camera, written to "{path}"')
    if official is not None:  # iLIDS-VID: compare with the data set's own splits
        mat = 'train_test_splits_ilidsvid.mat'
        differ = [i for i, (a, b) in enumerate(zip(splits, official)) if a != b]
        if len(official) != len(splits):
            print(f"the data set's own {mat} holds {len(official)} splits, not {len(splits)}")
        elif differ:
            print(f"they differ from the data set's own splits ({mat}) in split ids {differ}")
        else:
            print(f"they equal the data set's own splits ({mat})")
    return 0


if __name__ == '__main__':
    sys.exit(main())

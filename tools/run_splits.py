"""The 10-split protocol of PRID2011 and iLIDS-VID: train and evaluate every split.

Usage::

    python tools/run_splits.py --config-file configs/dal_resnet50_prid2011.yaml \\
        --root reid-data [--splits 10] [KEY VALUE ...]

Each split ``i`` (``data.split_id i``) writes ``<data.save_dir>/split<i>/results.json``;
``<data.save_dir>/results.json`` then holds the mean and standard deviation of
rank-1/5/10/20 and mAP over the splits.
"""
from __future__ import annotations

import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import dal_torchreid  # noqa: E402,F401  (registers the plugin)
from dal_torchreid.builder import run_split_protocol  # noqa: E402
from dal_torchreid.config import ENGINES, load_config  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--config-file', default='', help='path to a YAML config')
    parser.add_argument('--root', default='', help='data root (data.root)')
    parser.add_argument('--engine', default='', choices=('',) + ENGINES)
    parser.add_argument('--splits', type=int, default=10, help='number of splits to run')
    parser.add_argument('opts', nargs=argparse.REMAINDER, help='KEY VALUE overrides')
    args = parser.parse_args(argv)
    opts = list(args.opts or [])
    if args.root:
        opts += ['data.root', args.root]
    if args.engine:
        opts += ['loss.name', args.engine]
    try:
        cfg = load_config(args.config_file or None, opts)
        record = run_split_protocol(cfg, args.splits)
    except (KeyError, ValueError, FileNotFoundError, RuntimeError) as err:
        print('error: {}'.format(err.args[0] if err.args else err), file=sys.stderr)
        return 2
    for name, metrics in record['targets'].items():
        print('{}: rank-1 {:.1%} +- {:.1%}, mAP {:.1%} +- {:.1%} over {} splits'.format(
            name, metrics['rank1']['mean'], metrics['rank1']['std'],
            metrics['mAP']['mean'], metrics['mAP']['std'], record['num_splits']))
    return 0


if __name__ == '__main__':
    sys.exit(main())

"""The 10-split protocol of PRID2011 and iLIDS-VID: train and evaluate every split.

Usage::

    dal-run-splits --config-file configs/dal_resnet50_prid2011.yaml \\
        --root reid-data [--splits 10] [--redo] [KEY VALUE ...]

Each split ``i`` (``data.split_id i``) writes ``<data.save_dir>/split<i>/results.json``;
``<data.save_dir>/results.json`` then holds the mean and standard deviation of
rank-1/5/10/20 and mAP over the splits. ``--splits`` (default: every split of the
split file) is checked against the data sets' split files before anything trains.
A split that a finished run of the same config wrote is kept (``--redo`` runs it
again), so a run that stopped at split 7 continues from split 7. The console goes
to ``<data.save_dir>/splits.log-<time>`` too; input errors end the tool with one
line (naming the split that failed) and exit code 2, as ``dal-train``.
"""
from __future__ import annotations

import os.path as osp
import sys

from dal_torchreid.cli.args import build_parser, config_from_command_line, parse_args
from dal_torchreid.cli.console import INPUT_ERRORS, run_logged
from dal_torchreid.data.datamanager import available_splits
from dal_torchreid.data.splits import NUM_SPLITS, SplitFileError
from dal_torchreid.experiment.run import run_split_protocol


def main(argv=None) -> int:
    parser = build_parser(__doc__.splitlines()[0])
    parser.add_argument('--splits', type=int, default=None,
                        help='number of splits to run (default: all of the split file)')
    parser.add_argument('--redo', action='store_true',
                        help='run every split again, even one a finished run of this config wrote')
    args = parse_args(parser, argv)
    if args.splits is not None and args.splits < 1:
        parser.error(f'--splits must be >= 1, got {args.splits}')
    try:
        cfg = config_from_command_line(args)
        if args.print_config:
            print(cfg.dump(), end='')
            return 0
        num_splits = splits_to_run(cfg, args.splits)
    except INPUT_ERRORS as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    return run_logged(cfg, lambda: _run(cfg, num_splits, args.redo), 'splits.log',
                      resume_advice='to continue, run the same command again: finished '
                                    'splits are kept, the interrupted one starts over')[0]


def splits_to_run(cfg, requested: int | None) -> int:
    """``requested`` (or, when None, every split), checked against the split files of
    the config's data sets; raises ``SplitFileError`` naming the file."""
    root = osp.abspath(osp.expanduser(cfg.data.root))
    counts = [found for name in dict.fromkeys(list(cfg.data.sources) + list(cfg.data.targets))
              if (found := available_splits(root, name)) is not None]
    if not counts:
        return NUM_SPLITS if requested is None else requested
    available, where = min(counts)
    if requested is None:
        return available
    if requested > available:
        raise SplitFileError(f'--splits {requested}: {where}')
    return requested


def _run(cfg, num_splits: int, redo: bool) -> dict:
    """The protocol, then its summary line per target."""
    record = run_split_protocol(cfg, num_splits, redo=redo)
    for name, metrics in record['targets'].items():
        rank1, mAP = metrics['rank1'], metrics['mAP']
        print(f'{name}: rank-1 {rank1["mean"]:.1%} +- {rank1["std"]:.1%}, mAP {mAP["mean"]:.1%} '
              f'+- {mAP["std"]:.1%} over {record["num_splits"]} splits')
    return record


if __name__ == '__main__':
    sys.exit(main())

"""The 10-split protocol of PRID2011 and iLIDS-VID: train and evaluate every split.

Usage::

    dal-run-splits --config-file configs/dal_resnet50_prid2011.yaml \\
        --root reid-data [--splits 10] [KEY VALUE ...]

Each split ``i`` (``data.split_id i``) writes ``<data.save_dir>/split<i>/results.json``;
``<data.save_dir>/results.json`` then holds the mean and standard deviation of
rank-1/5/10/20 and mAP over the splits. The console goes to
``<data.save_dir>/splits.log-<time>`` too; input errors end the tool with one
line and exit code 2, as ``dal-train``.
"""
from __future__ import annotations

import sys

import dal_torchreid  # noqa: F401  (registers the plugin)
from dal_torchreid.cli.args import build_parser, config_from_command_line, parse_args
from dal_torchreid.cli.console import INPUT_ERRORS, run_logged
from dal_torchreid.experiment import run_split_protocol


def main(argv=None) -> int:
    parser = build_parser(__doc__.splitlines()[0])
    parser.add_argument('--splits', type=int, default=10, help='number of splits to run')
    args = parse_args(parser, argv)
    if args.splits < 1:
        parser.error(f'--splits must be >= 1, got {args.splits}')
    try:
        cfg = config_from_command_line(args)
    except INPUT_ERRORS as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    if args.print_config:
        print(cfg.dump(), end='')
        return 0
    return run_logged(cfg, lambda: _run(cfg, args.splits), 'splits.log')[0]


def _run(cfg, num_splits: int) -> dict:
    """The protocol, then its summary line per target."""
    record = run_split_protocol(cfg, num_splits)
    for name, metrics in record['targets'].items():
        rank1, mAP = metrics['rank1'], metrics['mAP']
        print(f'{name}: rank-1 {rank1["mean"]:.1%} +- {rank1["std"]:.1%}, mAP {mAP["mean"]:.1%} '
              f'+- {mAP["std"]:.1%} over {record["num_splits"]} splits')
    return record


if __name__ == '__main__':
    sys.exit(main())

"""Demo on CPU: an ImageNet backbone, DAL, Cluster Contrast and a supervised engine.

DAL and Cluster Contrast train from the backbone without labels; the supervised
engine trains with identities (``--footage``: on synthetic cameras, scored by
cross-camera association).

Usage (``make demo``)::

    dal-demo --root reid-data --save-dir log/demo

Writes a synthetic PRID2011-layout data set under ``--root`` if there is none, then
evaluates the ImageNet backbone untrained and trains and evaluates DAL, Cluster
Contrast and a supervised engine from it (:mod:`dal_torchreid.demo.synthetic`);
prints a table of rank-1, rank-5 and mAP, and writes
``<save-dir>/{untrained,dal,cc,supervised}/results.json`` and ``<save-dir>/cmc.png``.

``dal-demo --footage`` runs the same four on synthetic multi-camera footage instead
(:mod:`dal_torchreid.demo.footage`, ``configs/own_footage.yaml``): the tracklets of a
simulated tracker associated across cameras by each model and scored against the
footage's ground truth (cross-camera pairwise F1 and IDF1); the supervised engine
trains on the true identities of the same tracklets.
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import sys
import time

import torch

from dal_torchreid.cli.console import DIVERGENCE_ERRORS, INPUT_ERRORS
from dal_torchreid.demo.footage import DEFAULT_CONFIG as FOOTAGE_CONFIG
from dal_torchreid.demo.footage import (
    SCORES_FILE, footage_demo_configs, format_footage_table, format_report_paths,
    run_footage_demo
)
from dal_torchreid.demo.synthetic import (  # noqa: F401  (the demo's settings, for tests)
    DEFAULT_CONFIG, DEMO_DATA, ensure_synthetic_prid2011, run_synthetic_demo
)
from dal_torchreid.demo.synthetic import demo_configs as synthetic_demo_configs
from dal_torchreid.footage import FootageError, TrackFileError


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--root', default='reid-data', help='data root')
    parser.add_argument('--save-dir', default='log/demo', help='where results go')
    parser.add_argument('--config-file', default=None, help='the demo config (default: '
                        'configs/synthetic_pretrained.yaml; with --footage configs/own_footage.yaml)')
    parser.add_argument('--footage', action='store_true', help='synthetic cameras and tracker '
                        'output: cross-camera association scored against the ground truth')
    parser.add_argument('--seed', type=int, default=1, help='--footage: the footage\'s and the '
                        'training\'s seed')
    parser.add_argument('--supervised', default='triplet', choices=('softmax', 'triplet'),
                        help='torchreid engine of the supervised baseline')
    parser.add_argument('--threads', type=int, default=min(2, os.cpu_count() or 1),
                        help='torch CPU threads')
    parser.add_argument('opts', nargs=argparse.REMAINDER,
                        help='KEY VALUE overrides applied to all four runs')
    args = parser.parse_args(argv)
    if args.config_file is None:
        args.config_file = FOOTAGE_CONFIG if args.footage else DEFAULT_CONFIG
    return args


def main(argv=None) -> int:
    """Runs the demo; returns the exit status (0 done, 2 an input error, in one line)."""
    args = parse_args(argv)
    try:
        return _demo(args)
    except INPUT_ERRORS + DIVERGENCE_ERRORS + (FileExistsError, FootageError,
                                               TrackFileError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 2


def demo_configs(args: argparse.Namespace) -> dict:
    """The four runs' validated configs, in order: ``untrained`` (test only, or with
    ``--footage`` association only), ``dal``, ``cc`` and ``supervised``; reads no data."""
    if args.footage:
        return footage_demo_configs(args.config_file, args.root, args.seed, args.opts or [],
                                    args.supervised)
    return synthetic_demo_configs(args.root, args.config_file, args.opts or [], args.supervised)


def _demo(args: argparse.Namespace) -> int:
    torch.set_num_threads(args.threads)
    start = time.time()
    if args.footage:
        rows = run_footage_demo(args.root, args.save_dir, args.seed, args.config_file,
                                args.opts or [], args.supervised)
        print('\n' + format_footage_table(rows, args.supervised))
        print(format_report_paths(rows))
        print(f'Scores: "{osp.join(args.save_dir, SCORES_FILE)}"; total '
              f'{time.time() - start:.0f} s ({args.threads} threads)')
        return 0
    run_synthetic_demo(args.root, args.save_dir, args.config_file, args.opts or [],
                       args.supervised)
    print(f'total {time.time() - start:.0f} s ({args.threads} threads)')
    return 0


if __name__ == '__main__':
    sys.exit(main())

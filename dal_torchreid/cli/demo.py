"""Demo on CPU: an ImageNet backbone, DAL, Cluster Contrast and a supervised engine.

DAL and Cluster Contrast train from the backbone without labels; the supervised
engine trains with identities (``--footage``: on synthetic cameras, scored by
cross-camera association).

Usage (``make demo``)::

    dal-demo --root reid-data --save-dir log/demo

Writes a synthetic PRID2011-layout data set under ``--root`` if there is none,
then, with the backbone and settings of ``configs/synthetic_pretrained.yaml``
(an ImageNet-pretrained MobileNet-v2, the paper's setting):

1. evaluates the pretrained backbone untrained (test only);
2. trains and evaluates DAL from it, without identity labels;
3. trains and evaluates Cluster Contrast (the config's ``cc.*`` settings) from it,
   without identity labels, on DAL's frames per step and total training frames;
4. trains and evaluates torchreid's supervised engine (triplet by default) WITH
   identity labels, from the same weights, on DAL's frames per step and total
   training frames (:mod:`dal_torchreid.budget`, as ``dal-train --engine`` does).

Prints a table of rank-1, rank-5 and mAP, and writes
``<save-dir>/{untrained,dal,cc,supervised}/results.json`` and ``<save-dir>/cmc.png``.

``dal-demo --footage`` runs the same four on synthetic multi-camera footage instead
(:mod:`dal_torchreid.footage_demo`, ``configs/own_footage.yaml``): the tracklets of a
simulated tracker associated across cameras by each model and scored against the
footage's ground truth (cross-camera pairwise F1 and IDF1); the supervised engine
trains on the true identities of the same tracklets.
"""
from __future__ import annotations

import argparse
import json
import os
import os.path as osp
import sys
import time
import warnings

import torch

import dal_torchreid  # noqa: F401  (registers the plugin)
from dal_torchreid.cli.console import DIVERGENCE_ERRORS, INPUT_ERRORS
from dal_torchreid.config import load_config
from dal_torchreid.data.footage import FootageError, TrackFileError
from dal_torchreid.data.synthetic import (
    DATASET_DIRS, INFO_FILE, SyntheticConfig, check_synthetic_folder, make_synthetic_dataset
)
from dal_torchreid.results import format_table, plot_cmc_curves
from dal_torchreid.experiment import run_experiment
from dal_torchreid.footage_demo import DEFAULT_CONFIG as FOOTAGE_CONFIG
from dal_torchreid.footage_demo import (
    SCORES_FILE, footage_demo_configs, format_footage_table, run_footage_demo, run_titles
)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEFAULT_CONFIG = osp.join(REPO, 'configs', 'synthetic_pretrained.yaml')

# The demo's synthetic set: PRID2011's 200 people, split 100/100 into train and
# test as the release's splits are, written at the config's input size; the
# generator's defaults for the rest (16-40 frames per tracklet).
DEMO_DATA = {'ids': 200}

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


def ensure_synthetic_prid2011(root: str, height: int, width: int,
                              data: dict | None = None) -> str:
    """The synthetic PRID2011 folder under ``root``, written first if absent, with the
    generator settings ``data`` (default :data:`DEMO_DATA`)."""
    folder = osp.join(root, DATASET_DIRS['prid2011'])
    wanted = SyntheticConfig.for_layout('prid2011', height=height, width=width,
                                        **(DEMO_DATA if data is None else data))
    if not osp.isdir(folder):
        start = time.time()
        make_synthetic_dataset('prid2011', root, wanted)
        print(f'=> Wrote the synthetic PRID2011 set to "{folder}" in {time.time() - start:.0f} s')
        return folder
    check_synthetic_folder(folder, 'the demo is sized for its own synthetic data: pass '
                                   'another --root')
    with open(osp.join(folder, INFO_FILE)) as f:
        found = json.load(f).get('config', {})
    differs = {k: v for k, v in vars(wanted).items() if found.get(k, v) != v}
    if differs:
        warnings.warn(f'using the synthetic set in "{folder}", written with other settings than '
                      f'the ones asked for ({differs}); numbers will differ from docs/experiments.md')
    return folder


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
    common = ['data.root', args.root] + list(args.opts or [])
    return {
        'untrained': load_config(args.config_file, common + ['test.evaluate', True]),
        'dal': load_config(args.config_file, common),
        'cc': load_config(args.config_file, common + ['loss.name', 'cc']),
        'supervised': load_config(args.config_file, common + ['loss.name', args.supervised]),
    }


def _demo(args: argparse.Namespace) -> int:
    torch.set_num_threads(args.threads)
    start = time.time()
    if args.footage:
        rows = run_footage_demo(args.root, args.save_dir, args.seed, args.config_file,
                                args.opts or [], args.supervised)
        print('\n' + format_footage_table(rows, args.supervised))
        print(f'Scores: "{osp.join(args.save_dir, SCORES_FILE)}"; total '
              f'{time.time() - start:.0f} s ({args.threads} threads)')
        return 0
    configs = demo_configs(args)
    base = configs['dal']
    ensure_synthetic_prid2011(args.root, base.data.height, base.data.width)

    titles = run_titles(base.model.name, args.supervised, 'test only', 'identity labels')
    records = {}
    for i, (key, cfg) in enumerate(configs.items(), 1):
        print(f'\n=> [{i}/{len(configs)}] {titles[key]}')
        records[key] = run_experiment(cfg, save_dir=osp.join(args.save_dir, key))

    labels = {'untrained': 'untrained (test only)', 'dal': 'DAL (no labels)',
              'cc': 'Cluster Contrast (no labels)',
              'supervised': f'{args.supervised} (identity labels)'}
    curves = {labels[key]: next(iter(rec['targets'].values()))['cmc']
              for key, rec in records.items()}
    plot = plot_cmc_curves(curves, osp.join(args.save_dir, 'cmc.png'),
                           title=f'synthetic PRID2011, {base.model.name}')
    total = time.time() - start
    print('\n' + format_table(records))
    r1 = {label: next(iter(rec['targets'].values()))['rank1'] for label, rec in records.items()}
    over_untrained = f'{r1["dal"] / r1["untrained"]:.1f}x' if r1['untrained'] > 0 else 'inf'
    over_supervised = f'{r1["dal"] / r1["supervised"]:.2f}x' if r1['supervised'] > 0 else 'inf'
    print(f'\nDAL rank-1 / untrained: {over_untrained}; DAL rank-1 / supervised: {over_supervised}')
    cc_over_dal = f'{r1["cc"] / r1["dal"]:.2f}x' if r1['dal'] > 0 else 'inf'
    print(f'Cluster Contrast rank-1 / DAL: {cc_over_dal}')
    print(f'CMC curves: "{plot}"; results: "{args.save_dir}/*/results.json"; '
          f'total {total:.0f} s ({args.threads} threads)')
    return 0


if __name__ == '__main__':
    sys.exit(main())

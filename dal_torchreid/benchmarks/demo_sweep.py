"""The demo's settings, chosen by measurement: a small grid of ``dal-train`` runs on CPU.

On a synthetic PRID2011-layout set under ``--root`` (written first if absent: the
demo's, 200 people and 16-40 frames per tracklet at the config's input size,
unless ``--ids``/``--min-frames``/``--max-frames`` say otherwise) and from the
ImageNet MobileNet-v2 of ``configs/synthetic_pretrained.yaml``, runs:

1. the backbone untrained (test only);
2. DAL once per ``--variants`` (named override sets, below), ``--epochs`` epochs;
3. torchreid's triplet engine from the same weights on DAL's frame budget
   (``dal-train --engine triplet``: the shared budget of :mod:`dal_torchreid.experiment.budget`)
   with the schedule of ``--supervised-variant``;

each a separate ``dal-train`` process, then prints one table of every finished run
under ``--save-dir`` (rank-1, mAP, frames seen, wall time) with DAL's rank-1 over
the untrained and the supervised rank-1.

Usage::

    python -m dal_torchreid.benchmarks.demo_sweep --root reid-data
    python -m dal_torchreid.benchmarks.demo_sweep --variants demo lr3e-4 --reuse
    python -m dal_torchreid.benchmarks.demo_sweep --root /tmp/short --ids 100 \
        --min-frames 8 --max-frames 16 --save-dir log/sweep-short --epochs 10
    python -m dal_torchreid.benchmarks.demo_sweep --summary
"""
from __future__ import annotations

import argparse
import json
import os
import os.path as osp
import subprocess
import sys

from dal_torchreid.demo.synthetic import DEFAULT_CONFIG, DEMO_DATA, ensure_synthetic_prid2011
from dal_torchreid.experiment.config import load_config
from dal_torchreid.experiment.results import RESULTS_FILENAME

# DAL's settings tried, as overrides of the demo config (Adam lr 3e-4, x0.1 after epoch 5,
# 16-frame steps). A batch variant keeps the supervised engine's 8 clips a step.
CONSTANT = ['train.stepsize', '[1000]']
VARIANTS = {
    'demo': [],
    'batch32': ['train.batch_size', '32', 'video.seq_len', '4'],
    'batch64': ['train.batch_size', '64', 'video.seq_len', '8'],
    'lr3e-4': CONSTANT,
    'lr1e-4': ['train.lr', '0.0001', *CONSTANT],
    'lr1e-3-decay5': ['train.lr', '0.001'],
    'features': ['dal.anchor_init', 'features'],
}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--root', default='reid-data', help='data root of the demo set')
    parser.add_argument('--save-dir', default='log/demo-sweep')
    parser.add_argument('--config-file', default=DEFAULT_CONFIG)
    parser.add_argument('--variants', nargs='*', default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument('--supervised-variant', default='demo', choices=list(VARIANTS),
                        help='the schedule the triplet baseline shares with DAL')
    parser.add_argument('--epochs', type=int, default=8, help='DAL epochs (the budget)')
    parser.add_argument('--ids', type=int, default=DEMO_DATA['ids'],
                        help='people in the set written when --root has none')
    parser.add_argument('--min-frames', type=int, default=None,
                        help='fewest frames per tracklet of that set (generator default)')
    parser.add_argument('--max-frames', type=int, default=None,
                        help='most frames per tracklet of that set (generator default)')
    parser.add_argument('--threads', type=int, default=2, help='torch threads per run')
    parser.add_argument('--reuse', action='store_true', help='skip runs already finished')
    parser.add_argument('--summary', action='store_true', help='only print the table')
    parser.add_argument('opts', nargs='*', help='KEY VALUE overrides for every run')
    return parser.parse_args(argv)


def run(args: argparse.Namespace, name: str, *extra: str) -> None:
    """One ``dal-train`` process writing ``<save-dir>/<name>/results.json``."""
    save_dir = osp.join(args.save_dir, name)
    if args.reuse and osp.isfile(osp.join(save_dir, RESULTS_FILENAME)):
        return
    command = [sys.executable, '-m', 'dal_torchreid.cli.train', '--config-file', args.config_file,
               '--root', args.root, 'data.save_dir', save_dir, 'train.max_epoch',
               str(args.epochs), *args.opts, *extra]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    print(f'=> {name}: {" ".join(command[3:])}', flush=True)
    done = subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True)
    if done.returncode != 0:
        raise RuntimeError(f'run {name} failed ({done.returncode}): {done.stderr[-2000:]}')


def collect(save_dir: str) -> dict:
    """``{run name: results record}`` of the finished runs under ``save_dir``."""
    records = {}
    for name in sorted(os.listdir(save_dir)) if osp.isdir(save_dir) else []:
        path = osp.join(save_dir, name, RESULTS_FILENAME)
        if osp.isfile(path):
            with open(path) as f:
                records[name] = json.load(f)
    return records


def format_sweep(records: dict) -> str:
    """The table of every run, with DAL's rank-1 over the untrained and supervised ones."""
    def rank1(record):
        return next(iter(record['targets'].values()))['rank1']

    base = rank1(records['untrained']) if 'untrained' in records else None
    supervised = rank1(records['triplet']) if 'triplet' in records else None
    lines = [f'{"run":<22} {"epochs":>6} {"rank-1":>7} {"mAP":>7} {"frames":>7} {"time s":>7}'
             f' {"/untrained":>10} {"/triplet":>9}']
    for name, record in records.items():
        m = next(iter(record['targets'].values()))
        ratios = [f'{m["rank1"] / ref:.2f}x' if ref and name.startswith('dal-') else ''
                  for ref in (base, supervised)]
        lines.append(f'{name:<22} {record["epochs"]:>6} {m["rank1"]:>7.1%} {m["mAP"]:>7.1%} '
                     f'{record["frames_seen"]:>7} {record["wall_time_s"]:>7.0f} '
                     f'{ratios[0]:>10} {ratios[1]:>9}')
    return '\n'.join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    if not args.summary:
        cfg = load_config(args.config_file, list(args.opts))
        data = {'ids': args.ids}  # the generator's frame range unless given
        if args.min_frames is not None:
            data['min_frames'] = args.min_frames
        if args.max_frames is not None:
            data['max_frames'] = args.max_frames
        ensure_synthetic_prid2011(args.root, cfg.data.height, cfg.data.width, data)
        run(args, 'untrained', 'test.evaluate', 'True')
        for name in args.variants:
            run(args, f'dal-{name}', *VARIANTS[name])
        run(args, 'triplet', '--engine', 'triplet', *VARIANTS[args.supervised_variant])
    print(format_sweep(collect(args.save_dir)))
    return 0


if __name__ == '__main__':
    sys.exit(main())

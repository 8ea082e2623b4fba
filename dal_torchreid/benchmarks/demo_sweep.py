"""Demo settings for DAL on ImageNet MobileNet-v2: a small grid of tools/train.py runs on CPU.

Which input size, learning rate and epochs let DAL beat the untrained backbone
clearly and come close to supervised training on the same frames?

For every input size it writes the demo's synthetic PRID2011-layout set (as
``tools/demo.py``: 100 people, 8-16 frames per tracklet, rendered at that size)
under ``<root>/<H>x<W>`` if absent, then runs with ``configs/synthetic_demo.yaml``
and ``mobilenetv2_x1_0`` started from the converted ImageNet weights
(``model.load_weights``, ImageNet normalisation):

1. the untrained (ImageNet) backbone, test only;
2. DAL for each learning rate (Adam, ``--epochs`` epochs);
3. torchreid's ``VideoTripletEngine`` with identity labels (8 tracklets of 8
   frames per step, ``RandomIdentitySampler`` with 2 instances) at DAL's best
   learning rate for that size (or ``--supervised-lrs``), for as many epochs as
   give the same number of training frames as DAL.

Each run is a separate ``tools/train.py`` process with ``--threads`` torch
threads, in ``<save-dir>/<input>-<engine>-lr<lr>-e<epochs>``. The table lists
every finished run under ``--save-dir`` (so successive invocations add up):
rank-1, mAP, training frames seen, training and process wall time, then DAL's
rank-1 over the untrained backbone's and over the supervised run's with the same
input and training frames. It is also written to ``<save-dir>/sweep.json``.

Example::

    dal-fetch-weights    # or: python -m dal_torchreid.cli.fetch_weights
    python benchmarks/demo_sweep.py --sizes 64x32 128x64 --lrs 3e-4 1e-3 --epochs 10
    python benchmarks/demo_sweep.py --sizes 64x32 --lrs 1e-3 --epochs 15 --reuse
    python benchmarks/demo_sweep.py --summary
"""
from __future__ import annotations

import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import time

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, osp.join(REPO, 'tools'))

import dal_torchreid  # noqa: E402,F401  (registers the plugin)
from dal_torchreid.builder import build_datamanager  # noqa: E402
from dal_torchreid.config import load_config  # noqa: E402
from dal_torchreid.models.imagenet import imagenet_weights_file  # noqa: E402
from dal_torchreid.results import read_results  # noqa: E402
from demo import DEFAULT_CONFIG, ensure_synthetic_prid2011  # noqa: E402

IMAGENET_NORM = ['data.norm_mean', '[0.485, 0.456, 0.406]',
                 'data.norm_std', '[0.229, 0.224, 0.225]']
# Per run directory: the run's settings and the wall time of its whole process.
RUN_FILE = 'sweep_run.json'
# The supervised baseline: DAL's 64 frames per step as 8 tracklets of 8 frames.
TRIPLET = ['loss.name', 'triplet', 'train.batch_size', '8', 'video.seq_len', '8',
           'sampler.train_sampler', 'RandomIdentitySampler', 'sampler.num_instances', '2']


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--root', default='reid-data/demo-sweep',
                        help='data root; each size gets <root>/<H>x<W>')
    parser.add_argument('--save-dir', default='log/demo-sweep')
    parser.add_argument('--weights', default='',
                        help='converted ImageNet weights (default: the dal-fetch-weights cache)')
    parser.add_argument('--sizes', nargs='+', default=['64x32', '128x64'], help='HxW inputs')
    parser.add_argument('--lrs', nargs='*', type=float, default=[3e-4, 1e-3],
                        help='Adam learning rates of DAL (none: only the untrained backbone)')
    parser.add_argument('--supervised-lrs', nargs='*', type=float, default=None,
                        help='learning rates of the supervised run (default: DAL\'s best)')
    parser.add_argument('--epochs', type=int, default=10, help='DAL epochs')
    parser.add_argument('--threads', type=int, default=2, help='torch threads per run')
    parser.add_argument('--no-supervised', action='store_true',
                        help='skip the supervised baseline')
    parser.add_argument('--reuse', action='store_true',
                        help='do not rerun runs already finished under --save-dir')
    parser.add_argument('--summary', action='store_true',
                        help='only print the table of the runs under --save-dir')
    return parser.parse_args(argv)


def train(run: dict, root: str, save_dir: str, opts: list, threads: int,
          reuse: bool = False) -> dict:
    """Runs ``tools/train.py`` with the demo config and ``opts``; its results record.

    ``run`` (engine, input, lr, epochs) names the run directory and is stored in it
    with the process's wall time. With ``reuse``, a finished run is not rerun.
    """
    name = run_name(run)
    run_dir = osp.join(save_dir, name)
    if reuse and osp.isfile(osp.join(run_dir, RUN_FILE)):
        print(f'{name:<28} (reused)', flush=True)
        return read_results(run_dir)
    command = [sys.executable, osp.join(REPO, 'tools', 'train.py'),
               '--config-file', DEFAULT_CONFIG, '--root', root,
               'data.save_dir', run_dir] + [str(o) for o in opts]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    os.makedirs(run_dir, exist_ok=True)
    start = time.time()
    with open(osp.join(run_dir, 'stdout.log'), 'w') as log:
        done = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    if done.returncode != 0:
        raise RuntimeError(f'run {name} failed (exit status {done.returncode}); '
                           f'see "{osp.join(run_dir, "stdout.log")}"')
    process_s = time.time() - start
    with open(osp.join(run_dir, RUN_FILE), 'w') as f:
        json.dump({**run, 'process_s': round(process_s, 1), 'threads': threads}, f)
    record = read_results(run_dir)
    metrics = next(iter(record['targets'].values()))
    print(f'{name:<28} rank-1 {100 * metrics["rank1"]:5.1f}%  mAP {100 * metrics["mAP"]:5.1f}%  '
          f'frames {record["frames_seen"]:>6}  {process_s:5.0f} s', flush=True)
    return record


def run_name(run: dict) -> str:
    if run['engine'] == 'untrained':
        return f'{run["input"]}-untrained'
    return f'{run["input"]}-{run["engine"]}-lr{run["lr"]:g}-e{run["epochs"]}'


def triplet_epochs(root: str, opts: list, frames: int) -> int:
    """Epochs of the supervised baseline that see about ``frames`` training frames."""
    cfg = load_config(DEFAULT_CONFIG, ['data.root', root] + opts)
    loader = build_datamanager(cfg).train_loader
    per_epoch = len(loader) * loader.batch_size * cfg.video.seq_len
    return max(1, round(frames / per_epoch))


def collect(save_dir: str) -> list:
    """Every finished run under ``save_dir``: its settings, metrics and times."""
    table = []
    for name in sorted(os.listdir(save_dir)):
        run_file = osp.join(save_dir, name, RUN_FILE)
        if not osp.isfile(run_file):
            continue
        with open(run_file) as f:
            run = json.load(f)
        record = read_results(osp.join(save_dir, name))
        m = next(iter(record['targets'].values()))
        table.append({**run, 'rank1': m['rank1'], 'mAP': m['mAP'],
                      'frames_seen': record['frames_seen'], 'wall_time_s': record['wall_time_s']})
    order = {'untrained': 0, 'dal': 1, 'triplet': 2}
    table.sort(key=lambda r: (r['input'], order[r['engine']], r['lr'] or 0, r['epochs']))
    return table


def print_table(table: list) -> None:
    """The runs, then DAL's rank-1 over the untrained backbone's and over the
    supervised run's with the same input size and training frames."""
    print(f'\n{"engine":<10} {"input":>7} {"lr":>7} {"epochs":>6} {"rank-1":>7} {"mAP":>7} '
          f'{"frames":>7} {"train s":>8} {"process s":>9}')
    for r in table:
        lr = f'{r["lr"]:g}' if r['lr'] else '-'
        print(f'{r["engine"]:<10} {r["input"]:>7} {lr:>7} '
              f'{r["epochs"]:>6} {100 * r["rank1"]:>6.1f}% {100 * r["mAP"]:>6.1f}% '
              f'{r["frames_seen"]:>7} {r["wall_time_s"]:>8.0f} {r["process_s"]:>9.0f}')
    print()
    for r in (r for r in table if r['engine'] == 'dal'):
        same = [b for b in table if b['input'] == r['input']]
        untrained = [b for b in same if b['engine'] == 'untrained']
        supervised = [b for b in same if b['engine'] == 'triplet'
                      and abs(b['frames_seen'] - r['frames_seen']) <= 0.1 * r['frames_seen']]
        ratios = []
        for label, base in (('untrained', untrained), ('supervised', supervised)):
            for b in base:
                value = f'{r["rank1"] / b["rank1"]:.2f}x' if b['rank1'] else 'inf'
                suffix = f' (triplet lr {b["lr"]:g})' if label == 'supervised' else ''
                ratios.append(f'{value} {label}{suffix}')
        print(f'DAL {r["input"]} lr {r["lr"]:g} e{r["epochs"]}: rank-1 = '
              f'{", ".join(ratios) or "no baseline"}')


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.summary:
        print_table(collect(args.save_dir))
        return 0
    weights = args.weights or imagenet_weights_file('mobilenetv2_x1_0')
    if not osp.isfile(weights):
        print(f'error: ImageNet weights file "{weights}" does not exist; run dal-fetch-weights '
              f'(python -m dal_torchreid.cli.fetch_weights) first', file=sys.stderr)
        return 2
    for size in args.sizes:
        height, width = (int(v) for v in size.split('x'))
        root = osp.join(args.root, size)
        ensure_synthetic_prid2011(root, height, width)
        common = ['model.name', 'mobilenetv2_x1_0', 'model.pretrained', 'False',
                  'model.load_weights', weights, 'data.height', height, 'data.width', width,
                  ] + IMAGENET_NORM
        run = {'engine': 'untrained', 'input': size, 'lr': None, 'epochs': 0}
        train(run, root, args.save_dir, common + ['test.evaluate', 'True'], args.threads,
              args.reuse)
        dal = {}
        for lr in args.lrs:
            run = {'engine': 'dal', 'input': size, 'lr': lr, 'epochs': args.epochs}
            dal[lr] = train(run, root, args.save_dir,
                            common + ['train.lr', lr, 'train.max_epoch', args.epochs],
                            args.threads, args.reuse)
        if args.no_supervised or not dal:
            continue
        lrs = args.supervised_lrs or [max(
            dal, key=lambda lr: next(iter(dal[lr]['targets'].values()))['rank1'])]
        frames = max(record['frames_seen'] for record in dal.values())
        for lr in lrs:
            opts = common + TRIPLET + ['train.lr', lr]
            epochs = triplet_epochs(root, opts, frames)
            run = {'engine': 'triplet', 'input': size, 'lr': lr, 'epochs': epochs}
            train(run, root, args.save_dir, opts + ['train.max_epoch', epochs], args.threads,
                  args.reuse)
    table = collect(args.save_dir)
    print_table(table)
    with open(osp.join(args.save_dir, 'sweep.json'), 'w') as f:
        json.dump({'weights': weights, 'runs': table}, f, indent=2)
    return 0


if __name__ == '__main__':
    sys.exit(main())

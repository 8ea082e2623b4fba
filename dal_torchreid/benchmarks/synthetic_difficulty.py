"""Is the synthetic PRID2011 set hard but learnable? Untrained vs identity-supervised rank-1.

Generates the default synthetic PRID2011 set (unless ``--root`` already holds
one), evaluates a randomly initialised torchreid backbone, trains it with
identity labels (torchreid's ``VideoSoftmaxEngine``) and evaluates again, on
CPU. The set should leave the untrained model low and the trained one high.

Example::

    python -m dal_torchreid.benchmarks.synthetic_difficulty --epochs 15
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

import torch
import torchreid

from dal_torchreid.data.datamanager import build_video_datamanager
from dal_torchreid.data.synthetic import DATASET_DIRS, SyntheticConfig, make_synthetic_dataset


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--root', default=None, help='data root (default: a temporary folder)')
    parser.add_argument('--data-seed', type=int, default=0, help='generator seed of a new set')
    parser.add_argument('--backbone', default='resnet18')
    parser.add_argument('--height', type=int, default=64, help='network input height')
    parser.add_argument('--width', type=int, default=32, help='network input width')
    parser.add_argument('--seq-len', type=int, default=4)
    parser.add_argument('--batch-size', type=int, default=8, help='tracklets per training batch')
    parser.add_argument('--epochs', type=int, default=20)
    parser.add_argument('--lr', type=float, default=3e-4)
    parser.add_argument('--transforms', nargs='+', default=['random_flip', 'color_jitter'])
    parser.add_argument('--seed', type=int, default=1, help='torch seed of the model and sampling')
    parser.add_argument('--threads', type=int, default=2)
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    root = args.root or tempfile.mkdtemp(prefix='synthetic-reid-')
    start = time.perf_counter()
    if not os.path.exists(os.path.join(root, DATASET_DIRS['prid2011'])):
        make_synthetic_dataset('prid2011', root, SyntheticConfig.for_layout('prid2011', seed=args.data_seed))
    generated = time.perf_counter() - start

    torchreid.utils.set_random_seed(args.seed)
    datamanager = build_video_datamanager(
        root=root, sources='prid2011', height=args.height, width=args.width,
        transforms=args.transforms, batch_size_train=args.batch_size, batch_size_test=16,
        seq_len=args.seq_len, workers=0, use_gpu=False,
    )
    model = torchreid.models.build_model(
        args.backbone, num_classes=datamanager.num_train_pids, loss='softmax', pretrained=False
    )
    optimizer = torchreid.optim.build_optimizer(model, optim='adam', lr=args.lr)
    # Engine.run saves a checkpoint at the end, which needs a scheduler.
    scheduler = torchreid.optim.build_lr_scheduler(
        optimizer, lr_scheduler='single_step', stepsize=max(2 * args.epochs // 3, 1)
    )
    engine = torchreid.engine.VideoSoftmaxEngine(
        datamanager, model, optimizer=optimizer, scheduler=scheduler, use_gpu=False
    )
    untrained = engine.test()  # what run(test_only=True) does, returning rank-1
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as save_dir:
        engine.run(save_dir=save_dir, max_epoch=args.epochs, print_freq=1000)
    trained = engine.test()
    seconds = time.perf_counter() - start
    print(f'\nsynthetic prid2011 ({root}, generated in {generated:.0f}s), {args.backbone} '
          f'{args.height}x{args.width}, seq_len {args.seq_len}, {args.epochs} epochs '
          f'({seconds:.0f}s on CPU, {args.threads} threads)')
    print(f'rank-1 untrained {untrained:.1%}   supervised {trained:.1%}')


if __name__ == '__main__':
    main()

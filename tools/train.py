"""Train and/or evaluate a video re-id model: DAL, or torchreid's supervised engines.

Usage::

    python tools/train.py --config-file configs/dal_resnet50_prid2011.yaml --root reid-data
    python tools/train.py --config-file configs/dal_resnet50_prid2011.yaml --root reid-data \\
        --engine softmax data.save_dir log/softmax-resnet50-prid2011
    python tools/train.py --config-file configs/dal_resnet50_prid2011.yaml --root reid-data \\
        test.evaluate True model.load_weights log/dal-resnet50-prid2011/model/model.pth.tar-64
    torchrun --nproc_per_node=4 tools/train.py --config-file configs/dal_resnet50_mars.yaml \\
        --root reid-data     # DAL on 4 GPUs, one process each (gloo on the CPU)

Any ``KEY VALUE`` pair after the options overrides the config (see
``dal_torchreid/config.py``); results go to ``<data.save_dir>/results.json``.
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import sys
import time

import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import dal_torchreid  # noqa: E402,F401  (registers the plugin)
from dal_torchreid.builder import PretrainedWeightsError, run_experiment  # noqa: E402
from dal_torchreid.data.frame_reading import BadFrameError  # noqa: E402
from dal_torchreid.data.layouts import DataLayoutError  # noqa: E402
from dal_torchreid.config import ENGINES, config_from_command_line, uses_gpu  # noqa: E402
from dal_torchreid.engine.distributed import init_from_environment, is_main_process  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    """The tools' shared arguments: config file, data root, engine, KEY VALUE overrides."""
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--config-file', type=str, default='', help='path to a YAML config')
    parser.add_argument('--root', type=str, default='', help='data root (data.root)')
    parser.add_argument('--engine', type=str, default='', choices=('',) + ENGINES,
                        help='dal, or torchreid\'s supervised softmax / triplet (loss.name)')
    parser.add_argument('opts', default=None, nargs=argparse.REMAINDER,
                        help='KEY VALUE pairs overriding the config')
    return parser


def parse_args(argv=None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


# Errors that are the input's fault: reported in one line naming the file or key.
INPUT_ERRORS = (DataLayoutError, PretrainedWeightsError, BadFrameError, FileNotFoundError)


def main(argv=None) -> int:
    try:
        return _main(argv)
    except INPUT_ERRORS as err:
        print('error: {}'.format(err), file=sys.stderr)
        return 2


def _main(argv=None) -> int:
    args = parse_args(argv)
    try:
        cfg = config_from_command_line(args.config_file, args.root, args.engine, args.opts)
    except (KeyError, ValueError, FileNotFoundError) as err:
        print('error: {}'.format(err.args[0] if err.args else err), file=sys.stderr)
        return 2

    distributed = init_from_environment(uses_gpu(cfg))
    try:
        if not is_main_process():  # only rank 0 prints and writes
            with open(os.devnull, 'w') as quiet:
                console, sys.stdout = sys.stdout, quiet
                try:
                    run_experiment(cfg)
                finally:
                    sys.stdout = console
            return 0
        log_name = 'test.log' if cfg.test.evaluate else 'train.log'
        log_name += time.strftime('-%Y-%m-%d-%H-%M-%S')
        os.makedirs(cfg.data.save_dir, exist_ok=True)
        with open(osp.join(cfg.data.save_dir, log_name), 'w') as log_file:
            console, sys.stdout = sys.stdout, _Tee(sys.stdout, log_file)
            try:
                print('Show configuration\n{}\n'.format(cfg))
                run_experiment(cfg)
            finally:
                sys.stdout = console
    finally:
        if distributed:
            torch.distributed.destroy_process_group()
    return 0


class _Tee:
    """Console output copied to a log file, as torchreid's ``Logger`` (which closes the
    console when it is collected, so cannot be used in-process)."""

    def __init__(self, *streams):
        self.streams = streams

    def write(self, text):
        for stream in self.streams:
            stream.write(text)

    def flush(self):
        for stream in self.streams:
            stream.flush()


if __name__ == '__main__':
    sys.exit(main())

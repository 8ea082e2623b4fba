"""Train and/or evaluate a video re-id model: DAL, or torchreid's supervised engines.

Usage::

    dal-train --config-file configs/dal_resnet50_prid2011.yaml --root reid-data
    dal-train --config-file configs/dal_resnet50_prid2011.yaml --root reid-data \\
        --engine softmax data.save_dir log/softmax-resnet50-prid2011
    dal-train --config-file configs/dal_resnet50_prid2011.yaml --root reid-data \\
        test.evaluate True model.load_weights log/dal-resnet50-prid2011/model/model.pth.tar-64
    torchrun --nproc_per_node=4 tools/train.py --config-file configs/dal_resnet50_mars.yaml \\
        --root reid-data     # DAL on 4 GPUs, one process each (gloo on the CPU)

Any ``KEY VALUE`` pair after the options overrides the config (see
``dal_torchreid/config.py``); results go to ``<data.save_dir>/results.json``.
"""
from __future__ import annotations

import contextlib
import os
import os.path as osp
import sys
import time
import traceback

import torch

import dal_torchreid  # noqa: F401  (registers the plugin)
from dal_torchreid.budget import EmptyEpochError
from dal_torchreid.builder import PretrainedWeightsError, uses_gpu
from dal_torchreid.cli.args import build_parser, config_from_command_line, parse_args
from dal_torchreid.config import ConfigError
from dal_torchreid.data.datamanager import DataLayoutError
from dal_torchreid.data.frame_reading import BadFrameError
from dal_torchreid.engine.checkpoint import CheckpointError
from dal_torchreid.engine.distributed import init_from_environment, is_main_process
from dal_torchreid.experiment import run_experiment
from dal_torchreid.models import WeightsError


# Errors that are the input's fault: one line naming the file or key, exit code 2.
INPUT_ERRORS = (ConfigError, DataLayoutError, PretrainedWeightsError, BadFrameError,
                CheckpointError, EmptyEpochError, WeightsError, FileNotFoundError)
# A run that diverged (NaN or infinite loss, weights or features): one line naming the
# epoch, exit code 2; nothing of it is saved or scored.
DIVERGENCE_ERRORS = (FloatingPointError,)


def main(argv=None) -> int:
    args = parse_args(build_parser(__doc__.splitlines()[0]), argv)
    try:
        cfg = config_from_command_line(args)
    except INPUT_ERRORS as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    distributed = init_from_environment(uses_gpu(cfg), cfg.train.dist_timeout)
    try:
        with _console_log(cfg) as log_file:
            try:
                print(f'Show configuration\n{cfg}\n')
                run_experiment(cfg)
            except INPUT_ERRORS + DIVERGENCE_ERRORS as err:
                print(f'error: {err}', file=sys.stderr)
                return 2
            except BaseException:
                if log_file is not None:  # the traceback reaches the log too
                    log_file.write(traceback.format_exc())
                raise
    finally:
        if distributed:
            torch.distributed.destroy_process_group()
    return 0


@contextlib.contextmanager
def _console_log(cfg):
    """Rank 0: stdout and stderr copied to ``<save_dir>/{train,test}.log-<time>``; other
    ranks: stdout silenced."""
    console, errors = sys.stdout, sys.stderr
    if not is_main_process():
        with open(os.devnull, 'w') as quiet:
            sys.stdout = quiet
            try:
                yield None
            finally:
                sys.stdout = console
        return
    log_name = ('test.log' if cfg.test.evaluate else 'train.log') + time.strftime('-%Y-%m-%d-%H-%M-%S')
    os.makedirs(cfg.data.save_dir, exist_ok=True)
    with open(osp.join(cfg.data.save_dir, log_name), 'w') as log_file:
        sys.stdout, sys.stderr = _Tee(console, log_file), _Tee(errors, log_file)
        try:
            yield log_file
        finally:
            sys.stdout, sys.stderr = console, errors


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

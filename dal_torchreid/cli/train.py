"""Train and/or evaluate a video re-id model: DAL, Cluster Contrast or torchreid's engines.

Usage::

    dal-train --config-file configs/dal_resnet50_prid2011.yaml --root reid-data
    dal-train --config-file configs/dal_resnet50_prid2011.yaml --root reid-data \\
        --engine softmax data.save_dir log/softmax-resnet50-prid2011
    dal-train --config-file configs/cc_resnet50_prid2011.yaml --root reid-data  # --engine cc
    dal-train --config-file configs/dal_resnet50_prid2011.yaml --root reid-data \\
        test.evaluate True model.load_weights log/dal-resnet50-prid2011/model/model.pth.tar-64
    torchrun --nproc_per_node=4 tools/train.py --config-file configs/dal_resnet50_mars.yaml \\
        --root reid-data     # DAL on 4 GPUs, one process each (gloo on the CPU)

Any ``KEY VALUE`` pair after the options overrides the config (every key:
``docs/config.md``; ``--print-config`` prints the merged config and exits);
results go to ``<data.save_dir>/results.json``.
"""
from __future__ import annotations

import sys

import torch

from dal_torchreid.experiment.builder import uses_gpu
from dal_torchreid.cli.args import build_parser, config_from_command_line, parse_args
from dal_torchreid.cli.console import INPUT_ERRORS, run_logged
from dal_torchreid.engine.distributed import init_from_environment
from dal_torchreid.experiment.run import run_experiment


def main(argv=None) -> int:
    args = parse_args(build_parser(__doc__.splitlines()[0]), argv)
    try:
        cfg = config_from_command_line(args)
    except INPUT_ERRORS as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    if args.print_config:
        print(cfg.dump(), end='')
        return 0
    distributed = init_from_environment(uses_gpu(cfg), cfg.train.dist_timeout)
    try:
        code, _ = run_logged(cfg, lambda: run_experiment(cfg))
    finally:
        if distributed:
            torch.distributed.destroy_process_group()
    return code


if __name__ == '__main__':
    sys.exit(main())

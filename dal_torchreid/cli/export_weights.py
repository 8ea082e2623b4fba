"""Export the weights a run evaluated as a file torchreid loads.

Usage::

    dal-export-weights log/dal_resnet50_prid2011/model/model.pth.tar-67 dal_resnet50.pth
    dal-export-weights CHECKPOINT OUT --trained     # the trained weights, not the EMA

Writes ``{'state_dict': tensors}`` (the EMA when the run kept one, as its
evaluation used) without optimiser or method state: what
``torchreid.utils.FeatureExtractor``, ``torchreid.utils.load_pretrained_weights``
and ``model.load_weights`` read.
"""
from __future__ import annotations

import argparse
import sys

from dal_torchreid.cli.console import INPUT_ERRORS
from dal_torchreid.models.weights import export_weights


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog='dal-export-weights',
                                     description=__doc__.splitlines()[0])
    parser.add_argument('checkpoint', help='a checkpoint of a run (model.pth.tar-N, '
                        'model-best.pth.tar or checkpoint-latest.pth.tar) or a weights file')
    parser.add_argument('out', help='the file to write')
    parser.add_argument('--trained', action='store_true',
                        help='the trained weights instead of the EMA of a run with train.ema')
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        export_weights(args.checkpoint, args.out, ema=not args.trained)
    except INPUT_ERRORS as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())

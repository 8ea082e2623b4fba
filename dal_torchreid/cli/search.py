"""Find one person across all cameras: every tracklet ranked by similarity to a query.

Usage::

    dal-search --root reid-data -s shop --query cam1:7 --out out/find \\
        --config-file configs/own_footage.yaml model.load_weights log/shop/model/model.pth.tar-8
    dal-search --root reid-data -s shop --query-image crop1.jpg --query-image crop2.jpg \\
        --out out/find
    dal-search --gallery out/shop --query cam2:14 --out out/find      # nothing extracted
    dal-search --gallery out/day2 --query cam1:3 --session 1 --out out/find

Writes ``OUT/search.csv`` (every tracklet ranked: camera, track, frames, similarity, global
id) and ``OUT/search.html`` (the query's crops, the best matches with thumbnails, a time
line per camera). ``-s`` extracts the data set's features with the model
(``model.load_weights``, as ``dal-associate``); ``--gallery`` searches an association's
stored ``gallery.pth`` (global ids and sessions included) and needs the model only for
``--query-image``, which must then be the gallery's. A bad query, image or gallery, or
``OUT`` among the inputs, ends it with one line (exit code 2); SIGINT / SIGTERM with one
line (130, 143). :mod:`dal_torchreid.footage.search_run` does the work.
"""
from __future__ import annotations

import os.path as osp
import sys

from dal_torchreid.cli.args import build_parser
from dal_torchreid.cli.footage_tool import UsageError, run_footage_tool
from dal_torchreid.experiment.builder import build_model, uses_gpu
from dal_torchreid.footage.dataset import NoIdentitiesError, is_footage_dataset
from dal_torchreid.footage.evaluation import test_transform
from dal_torchreid.footage.search_run import (
    QueryError, check_query_images, search_dataset, search_stored_gallery
)

SHOWN = 5  # best hits printed


def build_search_parser():
    """``dal-search``'s options (see the module)."""
    parser = build_parser(__doc__.splitlines()[0], training=False,
                          sources_help='the tracklet data set to search (one name: ROOT/NAME)')
    parser.add_argument('--gallery', default='', help='an association\'s --out (or its '
                        'gallery.pth) to search instead of -s, without extracting features')
    parser.add_argument('--query', default='', metavar='CAMERA:TRACK',
                        help='the person: a tracklet of the data set or gallery')
    parser.add_argument('--query-image', action='append', default=[], metavar='CROP',
                        help='or an image of the person (repeat for several crops)')
    parser.add_argument('--session', type=int, default=None,
                        help='--gallery: the session (batch of footage, 0 first) of --query '
                             'where several hold that CAMERA:TRACK')
    parser.add_argument('--top-k', type=int, default=0,
                        help='hits kept in search.csv (0: every tracklet)')
    parser.add_argument('--out', default='', help='output folder (required, except with '
                        '--print-config)')
    return parser


def main(argv=None) -> int:
    return run_footage_tool(build_search_parser(), argv, check_arguments, _search,
                            _print_summary, 'run it again', errors=(QueryError,))


def check_arguments(args) -> None:
    """Raises :class:`UsageError` for a command line that names no place to search, both,
    no query or two, or no ``--out``."""
    if not args.out:
        raise UsageError('--out is required: the folder search.csv and search.html go to')
    if bool(args.gallery) == bool(args.sources):
        raise UsageError('search either a tracklet data set (--root ROOT -s NAME) or a stored '
                         'gallery (--gallery ASSOCIATION_OUT), one of them')
    if bool(args.query) == bool(args.query_image):
        raise UsageError('give one query: --query CAMERA:TRACK, or --query-image CROP.jpg '
                         '(repeated for several crops)')
    if args.session is not None and not args.gallery:
        raise UsageError('--session picks a batch of footage of a --gallery; a data set has one')
    if args.top_k < 0:
        raise UsageError(f'--top-k must be >= 0 (0: every tracklet), got {args.top_k}')
    check_query_images(args.query_image)  # before a model is built


def _model(cfg):
    model = build_model(cfg, num_classes=1)
    return model.cuda() if uses_gpu(cfg) else model


def _search(cfg, args) -> dict:
    """Builds the model where one is needed and searches (what ``main`` runs)."""
    common = dict(query=args.query or None, images=args.query_image,
                  pooling_method=cfg.video.pooling_method,
                  batch_size=max(cfg.test.frame_batch_size, 1), top_k=args.top_k or None)
    if args.gallery:
        model, transform = (_model(cfg), test_transform(cfg)) if args.query_image else (None, None)
        return search_stored_gallery(args.gallery, args.out, session=args.session, model=model,
                                     transform=transform, **common)
    name = cfg.data.sources[0]
    if not is_footage_dataset(name):
        raise NoIdentitiesError(f'-s {name}: name one tracklet data set that dal-make-tracklets '
                                f'wrote under --root "{cfg.data.root}" (a folder with '
                                'manifest.csv and tracklets.json)')
    return search_dataset(cfg.data.root, name, args.out, _model(cfg), test_transform(cfg),
                          **common)


def _print_summary(summary: dict, out: str) -> None:
    print(f'{summary["query"]}: {summary["hits"]} tracklets ranked, other cameras first')
    for hit in summary['best'][:SHOWN]:
        where = f'session {hit["session"]}, ' if summary['sessions'] > 1 else ''
        gid = '' if hit['global_id'] is None else f', global id {hit["global_id"]}'
        print(f'  {hit["rank"]:>3}. {hit["camera"]} track {hit["track"]} ({where}frames '
              f'{hit["first"]}-{hit["last"]}): similarity {hit["similarity"]:.3f}{gid}')
    print(f'wrote search.csv and search.html to "{osp.abspath(out)}"')


if __name__ == '__main__':
    sys.exit(main())

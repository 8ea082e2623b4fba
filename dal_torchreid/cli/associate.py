"""Give the tracklets of footage global person ids across cameras, with a report.

Usage::

    dal-associate --root reid-data -s shop --out out/shop --config-file configs/own_footage.yaml \\
        model.load_weights log/own_footage/model/model.pth.tar-8
    dal-associate --root reid-data -s shop --out out/shop --footage FOOTAGE   # + scores
    dal-associate --root reid-data -s shop2 --out out/shop2 --gallery out/shop  # a later day

Writes ``OUT/matches.csv`` (each tracklet's best matches in other cameras),
``OUT/identities.csv``, ``OUT/<camera>.txt`` for every camera of the data set (the
tracker's own lines of the kept tracks, only the id replaced by the global id),
``OUT/report.html``, ``OUT/gallery.pth`` (the tracklets' features and global ids, for
``--gallery`` and ``dal-search``) and ``OUT/summary.json``; with ``--footage`` whose cameras hold
``gt/gt.txt``, ``OUT/scores.json`` (pairwise precision, recall, F1 and IDF1). An earlier
run's files in ``OUT`` are moved to ``OUT/earlier-<time>/`` first, never deleted. Without
``model.load_weights`` the untrained (ImageNet) backbone is used. ``-s`` names one data
set. With ``--gallery PREVIOUS_OUT`` (new footage: a later day, or new cameras), people
of the earlier run's gallery keep their global ids and new people get ids never used
before; a gallery of another model or input size is refused before any feature is
computed. An input error, or SIGINT / SIGTERM, ends it with one line (exit code 2, 130, 143).
"""
from __future__ import annotations

import os.path as osp
import sys

from dal_torchreid.cli.args import build_parser
from dal_torchreid.cli.footage_tool import UsageError, check_one_source, run_footage_tool
from dal_torchreid.experiment.builder import build_model, uses_gpu
from dal_torchreid.footage.dataset import NoIdentitiesError, is_footage_dataset
from dal_torchreid.footage.evaluation import associate_from_config
from dal_torchreid.footage.linking import how_ids_were_found

INTERRUPTED_ADVICE = ('what was written so far is incomplete: run it again (it moves those '
                      'files aside)')


def build_associate_parser():
    """``dal-associate``'s options: no ``-t`` or ``--engine`` (it trains and evaluates
    nothing), ``-s`` naming one data set."""
    parser = build_parser(__doc__.splitlines()[0], training=False,
                          sources_help='the tracklet data set (one name: ROOT/NAME)')
    parser.add_argument('--out', default='', help='output folder (required, except with '
                        '--print-config)')
    parser.add_argument('--footage', default='', help='footage folder with <camera>/gt/gt.txt: '
                        'score the ids against its ground truth')
    parser.add_argument('--tracks', default='', help='tracker files (default: those the data '
                        'set was cut from)')
    parser.add_argument('--gallery', default='', help='an earlier run\'s --out (or its '
                        'gallery.pth): carry its global ids to this footage\'s people and '
                        'write the grown gallery')
    return parser


def main(argv=None) -> int:
    return run_footage_tool(build_associate_parser(), argv, check_out, _associate,
                            _print_summary, INTERRUPTED_ADVICE)


def check_out(args) -> None:
    """Raises :class:`UsageError` without ``--out``."""
    if not args.out:
        raise UsageError('--out is required: the folder the global ids, matches and report go to')


def _associate(cfg, args) -> dict:
    """Checks ``-s``, builds the model and associates (what ``main`` runs)."""
    sources = list(cfg.data.sources)
    check_one_source(sources)  # a config file may name several
    if not sources or not is_footage_dataset(sources[0]):
        named = f'-s {" ".join(sources)}' if args.sources else 'no -s was given'
        raise NoIdentitiesError(
            f'{named}: name one tracklet data set with -s NAME that '
            f'dal-make-tracklets wrote under --root "{cfg.data.root}" (a folder with '
            'manifest.csv and tracklets.json)')
    model = build_model(cfg, num_classes=1)
    if uses_gpu(cfg):
        model = model.cuda()
    return associate_from_config(cfg, sources[0], args.out, model, args.footage or None,
                                 args.tracks or None, args.gallery or None)


def _print_summary(summary: dict, out: str) -> None:
    print(f'{summary["tracklets"]} tracklets in {len(summary["cameras"])} cameras -> '
          f'{summary["identities"]} global ids ({summary["identities_in_several_cameras"]} in '
          f'several cameras); {summary["cannot_link_pairs"]} same-camera pairs overlapping in '
          'time kept apart')
    print(how_ids_were_found(summary.get('association') or {}))
    scores = summary.get('scores')
    if scores:
        pair, ident = scores['pairwise'], scores['idf1']
        print(f'cross-camera pairs: precision {pair["precision"]:.3f}, recall '
              f'{pair["recall"]:.3f}, F1 {pair["f1"]:.3f}; multi-camera IDF1 '
              f'{ident["IDF1"]:.3f} (IDP {ident["IDP"]:.3f}, IDR {ident["IDR"]:.3f})')
    gallery = summary.get('gallery')
    if gallery and gallery.get('previous'):
        print(f'gallery "{gallery["previous"]}": {gallery["carried_ids"]} global ids carried '
              f'(people seen before), {gallery["new_ids"]} new from {gallery["first_new_id"]} on; '
              f'threshold {gallery["threshold"]:.3f} ({gallery["threshold_how"]})')
    links = ', camera_links.json' if (summary.get('association') or {}).get('camera_links_file') \
        else ''
    print(f'wrote {", ".join(c + ".txt" for c in summary["cameras"])}, matches.csv{links}, '
          f'report.html and gallery.pth to "{osp.abspath(out)}"')


if __name__ == '__main__':
    sys.exit(main())

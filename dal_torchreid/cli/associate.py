"""Give the tracklets of footage global person ids across cameras, with a report.

Usage::

    dal-associate --root reid-data -s shop --out out/shop --config-file configs/own_footage.yaml \\
        model.load_weights log/own_footage/model/model.pth.tar-8
    dal-associate --root reid-data -s shop --out out/shop --footage FOOTAGE   # + scores

Writes ``OUT/matches.csv`` (each tracklet's best matches in other cameras),
``OUT/identities.csv``, ``OUT/<camera>.txt`` (the tracker's boxes with global ids,
MOTChallenge form) and ``OUT/report.html``; with ``--footage`` whose cameras hold
``gt/gt.txt``, ``OUT/scores.json`` (pairwise precision, recall, F1 and IDF1). Without
``model.load_weights`` the untrained (ImageNet) backbone is used.
"""
from __future__ import annotations

import os.path as osp
import sys

from dal_torchreid.experiment.builder import build_model, uses_gpu
from dal_torchreid.cli.args import build_parser, config_from_command_line, parse_args
from dal_torchreid.cli.console import DIVERGENCE_ERRORS, INPUT_ERRORS
from dal_torchreid.footage import FootageError, TrackFileError
from dal_torchreid.footage.dataset import NoIdentitiesError, is_footage_dataset
from dal_torchreid.footage.evaluation import associate_from_config


def main(argv=None) -> int:
    parser = build_parser(__doc__.splitlines()[0])
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument('--footage', default='', help='footage folder with <camera>/gt/gt.txt: '
                        'score the ids against its ground truth')
    parser.add_argument('--tracks', default='', help='tracker files (default: those the data '
                        'set was cut from)')
    args = parse_args(parser, argv)
    try:
        cfg = config_from_command_line(args)
        if args.print_config:
            print(cfg.dump(), end='')
            return 0
        if len(cfg.data.sources) != 1 or not is_footage_dataset(cfg.data.sources[0]):
            named = f'-s {" ".join(cfg.data.sources)}' if args.sources else 'no -s was given'
            raise NoIdentitiesError(
                f'{named}: name one tracklet data set with -s NAME that '
                f'dal-make-tracklets wrote under --root "{cfg.data.root}" (a folder with '
                'manifest.csv and tracklets.json)')
        name = cfg.data.sources[0]
        model = build_model(cfg, num_classes=1)
        if uses_gpu(cfg):
            model = model.cuda()
        summary = associate_from_config(cfg, name, args.out, model, args.footage or None,
                                        args.tracks or None)
    except INPUT_ERRORS + DIVERGENCE_ERRORS + (FootageError, TrackFileError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    print(f'{summary["tracklets"]} tracklets in {len(summary["cameras"])} cameras -> '
          f'{summary["identities"]} global ids ({summary["identities_in_several_cameras"]} in '
          f'several cameras); {summary["cannot_link_pairs"]} same-camera pairs overlapping in '
          'time kept apart')
    scores = summary.get('scores')
    if scores:
        pair, ident = scores['pairwise'], scores['idf1']
        print(f'cross-camera pairs: precision {pair["precision"]:.3f}, recall '
              f'{pair["recall"]:.3f}, F1 {pair["f1"]:.3f}; multi-camera IDF1 '
              f'{ident["IDF1"]:.3f} (IDP {ident["IDP"]:.3f}, IDR {ident["IDR"]:.3f})')
    print(f'wrote {", ".join(c + ".txt" for c in summary["cameras"])}, matches.csv and '
          f'report.html to "{osp.abspath(args.out)}"')
    return 0


if __name__ == '__main__':
    sys.exit(main())

"""Cut a tracklet data set from footage and a single-camera tracker's MOTChallenge output.

Usage::

    dal-make-tracklets --footage FOOTAGE --tracks TRACKS --root reid-data --name shop
    dal-train --config-file configs/own_footage.yaml --root reid-data -s shop

``FOOTAGE/<camera>/`` holds the camera's video (or ``img1/000001.jpg ...``),
``TRACKS/<camera>.txt`` the tracker's boxes; ``ROOT/NAME/`` receives one folder per
camera and track and ``manifest.csv``. A camera already cut from the same footage and
tracker file with the same settings is kept. ``ROOT/NAME`` must lie outside the footage
and tracks folders (they are only read); one run at a time writes it (a lock).
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import fields

from dal_torchreid.footage import (
    FootageError, TrackFileError, TrackletSettings, make_tracklets
)
from dal_torchreid.files.save_dir import SaveDirError

_HELP = {
    'min_conf': 'drop boxes of lower tracker confidence',
    'min_height': 'drop boxes less high than this after clipping (pixels)',
    'min_width': 'drop boxes less wide than this after clipping (pixels)',
    'min_length': 'drop tracks with fewer boxes left',
    'max_frames': 'most crops per track, spread evenly (0: all)',
    'padding': 'grow each side by this fraction of the box before clipping',
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--footage', required=True, help='folder of <camera>/ folders')
    parser.add_argument('--tracks', required=True, help='folder of <camera>.txt tracker files')
    parser.add_argument('--root', required=True, help='data root')
    parser.add_argument('--name', required=True, help='data set name: ROOT/NAME, and -s NAME')
    defaults = TrackletSettings()
    for field in fields(TrackletSettings):
        parser.add_argument('--' + field.name.replace('_', '-'), type=type(field.default),
                            default=getattr(defaults, field.name), help=_HELP[field.name])
    return parser


def main(argv=None) -> int:
    """Runs the command; returns the exit status (0 written, 2 refused)."""
    args = build_parser().parse_args(argv)
    try:
        settings = TrackletSettings(**{f.name: getattr(args, f.name)
                                       for f in fields(TrackletSettings)})
        info = make_tracklets(args.footage, args.tracks, args.root, args.name, settings)
    except (FootageError, TrackFileError, SaveDirError, ValueError, OSError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    for camera, entry in info['cameras'].items():
        c = entry['counts']
        print(f'{camera}: {c["tracks_kept"]} of {c["tracks"]} tracks kept, {c["crops"]} crops; '
              f'dropped {c["tracks_short"]} short tracks, {c["boxes_low_conf"]} low-confidence '
              f'and {c["boxes_small"]} small boxes')
    print(f'wrote "{args.root}/{args.name}" (manifest.csv); train with: dal-train --root '
          f'{args.root} -s {args.name} --config-file configs/own_footage.yaml')
    return 0


if __name__ == '__main__':
    sys.exit(main())

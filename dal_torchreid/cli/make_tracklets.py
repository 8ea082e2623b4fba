"""Cut a tracklet data set from footage and a single-camera tracker's MOTChallenge output.

Usage::

    dal-make-tracklets --footage FOOTAGE --tracks TRACKS --root reid-data --name shop
    dal-train --config-file configs/own_footage.yaml --root reid-data -s shop

``FOOTAGE/<camera>/`` holds the camera's video (or ``img1/000001.jpg ...``),
``TRACKS/<camera>.txt`` the tracker's boxes; ``ROOT/NAME/`` receives one folder per
camera and track and ``manifest.csv``. A camera already cut from the same footage and
tracker file with the same settings is kept. ``ROOT/NAME`` must lie outside the footage
and tracks folders (they are only read); one run at a time writes it (a lock). Ctrl-C
(or SIGTERM) stops it in one line: the cameras finished stay, the one being cut is
removed, and the same command continues.
"""
from __future__ import annotations

import argparse
import os.path as osp
import sys
from dataclasses import fields

from dal_torchreid.cli.interruption import (
    INTERRUPTIONS, Terminated, exit_code, terminate_as_exception
)
from dal_torchreid.footage import (
    FootageError, TrackFileError, TrackletSettings, make_tracklets
)
from dal_torchreid.footage.tracklets import finished_cameras
from dal_torchreid.files.save_dir import SaveDirError

_HELP = {
    'min_conf': 'drop boxes of lower tracker confidence (a finite number; unset: keep all); '
                'a confidence of -1 is "not given" and never dropped',
    'classes': 'classes kept where the 8th column holds one (comma-separated MOTChallenge '
               'classes, 1: pedestrian), or "all"; -1 there (not given) is always kept',
    'min_height': 'drop boxes less high than this after clipping (pixels)',
    'min_width': 'drop boxes less wide than this after clipping (pixels)',
    'min_length': 'drop tracks with fewer boxes left',
    'max_frames': 'most crops per track, spread evenly (0: all)',
    'padding': 'grow each side by this fraction of the box before clipping',
}
_TYPES = {'min_conf': float, 'classes': str}  # the others: the type of their default


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--footage', required=True, help='folder of <camera>/ folders')
    parser.add_argument('--tracks', required=True, help='folder of <camera>.txt tracker files')
    parser.add_argument('--root', required=True, help='data root')
    parser.add_argument('--name', required=True, help='data set name: ROOT/NAME, and -s NAME')
    defaults = TrackletSettings()
    for field in fields(TrackletSettings):
        default = getattr(defaults, field.name)
        if field.name == 'classes':
            default = format_classes(default)
        parser.add_argument('--' + field.name.replace('_', '-'),
                            type=_TYPES.get(field.name, type(default)), default=default,
                            help=_HELP[field.name])
    return parser


def format_classes(classes: tuple[int, ...] | None) -> str:
    """``--classes``' text of ``TrackletSettings.classes``: ``1,2`` or ``all``."""
    return 'all' if classes is None else ','.join(str(c) for c in classes)


def parse_classes(text: str) -> tuple[int, ...] | None:
    """``--classes`` as ``TrackletSettings.classes``: ``all`` is None, ``1,2`` is
    ``(1, 2)``. Raises ``ValueError`` naming the option and the text otherwise."""
    if text.strip().lower() == 'all':
        return None
    try:
        classes = tuple(int(c) for c in text.split(','))
    except ValueError:
        classes = ()
    if not classes or min(classes) < 0:
        raise ValueError(f'--classes "{text}": comma-separated class numbers >= 0 (MOTChallenge '
                         '1: pedestrian) or "all"')
    return classes


def describe_counts(camera: str, counts: dict, settings: TrackletSettings) -> str:
    """The line printed for a camera: tracks kept and what each filter dropped."""
    c = {key: counts.get(key, 0) for key in (
        'tracks_kept', 'tracks', 'crops', 'tracks_short', 'boxes_low_conf', 'boxes_small',
        'boxes_other_class', 'boxes_duplicate', 'boxes_without_conf')}
    line = (f'{camera}: {c["tracks_kept"]} of {c["tracks"]} tracks kept, {c["crops"]} crops; '
            f'dropped {c["tracks_short"]} short tracks, {c["boxes_low_conf"]} low-confidence '
            f'and {c["boxes_small"]} small boxes')
    if c['boxes_other_class']:
        classes = ', '.join(f'class {k}: {n}' for k, n in counts.get('classes_dropped', {}).items())
        line += (f', {c["boxes_other_class"]} boxes of other classes than '
                 f'{format_classes(settings.classes)} ({classes})')
    if c['boxes_duplicate']:
        line += (f', {c["boxes_duplicate"]} duplicate box{"es" if c["boxes_duplicate"] > 1 else ""}'
                 ' (a second box of one track in one frame)')
    if settings.min_conf is not None and c['boxes_without_conf']:
        line += (f'; {c["boxes_without_conf"]} boxes without a confidence (-1) kept: '
                 '--min-conf cannot judge them')
    return line


def interrupted_line(err: BaseException, folder: str) -> str:
    """The one line of a cut stopped by SIGINT or SIGTERM: what stays, how to go on."""
    name = 'SIGTERM' if isinstance(err, Terminated) else 'SIGINT'
    done = finished_cameras(folder)
    kept = (f'the cameras finished stay in "{folder}" ({", ".join(done)})' if done
            else f'no camera was finished in "{folder}"')
    return (f'interrupted by {name}; {kept}, the one being cut was removed: run the same '
            'command again to continue')


def main(argv=None) -> int:
    """Runs the command; returns the exit status (0 written, 2 refused, 130/143 stopped
    by SIGINT/SIGTERM)."""
    args = build_parser().parse_args(argv)
    try:
        with terminate_as_exception():
            settings = TrackletSettings(**{
                f.name: parse_classes(args.classes) if f.name == 'classes'
                else getattr(args, f.name) for f in fields(TrackletSettings)})
            info = make_tracklets(args.footage, args.tracks, args.root, args.name, settings)
    except (FootageError, TrackFileError, SaveDirError, ValueError, OSError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    except INTERRUPTIONS as err:
        print(f'error: {interrupted_line(err, osp.join(args.root, args.name))}', file=sys.stderr)
        return exit_code(err)
    for camera, entry in info['cameras'].items():
        print(describe_counts(camera, entry['counts'], settings))
    print(f'wrote "{args.root}/{args.name}" (manifest.csv); train with: dal-train --root '
          f'{args.root} -s {args.name} --config-file configs/own_footage.yaml')
    return 0


if __name__ == '__main__':
    sys.exit(main())

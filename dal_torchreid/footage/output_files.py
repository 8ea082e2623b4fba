"""What ``dal-associate`` writes into ``OUT``, and the earlier run's files it moves aside first.

An ``OUT`` used before holds another run's ``scores.json``, tracker files of cameras this
run may not have, a report and its thumbnails: left beside the new files they would
read as this run's. :func:`prepare_output` moves every file an earlier association
wrote into ``OUT/earlier-<time>/`` (the time its ``summary.json`` was written, as
``dal-train`` dates an earlier run; :func:`~dal_torchreid.files.save_dir.set_aside_run_folder`),
where its report still finds its thumbnails; nothing is deleted. Then it makes sure
every file this run will write can be written (a read-only folder, a name too long,
a folder in the way), before any feature is computed.

Examples::

    with SaveDirLock(out, what='--out'):
        prepare_output(out, ['cam1', 'cam2'], tracklets)
        ...  # compute, then write OUTPUT_FILES and <camera>.txt
"""
from __future__ import annotations

import csv
import json
import os.path as osp
from typing import Sequence

from dal_torchreid.files.errors import check_writable
from dal_torchreid.files.save_dir import set_aside_run_folder
from dal_torchreid.footage.gallery import GALLERY_FILE
from dal_torchreid.footage.report import REPORT, THUMBS, thumbnail_path

SUMMARY = 'summary.json'
SCORES = 'scores.json'
MATCHES = 'matches.csv'
IDENTITIES = 'identities.csv'
CAMERA_LINKS = 'camera_links.json'
OUTPUT_FILES = (SUMMARY, SCORES, MATCHES, IDENTITIES, CAMERA_LINKS, REPORT, THUMBS, GALLERY_FILE)
"""The files of every association; ``summary.json``, written last, dates a run."""


def tracker_file(camera: str) -> str:
    """The name of a camera's tracker file with global ids in ``OUT``."""
    return camera + '.txt'


def _plain_name(name) -> bool:
    """A camera name that is one file name (a file naming ``../x`` is not followed)."""
    return (isinstance(name, str) and name not in ('', '.', '..') and '/' not in name
            and '\\' not in name and not name.startswith('.'))


def earlier_cameras(out: str) -> set[str]:
    """The cameras whose ``<camera>.txt`` an earlier association in ``out`` wrote, as its
    ``summary.json`` and ``identities.csv`` name them (either may be missing or cut
    short by an interrupted run)."""
    cameras: set = set()
    try:
        with open(osp.join(out, SUMMARY), encoding='utf-8') as f:
            summary = json.load(f)
        cameras |= set(summary.get('cameras') or ()) | set(summary.get('tracker_files') or ())
    except (OSError, ValueError, TypeError, AttributeError):
        pass
    try:
        with open(osp.join(out, IDENTITIES), newline='', encoding='utf-8') as f:
            cameras |= {row.get('camera') for row in csv.DictReader(f)}
    except (OSError, ValueError, csv.Error):
        pass
    return {c for c in cameras if _plain_name(c)}


def prepare_output(out: str, cameras: Sequence[str], tracklets: Sequence) -> str | None:
    """Moves an earlier association's files in ``out`` aside (see the module) and checks
    that every file of this one (``cameras``' tracker files, the thumbnails of
    ``tracklets``) can be written; returns the folder the earlier files went to, or None.
    Raises :class:`~dal_torchreid.files.errors.WriteError` naming a file that cannot be
    written."""
    names = list(OUTPUT_FILES) + [tracker_file(c) for c in
                                  sorted(earlier_cameras(out) | set(cameras))]
    aside = set_aside_run_folder(out, names)
    check_writable([osp.join(out, name) for name in OUTPUT_FILES if name != THUMBS]
                   + [osp.join(out, tracker_file(c)) for c in cameras]
                   + [osp.join(out, thumbnail_path(t)) for t in tracklets])
    return aside

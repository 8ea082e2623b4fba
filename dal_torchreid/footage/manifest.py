"""The on-disk form of a tracklet data set cut from footage, read by the data set and written
by the cutter.

``ROOT/NAME/`` holds::

    <camera>/<track>/<frame>.jpg   the crops (track and frame: six digits)
    <camera>/manifest.csv          the camera's crops: written last
    <camera>/camera.json           its settings, source fingerprints and counts
    manifest.csv                   every crop: crop, camera, track, frame, left, top,
                                   width, height, source
    tracklets.json                 the settings, the footage and tracks folders, counts

Examples::

    rows = read_manifest('reid-data/shop/manifest.csv')
    sources = dataset_sources('reid-data', 'shop')  # tracklets.json
"""
from __future__ import annotations

import csv
import json
import os
import os.path as osp

from dal_torchreid.footage.sources import FootageError

MANIFEST = 'manifest.csv'
INFO = 'tracklets.json'
CAMERA_INFO = 'camera.json'  # in each camera folder the cutter made: settings, sources, counts
MANIFEST_FIELDS = ('crop', 'camera', 'track', 'frame', 'left', 'top', 'width', 'height', 'source')


def write_manifest(path: str, rows: list[dict]) -> None:
    """Writes manifest rows to ``path`` whole (a temporary file renamed into place)."""
    tmp = path + '.tmp'
    with open(tmp, 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=MANIFEST_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)


def dataset_sources(root: str, name: str) -> dict:
    """``tracklets.json`` of data set ``ROOT/NAME``: where its footage and tracks are."""
    path = osp.join(root, name, INFO)
    with open(path) as f:
        return json.load(f)


def read_manifest(path: str) -> list[dict]:
    """The rows of a ``manifest.csv``: ``crop`` and ``source`` as text (``crop`` relative to
    the data set folder), ``camera`` text, the rest integers."""
    with open(path, newline='') as f:
        reader = csv.DictReader(f)
        missing = set(MANIFEST_FIELDS) - set(reader.fieldnames or ())
        if missing:
            raise FootageError(f'manifest "{path}" lacks the columns {sorted(missing)}')
        rows = []
        for number, row in enumerate(reader, 2):
            try:
                for key in ('track', 'frame', 'left', 'top', 'width', 'height'):
                    row[key] = int(row[key])
            except (TypeError, ValueError):
                raise FootageError(f'manifest "{path}" line {number}: not a whole number in '
                                   f'{dict(row)}') from None
            rows.append(row)
    return rows

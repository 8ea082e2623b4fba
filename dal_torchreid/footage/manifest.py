"""The on-disk form of a tracklet data set cut from footage, read by the data set and written
by the cutter.

``ROOT/NAME/`` holds::

    <camera>/<track>/<frame>.jpg   the crops (track and frame: six digits)
    <camera>/manifest.csv          the camera's crops: written last
    <camera>/camera.json           its settings, source fingerprints and counts
    manifest.csv                   every crop: crop, camera, track, frame, left, top,
                                   width, height, source
    tracklets.json                 the settings, the footage and tracks folders, counts

Each file is written whole (a temporary file renamed into place), and a write that
fails (a full disk, a file size limit) is a
:class:`~dal_torchreid.files.errors.WriteError` naming the file. ``tracklets.json`` is
checked when read (:func:`dataset_sources`): a damaged one is a :class:`FootageError`
naming it and the key at fault, before anything trains on the data set.

Examples::

    rows = read_manifest('reid-data/shop/manifest.csv')
    sources = dataset_sources('reid-data', 'shop')  # tracklets.json
"""
from __future__ import annotations

import csv
import json
import os
import os.path as osp
from typing import Any, Callable

from dal_torchreid.files.errors import write_error
from dal_torchreid.footage.sources import FootageError

MANIFEST = 'manifest.csv'
INFO = 'tracklets.json'
CAMERA_INFO = 'camera.json'  # in each camera folder the cutter made: settings, sources, counts
MANIFEST_FIELDS = ('crop', 'camera', 'track', 'frame', 'left', 'top', 'width', 'height', 'source')
# What tracklets.json must hold for the tools that read it: key, type, what it is.
INFO_KEYS = (('footage', str, 'the footage folder'), ('tracks', str, 'the tracks folder'),
             ('cameras', dict, 'the cameras'))


def temporary_path(path: str) -> str:
    """Where ``path`` is written before it is renamed into place."""
    return path + '.tmp'


def _write_whole(path: str, write: Callable[[Any], None], newline: str | None = None) -> None:
    """``write(file)`` into a temporary file renamed to ``path``; a failed write leaves
    no temporary file and is a :class:`~dal_torchreid.files.errors.WriteError` naming
    ``path``."""
    tmp = temporary_path(path)
    try:
        with open(tmp, 'w', newline=newline, encoding='utf-8') as f:
            write(f)
        os.replace(tmp, path)
    except OSError as err:
        if osp.isfile(tmp):
            os.remove(tmp)
        raise write_error(path, err) from err


def write_manifest(path: str, rows: list[dict]) -> None:
    """Writes manifest rows to ``path`` whole (a temporary file renamed into place)."""
    def write(f):
        writer = csv.DictWriter(f, fieldnames=MANIFEST_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    _write_whole(path, write, newline='')


def write_json(path: str, data: dict) -> None:
    """Writes ``data`` as JSON to ``path`` whole (a temporary file renamed into place)."""
    _write_whole(path, lambda f: json.dump(data, f, indent=2))


def read_json(path: str, what: str) -> dict:
    """The JSON object in ``path``; :class:`FootageError` naming ``what`` and ``path``
    when it is not one (a truncated file, another type)."""
    try:
        with open(path, encoding='utf-8') as f:
            data = json.load(f)
    except ValueError as err:  # JSONDecodeError, UnicodeDecodeError
        raise FootageError(f'{what} "{path}" cannot be read: {err}') from None
    if not isinstance(data, dict):
        raise FootageError(f'{what} "{path}" holds a {type(data).__name__}, not an object')
    return data


def dataset_sources(root: str, name: str) -> dict:
    """``tracklets.json`` of data set ``ROOT/NAME``: where its footage and tracks are.

    Raises ``FileNotFoundError`` when it is missing and :class:`FootageError` naming it
    when it is not JSON or lacks a key of :data:`INFO_KEYS` (or holds another type):
    cut the data set again.
    """
    path = osp.join(root, name, INFO)
    if not osp.isfile(path):
        raise FileNotFoundError(f'"{path}" does not exist: the tracklet data set "{name}" is '
                                'incomplete; cut it again with dal-make-tracklets')
    info = read_json(path, 'tracklet data set file')
    for key, kind, what in INFO_KEYS:
        if not isinstance(info.get(key), kind):
            found = 'no' if key not in info else f'a {type(info[key]).__name__} as'
            raise FootageError(f'tracklet data set file "{path}" has {found} "{key}" ({what}, '
                               f'a {kind.__name__.replace("str", "text").replace("dict", "mapping")}'
                               '): cut the data set again with dal-make-tracklets')
    return info


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


def frame_widths(info: dict, cameras) -> dict:
    """Each camera's frame width in pixels as ``tracklets.json`` (``info``,
    :func:`dataset_sources`) records it in its counts (``None`` for a camera cut before
    the size was recorded)."""
    widths = {}
    for camera in cameras:
        try:
            size = info['cameras'][camera]['counts'].get('frame_size')
            widths[camera] = float(size[0]) if size and float(size[0]) > 0 else None
        except (KeyError, ValueError, TypeError, AttributeError, IndexError):
            widths[camera] = None
    return widths

"""MOTChallenge text files: a single-camera tracker's boxes and multi-camera ground truth.

One line per box, comma-separated (spaces allowed):
``frame,id,left,top,width,height,conf,...`` for tracker output and
``frame,id,left,top,width,height,flag,class,visibility`` for ground truth, frames
1-based, boxes in pixels (floats allowed, may reach outside the image). A file may be
empty. A line that does not parse is a :class:`TrackFileError` naming the file and line.
"""
from __future__ import annotations

import os.path as osp

import numpy as np

# Columns of :func:`read_mot_file`'s array.
FRAME, ID, LEFT, TOP, WIDTH, HEIGHT, CONF = range(7)


class TrackFileError(ValueError):
    """A tracker or ground-truth file that is not in the MOTChallenge form, with its
    file and line."""


def read_mot_file(path: str, what: str = 'tracks file') -> np.ndarray:
    """``(N, 7)`` float64 rows ``frame, id, left, top, width, height, conf`` of a
    MOTChallenge file (``conf`` 1 where a line has only six values).

    Raises :class:`TrackFileError` naming ``path`` and the line for a line with fewer
    than six values, a value that is not a number, a frame below 1, a negative id or a
    box whose width or height is not positive; ``FileNotFoundError`` naming ``what``.

    Examples::

        rows = read_mot_file('tracks/cam1.txt')
        rows[rows[:, FRAME] == 1]  # the boxes of the first frame
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'{what} "{path}" does not exist')
    rows = []
    with open(path) as f:
        for number, line in enumerate(f, 1):
            text = line.strip()
            if not text:
                continue
            fields = [v for v in text.replace(' ', ',').split(',') if v != '']
            where = f'{what} "{path}" line {number}'
            if len(fields) < 6:
                raise TrackFileError(f'{where}: {len(fields)} values, expected at least 6 '
                                     '(frame,id,left,top,width,height[,conf,...])')
            try:
                values = [float(v) for v in fields[:7]]
            except ValueError:
                raise TrackFileError(f'{where}: not a number in "{text}"') from None
            if not np.isfinite(values).all():
                raise TrackFileError(f'{where}: a value is not finite in "{text}"')
            if values[FRAME] < 1 or values[FRAME] != int(values[FRAME]):
                raise TrackFileError(f'{where}: frame {fields[0]} is not a whole number >= 1 '
                                     '(MOTChallenge frames are 1-based)')
            if values[ID] < 0 or values[ID] != int(values[ID]):
                raise TrackFileError(f'{where}: id {fields[1]} is not a whole number >= 0')
            if values[WIDTH] <= 0 or values[HEIGHT] <= 0:
                raise TrackFileError(f'{where}: box width {fields[4]} and height {fields[5]} '
                                     'must be positive')
            rows.append(values + [1.0] * (7 - len(values)))
    return np.asarray(rows, dtype=np.float64).reshape(-1, 7)


def format_mot_line(frame: int, track_id: int, left: float, top: float, width: float,
                    height: float, rest: str = '1,-1,-1,-1') -> str:
    """One MOTChallenge line (no newline); ``rest`` follows the box."""
    values = ','.join(f'{v:.2f}'.rstrip('0').rstrip('.') for v in (left, top, width, height))
    return f'{int(frame)},{int(track_id)},{values},{rest}'

"""MOTChallenge text files: a single-camera tracker's boxes and multi-camera ground truth.

One line per box, comma-separated (spaces allowed):
``frame,id,left,top,width,height,conf,...`` for tracker output and
``frame,id,left,top,width,height,flag,class,visibility`` for ground truth, frames
1-based, boxes in pixels (floats allowed, may reach outside the image). A file may be
empty; a UTF-8 byte order mark is ignored, and so are lines starting with ``#``
(comments). A confidence or class of ``-1`` means "not given" (the MOTChallenge results
convention, whose 8th to 10th columns are ``-1`` in 2D). A line that does not parse is
a :class:`TrackFileError` naming the file and line.

Frames and ids are read exactly: one that a float64 cannot hold exactly (beyond
2^53, as ``1e20`` or ``9007199254740993``) is refused, since two such ids would
become one track.
"""
from __future__ import annotations

from decimal import Decimal, InvalidOperation

import numpy as np

from dal_torchreid.footage.sources import check_regular_file

# Columns of :func:`read_mot_file`'s array.
FRAME, ID, LEFT, TOP, WIDTH, HEIGHT, CONF, CLASS = range(8)
NOT_GIVEN = -1.0
"""A confidence or class of -1: the tracker gave none."""
LARGEST_EXACT = 2 ** 53
"""The largest frame or id read: every whole number up to it is exact in float64."""
_BOM = b'\xef\xbb\xbf'


class TrackFileError(ValueError):
    """A tracker or ground-truth file that is not in the MOTChallenge form, with its
    file and line."""


def _whole_number(field: str, name: str, least: int, where: str, hint: str = '') -> None:
    """Raises :class:`TrackFileError` unless ``field`` is exactly a whole number from
    ``least`` to :data:`LARGEST_EXACT`."""
    try:
        exact = Decimal(field)
    except InvalidOperation:
        raise TrackFileError(f'{where}: {name} "{field}" is not a number') from None
    if not exact.is_finite() or exact != exact.to_integral_value() or exact < least:
        raise TrackFileError(f'{where}: {name} {field} is not a whole number >= {least}{hint}')
    if exact > LARGEST_EXACT:
        raise TrackFileError(f'{where}: {name} {field} cannot be read exactly (at most 2^53 = '
                             f'{LARGEST_EXACT}): two such {name}s could become one; '
                             f'renumber them')


def _decoded_lines(path: str, what: str):
    """``(line number, text)`` of each line of ``path``, a UTF-8 byte order mark dropped.
    Raises :class:`TrackFileError` naming the line for bytes that are not UTF-8."""
    with open(path, 'rb') as f:
        for number, raw in enumerate(f, 1):
            if number == 1 and raw.startswith(_BOM):
                raw = raw[len(_BOM):]
            try:
                yield number, raw.decode('utf-8')
            except UnicodeDecodeError as err:
                raise TrackFileError(f'{what} "{path}" line {number}: byte {err.start + 1} is '
                                     'not UTF-8 text (save the file as UTF-8 or ASCII)') from None


def as_rows(rows) -> np.ndarray:
    """Tracker rows as a float64 ``(N, columns)`` array (``(0, 8)`` when there are none):
    :func:`read_mot_file`'s, or any table whose first seven columns are theirs."""
    rows = np.asarray(rows, np.float64)
    return rows.reshape(-1, rows.shape[-1] if rows.ndim == 2 else CLASS + 1)


def read_mot_file(path: str, what: str = 'tracks file') -> np.ndarray:
    """``(N, 8)`` float64 rows ``frame, id, left, top, width, height, conf, class`` of a
    MOTChallenge file (``conf`` 1 where a line has only six values, ``class`` -1, "not
    given", where it has fewer than eight).

    Raises :class:`TrackFileError` naming ``path`` and the line for a line with fewer
    than six values, a value that is not a number, a frame below 1, a negative id, a
    frame or id that cannot be read exactly, bytes that are not UTF-8 or a box whose
    width or height is not positive; ``FileNotFoundError`` naming ``what`` when the file
    does not exist, and :class:`~dal_torchreid.footage.sources.FootageError` when it is
    a folder or not a regular file.

    Examples::

        rows = read_mot_file('tracks/cam1.txt')
        rows[rows[:, FRAME] == 1]  # the boxes of the first frame
    """
    check_regular_file(path, what)
    rows = []
    for number, line in _decoded_lines(path, what):
        text = line.strip()
        if not text or text.startswith('#'):
            continue
        fields = [v for v in text.replace(' ', ',').split(',') if v != '']
        where = f'{what} "{path}" line {number}'
        if len(fields) < 6:
            raise TrackFileError(f'{where}: {len(fields)} values, expected at least 6 '
                                 '(frame,id,left,top,width,height[,conf,...])')
        try:
            values = [float(v) for v in fields[:8]]
        except ValueError:
            raise TrackFileError(f'{where}: not a number in "{text}"') from None
        if not np.isfinite(values).all():
            raise TrackFileError(f'{where}: a value is not finite in "{text}"')
        _whole_number(fields[FRAME], 'frame', 1, where, ' (MOTChallenge frames are 1-based)')
        _whole_number(fields[ID], 'id', 0, where)
        if values[WIDTH] <= 0 or values[HEIGHT] <= 0:
            raise TrackFileError(f'{where}: box width {fields[4]} and height {fields[5]} '
                                 'must be positive')
        rows.append(values + [1.0, NOT_GIVEN][len(values) - 6:])
    return np.asarray(rows, dtype=np.float64).reshape(-1, 8)


"""The tracker's own lines with global ids: what ``dal-associate`` writes as ``OUT/<camera>.txt``.

A tracker writes MOTChallenge lines its own way: commas, spaces or both between the
values, 6 to 10 columns, floats at any precision, its own class and visibility columns,
``\\r\\n`` line ends. A scorer or a user comparing ``OUT/<camera>.txt`` with the
tracker's file expects the same boxes, so :func:`rewrite_tracker_file` copies each line
of a track that has a global id with only its id field (the second value) replaced;
every other byte of the line stays the tracker's (a UTF-8 byte-order mark at the start
of the file is not copied). Lines of tracks without a global id (dropped by the
filters), blank lines and lines whose second value is no whole number are left out.

Examples::

    replace_track_id('12, 7, 120.451, 38.3, 19.54, 43.22\\n', 3)  # '12, 3, 120.451, ...'
    rewrite_tracker_file('tracks/cam1.txt', 'out/cam1.txt', {7: 3, 9: 1})
"""
from __future__ import annotations

import re
from typing import Mapping

from dal_torchreid.files.errors import named_write

# the first value, its separator, then the id (values are split at commas and spaces)
_ID_FIELD = re.compile(r'^([ \t]*[^\s,]+[ \t,]+)([^\s,]+)')
_BYTE_ORDER_MARK = '\ufeff'


def line_track_id(line: str) -> int | None:
    """The track id (second value) of a MOTChallenge line, or None when it has none that
    is a whole number (``7``, ``7.0``)."""
    match = _ID_FIELD.match(line)
    if match is None:
        return None
    try:
        value = float(match.group(2))
    except ValueError:
        return None
    return int(value) if value.is_integer() else None


def replace_track_id(line: str, track_id: int) -> str:
    """``line`` with its id field (second value) replaced by ``track_id``, all else kept."""
    match = _ID_FIELD.match(line)
    if match is None:
        raise ValueError(f'no id field in the line "{line.rstrip()}"')
    return match.group(1) + str(int(track_id)) + line[match.end():]


def rewrite_tracker_file(source: str, target: str, global_of: Mapping[int, int]) -> dict:
    """Writes to ``target`` each line of the tracker file ``source`` whose track is in
    ``global_of`` (tracker id -> global id), its id replaced (:func:`replace_track_id`),
    in the order of ``source``; reads and writes the bytes as they are (no decoding
    error, no newline translation). A ``target`` that cannot be written is a
    :class:`~dal_torchreid.files.errors.WriteError` naming it.

    Returns ``{'boxes': lines written, 'tracks_left_out': tracks of source not in
    global_of}``.
    """
    written, left_out = 0, set()
    with open(source, encoding='utf-8', errors='surrogateescape', newline='') as f:
        lines = f.readlines()
    if lines and lines[0].startswith(_BYTE_ORDER_MARK):
        lines[0] = lines[0][len(_BYTE_ORDER_MARK):]
    with named_write(target), \
            open(target, 'w', encoding='utf-8', errors='surrogateescape', newline='') as f:
        for line in lines:
            track = line_track_id(line)
            if track is None:
                continue
            if track not in global_of:
                left_out.add(track)
                continue
            f.write(replace_track_id(line, global_of[track]))
            written += 1
    return {'boxes': written, 'tracks_left_out': len(left_out)}

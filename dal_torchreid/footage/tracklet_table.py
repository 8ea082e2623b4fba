"""Who each row of a tracklet feature matrix is: camera, track, frame range, global id, session.

A feature matrix says nothing about where its rows come from; :class:`TrackletTable`
holds that, one entry per row, as plain lists (a table of 100k tracklets is a few
MiB). A *session* is one batch of footage: the first run's tracklets are session 0,
and every batch carried into a gallery afterwards
(:func:`~dal_torchreid.footage.gallery.carry_ids`) gets the next number. Frame numbers
compare only within a session: frame 900 of a later day says nothing about frame 300
of the first, and ``(camera, track)`` may name a tracklet in each session.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence


@dataclass
class TrackletTable:
    """Camera, track, first and last frame, global id and session of each tracklet.

    Args:
        cameras (sequence of str): camera name of each tracklet.
        tracks (sequence of int): the tracker's id within the camera.
        first, last (sequence of int): first and last frame (inclusive).
        global_ids (sequence, optional): global id of each tracklet, None where it
            has none; None: no tracklet has one.
        sessions (sequence of int, optional): the footage batch of each tracklet
            (see the module); None: all 0.

    Examples::

        table = TrackletTable.from_tracklets(read_footage_tracklets('reid-data/shop'))
        table = TrackletTable(['cam1', 'cam2'], [3, 7], [10, 250], [80, 300])
    """

    cameras: list = field(default_factory=list)
    tracks: list = field(default_factory=list)
    first: list = field(default_factory=list)
    last: list = field(default_factory=list)
    global_ids: list | None = None
    sessions: list | None = None

    def __post_init__(self) -> None:
        self.cameras = [str(c) for c in self.cameras]
        self.tracks, self.first, self.last = (_ints(v, name) for v, name in (
            (self.tracks, 'tracks'), (self.first, 'first'), (self.last, 'last')))
        n = len(self.cameras)
        if self.global_ids is None:
            self.global_ids = [None] * n
        else:
            self.global_ids = [None if g is None else int(g) for g in self.global_ids]
        self.sessions = [0] * n if self.sessions is None else _ints(self.sessions, 'sessions')
        for name in ('tracks', 'first', 'last', 'global_ids', 'sessions'):
            if len(getattr(self, name)) != n:
                raise ValueError(f'tracklet table: {name} has {len(getattr(self, name))} '
                                 f'entries for {n} cameras')
        for i, (a, b) in enumerate(zip(self.first, self.last)):
            if b < a:
                raise ValueError(f'tracklet table: {self.cameras[i]}:{self.tracks[i]} ends '
                                 f'(frame {b}) before it starts (frame {a})')

    def __len__(self) -> int:
        return len(self.cameras)

    @classmethod
    def from_tracklets(cls, tracklets: Sequence, global_ids: Sequence | None = None,
                       session: int = 0) -> 'TrackletTable':
        """The table of :class:`~dal_torchreid.footage.FootageTracklet` s (or anything
        with ``camera``, ``track``, ``first`` and ``last``), all of one ``session``."""
        return cls([t.camera for t in tracklets], [t.track for t in tracklets],
                   [t.first for t in tracklets], [t.last for t in tracklets],
                   None if global_ids is None else list(global_ids), [session] * len(tracklets))

    def index_of(self, camera: str, track: int, session: int | None = None) -> int:
        """The row of tracklet ``camera:track`` (of ``session``); a one-line ``KeyError``
        when no row or several rows (sessions) fit."""
        camera, track = str(camera), int(track)
        rows = [i for i, (c, t) in enumerate(zip(self.cameras, self.tracks))
                if c == camera and t == track
                and (session is None or self.sessions[i] == session)]
        where = f'{camera}:{track}' + ('' if session is None else f' of session {session}')
        if not rows:
            raise KeyError(f'no tracklet {where} among the {len(self)} searched')
        if len(rows) > 1:
            sessions = sorted({self.sessions[i] for i in rows})
            raise KeyError(f'{where} names {len(rows)} tracklets (sessions '
                           f'{", ".join(map(str, sessions))}): name the session too')
        return rows[0]

    def concat(self, other: 'TrackletTable') -> 'TrackletTable':
        """This table's rows followed by ``other``'s."""
        return TrackletTable(self.cameras + other.cameras, self.tracks + other.tracks,
                             self.first + other.first, self.last + other.last,
                             self.global_ids + other.global_ids, self.sessions + other.sessions)


def _ints(values: Sequence, name: str) -> list[int]:
    out = []
    for v in values:
        try:
            whole = not isinstance(v, bool) and int(v) == v
        except (TypeError, ValueError):
            whole = False
        if not whole:
            raise ValueError(f'tracklet table: {name} holds {v!r}, not a whole number')
        out.append(int(v))
    return out

"""Which crop shows a tracklet in the report, and which tracks it marks as doubtful.

A thumbnail should show the tracklet's person, not the one walking in front of them.
:func:`thumbnail_crop` picks, of a tracklet's crops, one whose box overlaps no box of
another track of its camera in its frame (the tracker's file holds every box, those of
dropped tracks too), the one nearest the middle of the track; where every crop overlaps
another box, the one least covered. :func:`track_marks` names what makes a track's
matches doubtful before anyone looks at them: a low tracker confidence, tiny boxes.

Examples::

    frames = boxes_by_frame(read_mot_file('tracks/cam1.txt'))
    crop = thumbnail_crop(tracklet, frames)      # index into tracklet.paths
    marks = track_marks(rows[rows[:, ID] == tracklet.track])
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

from dal_torchreid.footage.tracks import CONF, FRAME, HEIGHT, ID, LEFT, as_rows

LOW_CONFIDENCE = 0.5  # a track whose boxes the tracker trusted less than this, on average
TINY_HEIGHT = 32  # pixels: a track whose boxes are mostly lower than this shows little


def boxes_by_frame(rows: np.ndarray) -> dict[int, np.ndarray]:
    """``{frame: rows}`` of a tracker file's rows (``frame, id, left, top, width, height,
    conf``), for :func:`thumbnail_crop`."""
    rows = as_rows(rows)
    frames = rows[:, FRAME].astype(np.int64)
    return {int(f): rows[frames == f] for f in np.unique(frames)}


def covered_share(box, others: np.ndarray) -> float:
    """The largest share of ``box``'s area (``left, top, width, height``) that one of the
    ``others`` boxes covers: 0.0 where none overlaps it."""
    others = np.asarray(others, np.float64).reshape(-1, 4)
    left, top, width, height = (float(v) for v in box)
    if not len(others) or width <= 0 or height <= 0:
        return 0.0
    x0 = np.maximum(left, others[:, 0])
    y0 = np.maximum(top, others[:, 1])
    x1 = np.minimum(left + width, others[:, 0] + others[:, 2])
    y1 = np.minimum(top + height, others[:, 1] + others[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    return float(inter.max() / (width * height))


def thumbnail_crop(tracklet, frame_boxes: Mapping[int, np.ndarray]) -> int:
    """Index of the crop of ``tracklet`` (a :class:`~dal_torchreid.footage.FootageTracklet`)
    to show: the least covered by another track's box in its frame (``frame_boxes``:
    :func:`boxes_by_frame` of its camera's tracker file), of those the nearest the middle
    of the track. Without ``frame_boxes`` for a frame, its crop counts as uncovered."""
    middle = (len(tracklet.paths) - 1) / 2
    best, best_key = 0, None
    for i, (frame, box) in enumerate(zip(tracklet.frames, tracklet.boxes)):
        rows = frame_boxes.get(int(frame), np.zeros((0, 7)))
        others = rows[rows[:, ID] != tracklet.track][:, LEFT:HEIGHT + 1]
        key = (covered_share(box, others), abs(i - middle), i)
        if best_key is None or key < best_key:
            best, best_key = i, key
    return best


def track_marks(rows: np.ndarray) -> list[str]:
    """What makes a track doubtful, from its rows in the tracker's file: ``'low confidence
    0.31'`` (mean confidence below :data:`LOW_CONFIDENCE`; a confidence below 0, the
    MOTChallenge "none given", is not counted) and ``'tiny: 24 px high'`` (median box
    height below :data:`TINY_HEIGHT`)."""
    rows = as_rows(rows)
    marks = []
    conf = rows[:, CONF][rows[:, CONF] >= 0]
    if len(conf) and conf.mean() < LOW_CONFIDENCE:
        marks.append(f'low confidence {conf.mean():.2f}')
    height = float(np.median(rows[:, HEIGHT])) if len(rows) else TINY_HEIGHT
    if height < TINY_HEIGHT:
        marks.append(f'tiny: {round(height, 1):g} px high')
    return marks

"""What tracks of one camera say about identities without any label.

A tracker gives one person one box per frame, so two tracks of one camera that
overlap in time are two people: :func:`time_overlap_pairs` lists those pairs (the
cannot-links of the association), and :func:`most_at_once` the most tracks one
camera holds at once, a lower bound on the number of people.

Both take plain arrays (camera index, first and last frame of each tracklet,
inclusive) and sort once per camera: O(N log N + pairs), no N x N matrix.

Examples::

    pairs = time_overlap_pairs([0, 0, 1], [1, 5, 1], [10, 20, 10])  # [[0, 1]]
    most_at_once([0, 0, 1], [1, 5, 1], [10, 20, 10])  # 2
"""
from __future__ import annotations

import numpy as np


def _check_frames(cameras, first, last) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    cameras, first, last = (np.asarray(x).ravel() for x in (cameras, first, last))
    if not len(cameras) == len(first) == len(last):
        raise ValueError(f'cameras, first and last differ in length: {len(cameras)}, '
                         f'{len(first)}, {len(last)}')
    reversed_ = np.flatnonzero(last < first)
    if len(reversed_):
        i = int(reversed_[0])
        raise ValueError(f'tracklet {i} ends before it starts: first {first[i]}, last {last[i]}')
    return cameras, first.astype(np.int64), last.astype(np.int64)


def time_overlap_pairs(cameras, first, last) -> np.ndarray:
    """``(M, 2)`` pairs ``i < j`` of tracklets of one camera whose frames
    ``first .. last`` (inclusive) overlap, sorted."""
    cameras, first, last = _check_frames(cameras, first, last)
    out = []
    for camera in np.unique(cameras):
        index = np.flatnonzero(cameras == camera)
        index = index[np.argsort(first[index], kind='stable')]
        starts = first[index]
        # tracklets after position p that start before position p's last frame overlap it
        ends = np.searchsorted(starts, last[index], side='right')
        count = np.maximum(ends - np.arange(len(index)) - 1, 0)
        if not count.sum():
            continue
        left = np.repeat(np.arange(len(index)), count)
        offset = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
        i, j = index[left], index[left + 1 + offset]
        out.append(np.stack([np.minimum(i, j), np.maximum(i, j)], 1))
    if not out:
        return np.zeros((0, 2), np.int64)
    pairs = np.concatenate(out)
    return pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]


def most_at_once(cameras, first, last) -> int:
    """The most tracklets one camera holds in one frame (0 without tracklets)."""
    cameras, first, last = _check_frames(cameras, first, last)
    most = 0
    for camera in np.unique(cameras):
        mine = cameras == camera
        frames = np.concatenate([first[mine], last[mine] + 1])
        steps = np.concatenate([np.ones(mine.sum(), np.int64), -np.ones(mine.sum(), np.int64)])
        order = np.lexsort((steps, frames))  # an end before a start in the same frame
        most = max(most, int(np.cumsum(steps[order]).max()))
    return most

"""MARS's query list, checked before torchreid reads it.

torchreid's ``Mars`` takes the query tracklets as ``track_test[query_IDX - 1]`` and
the gallery as every other test tracklet: an index past the test tracklets is an
``IndexError`` traceback, an index ``0`` silently queries the last tracklet, an index
listed twice evaluates that query twice, and a file without the ``query_IDX``
variable is a bare ``KeyError``. :func:`query_index_problem` names each.
"""
from __future__ import annotations

import os.path as osp

import numpy as np

QUERY_FILE = osp.join('mars', 'info', 'query_IDX.mat')
TEST_TRACKS_FILE = osp.join('mars', 'info', 'tracks_test_info.mat')


def query_index_problem(root: str) -> str | None:
    """What is wrong with ``<root>/mars/info/query_IDX.mat`` as an index into the test
    tracklets of ``tracks_test_info.mat`` (1-based, each once), naming the file; None
    when nothing is, or when a file is missing or unreadable (torchreid's loader and
    its callers name those)."""
    from scipy.io import loadmat

    path, test_path = osp.join(root, QUERY_FILE), osp.join(root, TEST_TRACKS_FILE)
    try:
        query, tracks = loadmat(path), loadmat(test_path)
    except Exception:  # scipy raises several kinds; missing or damaged files are named later
        return None
    where = f'mars file "{path}"'
    if 'query_IDX' not in query:
        names = [name for name in query if not name.startswith('__')]
        return f'{where} holds no query_IDX variable (it has: {", ".join(names) or "nothing"})'
    if 'track_test_info' not in tracks:
        return None  # torchreid's KeyError names the variable
    index = np.asarray(query['query_IDX']).ravel()
    num_test = len(np.asarray(tracks['track_test_info']))
    if index.size == 0 or not np.issubdtype(index.dtype, np.number) or \
            not np.all(np.isfinite(index)) or not np.all(index == np.round(index)):
        return f'{where} query_IDX must hold whole numbers (1-based test tracklet indices)'
    index = index.astype(np.int64)
    outside = index[(index < 1) | (index > num_test)]
    if outside.size:
        return (f'{where} query_IDX holds index {outside[0]}, but "{test_path}" lists '
                f'{num_test} test tracklets (indices 1..{num_test})')
    values, counts = np.unique(index, return_counts=True)
    if (counts > 1).any():
        value, count = values[counts > 1][0], counts[counts > 1][0]
        return f'{where} query_IDX holds index {value} {"twice" if count == 2 else f"{count} times"}'
    return None

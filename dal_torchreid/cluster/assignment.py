"""Pseudo-identities on two cameras as a one-to-one assignment, keeping confident pairs.

With one tracklet per person and camera (PRID2011, iLIDS-VID) a person is at
most a pair of tracklets, one in each camera, so pseudo-identities are an
assignment problem rather than a clustering one: the pairing that maximises
the total similarity between the two cameras' tracklets
(``scipy.optimize.linear_sum_assignment``, the Hungarian method), of which
only the confident pairs are kept, as DGM (Ye et al., ICCV 2017) keeps only its
confident matches. A pair ``(i, j)`` is kept when its similarity is at least
``min_similarity`` and its margin, the similarity minus the best similarity
either tracklet has to any other tracklet of the other camera, is at least
``min_margin`` (a margin ``>= 0``: mutual nearest neighbours). Un-kept
tracklets are outliers (own classes or dropped, as
:mod:`~dal_torchreid.cluster.pseudo_labels`).

Similarities are cosine similarities of camera-centred features when asked
(:func:`~dal_torchreid.cluster.camera.camera_centred`), as the clustering's.
"""
from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor

MIN_SIMILARITY = -1.0  # no floor: every assigned pair's similarity is at least -1
MIN_MARGIN = 0.0  # mutual nearest neighbours among the two cameras


def check_min_similarity(min_similarity: float) -> None:
    if not -1 <= min_similarity <= 1:
        raise ValueError(f'assignment_min_similarity must be in [-1, 1] (a cosine similarity), '
                         f'got {min_similarity}')


def check_min_margin(min_margin: float) -> None:
    if not -2 <= min_margin <= 2:
        raise ValueError(f'assignment_min_margin must be in [-2, 2] (a difference of cosine '
                         f'similarities; -2: every assigned pair), got {min_margin}')


def pair_margins(similarities: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """For each pair ``(rows[p], cols[p])``: its similarity minus the largest similarity of
    its row to another column or of its column to another row (``-inf`` excluded where
    there is no other; then the margin is ``+inf``)."""
    s = np.asarray(similarities, dtype=np.float64)
    row_other = np.full(len(rows), -np.inf)
    col_other = np.full(len(rows), -np.inf)
    if s.shape[1] > 1:
        masked = s[rows].copy()
        masked[np.arange(len(rows)), cols] = -np.inf
        row_other = masked.max(1)
    if s.shape[0] > 1:
        masked = s[:, cols].T.copy()
        masked[np.arange(len(rows)), rows] = -np.inf
        col_other = masked.max(1)
    return s[rows, cols] - np.maximum(row_other, col_other)


def confident_assignment(similarities: np.ndarray, min_similarity: float = MIN_SIMILARITY,
                         min_margin: float = MIN_MARGIN) -> tuple[np.ndarray, np.ndarray]:
    """``(rows, cols)`` of the one-to-one pairing of maximum total similarity whose pairs
    clear ``min_similarity`` and ``min_margin`` (:func:`pair_margins`).

    Examples::

        rows, cols = confident_assignment(first @ second.T, min_margin=0.05)
    """
    check_min_similarity(min_similarity)
    check_min_margin(min_margin)
    s = np.asarray(similarities, dtype=np.float64)
    if s.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    rows, cols = linear_sum_assignment(s, maximize=True)
    keep = (s[rows, cols] >= min_similarity) & (pair_margins(s, rows, cols) >= min_margin)
    return rows[keep].astype(np.int64), cols[keep].astype(np.int64)


def assignment_labels(features: Tensor, cameras: Tensor, min_similarity: float = MIN_SIMILARITY,
                      min_margin: float = MIN_MARGIN) -> np.ndarray:
    """Labels ``(N,)`` of L2-normalised two-camera tracklet features: ``0 .. P-1`` for the
    kept pairs (numbered in camera 0's order), ``-1`` for every other tracklet.

    Raises ``ValueError`` unless the tracklets come from exactly two cameras.
    """
    cameras = np.asarray(torch.as_tensor(cameras).cpu(), dtype=np.int64)
    present = np.unique(cameras)
    if len(present) != 2:
        raise ValueError(f'cc.pseudo_labels "assignment" pairs the tracklets of two cameras; '
                         f'the training set has {len(present)} camera(s): use "dbscan"')
    first, second = (np.flatnonzero(cameras == c) for c in present)
    feats = features.detach().float().cpu()
    sims = (feats[torch.from_numpy(first)] @ feats[torch.from_numpy(second)].t()).numpy()
    rows, cols = confident_assignment(sims, min_similarity, min_margin)
    labels = np.full(len(cameras), -1, dtype=np.int64)
    labels[first[rows]] = np.arange(len(rows))
    labels[second[cols]] = np.arange(len(rows))
    return labels

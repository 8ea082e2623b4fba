"""Sparse k-reciprocal Jaccard distances (Zhong et al., CVPR 2017), as Cluster Contrast uses them.

From each tracklet's ``k1`` nearest neighbours (itself first,
:func:`~dal_torchreid.cluster.neighbors.nearest_neighbors`):

1. its k-reciprocal neighbours: neighbours among whose own ``k1`` nearest it is;
2. expanded by each such neighbour's ``round(k1 / 2)``-reciprocal set when more
   than two thirds of that set already lies in the first;
3. weighted by a softmax of ``-(2 - 2 cos)`` over the expanded set (a sparse row
   ``V[i]`` summing to 1);
4. local query expansion: ``V[i]`` becomes the mean of the rows of its ``k2``
   nearest neighbours;
5. Jaccard distance ``d(i, j) = 1 - m / (2 - m)`` with ``m = sum_c min(V[i, c], V[j, c])``,
   clamped at 0.

The reference implementation computes the same quantities densely for every
pair (``clustercontrast/utils/faiss_rerank.py``). Here ``d`` is computed for the
pairs of each tracklet and its ``k1`` nearest neighbours (either direction) and
stored where it is below 1; every other pair counts as 1. So memory and time
grow with tracklets x ``k1`` x neighbourhood size, never with tracklets
squared (only the exact neighbour search compares all pairs, in chunks). A
pair outside both tracklets' ``k1`` neighbourhoods that still shares much of
their expanded neighbourhoods is rare and far from DBSCAN's radius: the tests
check the DBSCAN labels against the dense reference's.
"""
from __future__ import annotations

import numpy as np
import torch
from scipy import sparse
from torch import Tensor

from dal_torchreid.cluster.neighbors import nearest_neighbors

K1, K2 = 30, 6  # the reference's neighbourhood sizes
PAIRS_PER_CHUNK = 1 << 23  # (row, shared neighbour, row) triples expanded at once


def check_k1(k1: int) -> None:
    if k1 < 2:
        raise ValueError(f'k1 must be >= 2 (neighbours, itself included), got {k1}')


def check_k2(k2: int) -> None:
    if k2 < 1:
        raise ValueError(f'k2 must be >= 1 (1: no query expansion), got {k2}')


def reciprocal_mask(ranks: np.ndarray, k: int) -> np.ndarray:
    """``(N, k + 1)`` bool: whether ``ranks[i, a]`` (``a <= k``) holds ``i`` among its own
    first ``k + 1`` neighbours (a k-reciprocal neighbour of ``i``)."""
    forward = ranks[:, :k + 1]
    mask = np.empty(forward.shape, dtype=bool)
    rows = max(1, (1 << 22) // forward.shape[1] ** 2)
    for start in range(0, len(forward), rows):
        stop = min(len(forward), start + rows)
        backward = forward[forward[start:stop]]  # (rows, k + 1, k + 1)
        mask[start:stop] = (backward == np.arange(start, stop)[:, None, None]).any(-1)
    return mask


def _padded(ranks: np.ndarray, k: int) -> np.ndarray:
    """k-reciprocal neighbours of every row, left-aligned, padded with -1."""
    forward = ranks[:, :k + 1]
    mask = reciprocal_mask(ranks, k)
    order = np.argsort(~mask, axis=1, kind='stable')  # reciprocal ones first, in rank order
    out = np.take_along_axis(forward, order, axis=1)
    out[~np.take_along_axis(mask, order, axis=1)] = -1
    return out


def expanded_neighbors(ranks: np.ndarray, k1: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows, columns) of every tracklet's expanded k-reciprocal set (steps 1 and 2),
    sorted by row then column."""
    recip = _padded(ranks, k1)
    half = _padded(ranks, int(np.around(k1 / 2)))
    half_len = (half >= 0).sum(1)
    rows_out, cols_out = [], []
    n, width = recip.shape
    chunk = max(1, (1 << 22) // (width * width * half.shape[1]))
    for start in range(0, n, chunk):
        r = recip[start:start + chunk]  # (c, W)
        cand = np.where(r >= 0, r, 0)
        h = half[cand]  # (c, W, H): each candidate's half set
        inside = (h[..., None] == r[:, None, None, :]).any(-1) & (h >= 0)
        keep = (inside.sum(-1) > 2 / 3 * half_len[cand]) & (r >= 0)
        extra = np.where(keep[..., None], h, -1).reshape(len(r), -1)
        members = np.sort(np.concatenate([r, extra], axis=1), axis=1)
        first = np.ones_like(members, dtype=bool)
        first[:, 1:] = members[:, 1:] != members[:, :-1]
        valid = first & (members >= 0)
        rows_out.append(np.nonzero(valid)[0] + start)
        cols_out.append(members[valid])
    return np.concatenate(rows_out), np.concatenate(cols_out)


def _segment_softmax(values: np.ndarray, rows: np.ndarray, n: int) -> np.ndarray:
    """Softmax of ``values`` within each row (``rows`` sorted, every row present)."""
    starts = np.searchsorted(rows, np.arange(n))
    peak = np.maximum.reduceat(values, starts)[rows]
    e = np.exp(values - peak)
    return e / np.add.reduceat(e, starts)[rows]


def _weights(features: Tensor, rows: np.ndarray, cols: np.ndarray, ranks: np.ndarray,
             sims: np.ndarray) -> np.ndarray:
    """Step 3: softmax over each row's set of ``-(2 - 2 cos)``, float32 as the reference.

    Most of a row's set are its nearest neighbours, whose similarities the search
    already gave (``ranks``, ``sims``); the others are computed here."""
    n = features.size(0)
    known = np.argsort(np.arange(n)[:, None] * n + ranks, axis=None)
    keys = (np.arange(n)[:, None] * n + ranks).ravel()[known]
    wanted = rows.astype(np.int64) * n + cols
    at = np.searchsorted(keys, wanted).clip(max=len(keys) - 1)
    found = keys[at] == wanted
    dots = np.where(found, sims.ravel()[known][at], 0).astype(np.float32)
    missing = np.flatnonzero(~found)
    step = max(1, (1 << 20) // features.size(1))
    r, c = torch.from_numpy(rows[missing]), torch.from_numpy(cols[missing])
    for start in range(0, len(missing), step):
        a, b = features[r[start:start + step]], features[c[start:start + step]]
        dots[missing[start:start + step]] = (a * b).sum(1).numpy()
    return _segment_softmax(-(2 - 2 * dots), rows, n).astype(np.float32)


def candidate_pairs(v: sparse.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """Unordered pairs ``(i, j)``, ``i <= j``, where ``V[i, j]`` or ``V[j, i]`` is stored (``j``
    in ``i``'s expanded, query-expanded neighbourhood or the reverse), the diagonal
    included; sorted."""
    n = v.shape[0]
    i = np.repeat(np.arange(n, dtype=np.int64), np.diff(v.indptr))
    j = v.indices.astype(np.int64)
    keys = np.unique(np.concatenate([np.minimum(i, j) * n + np.maximum(i, j),
                                     np.arange(n, dtype=np.int64) * (n + 1)]))
    return keys // n, keys % n


def pair_overlap(v: sparse.csr_matrix, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """``m = sum_c min(V[i, c], V[j, c])`` for each pair ``(i[p], j[p])`` (step 5's ``m``),
    pairs sorted by ``i``.

    Rows ``i`` are spread, a block at a time, into a dense buffer of about
    :data:`PAIRS_PER_CHUNK` values (cleared entry by entry after use, so the cost
    grows with the stored entries, not with N squared); each pair then reads row
    ``j``'s stored entries against it.
    """
    n = v.shape[1]
    lengths = np.diff(v.indptr)
    block = max(1, min(v.shape[0], PAIRS_PER_CHUNK // max(n, 1)))
    dense = np.zeros((block, n), dtype=np.float32)
    out = np.zeros(len(i), dtype=np.float64)
    bounds = np.searchsorted(i, np.arange(0, v.shape[0] + block, block))
    for b, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:])):
        if lo == hi:
            continue
        first = b * block
        a, z = v.indptr[first], v.indptr[min(first + block, v.shape[0])]
        local = np.repeat(np.arange(min(block, v.shape[0] - first)),
                          lengths[first:first + block])
        dense[local, v.indices[a:z]] = v.data[a:z]
        for start in range(lo, hi, PAIRS_PER_CHUNK // 256):
            stop = min(hi, start + PAIRS_PER_CHUNK // 256)
            rows_j = j[start:stop]
            counts = lengths[rows_j]
            pos = np.arange(counts.sum()) + np.repeat(
                v.indptr[rows_j] - np.cumsum(counts) + counts, counts)
            pair = np.repeat(np.arange(stop - start), counts)
            m = np.minimum(dense[i[start:stop][pair] - first, v.indices[pos]], v.data[pos])
            out[start:stop] = np.bincount(pair, weights=m, minlength=stop - start)
        dense[local, v.indices[a:z]] = 0
    return out


def jaccard_distances(features: Tensor, k1: int = K1, k2: int = K2,
                      cameras: Tensor | None = None,
                      neighbors: tuple[Tensor, Tensor] | None = None) -> sparse.csr_matrix:
    """Sparse ``(N, N)`` k-reciprocal Jaccard distances of L2-normalised ``features``.

    Args:
        features (Tensor): ``(N, D)`` L2-normalised tracklet features.
        k1 (int): neighbourhood size, itself included (reference 30).
        k2 (int): query-expansion size (reference 6; 1: none).
        cameras (Tensor, optional): ``(N,)`` cameras: neighbours are searched among
            other cameras' tracklets only (the cross-camera constraint).
        neighbors (tuple, optional): ``(indices, similarities)`` of the ``k1`` nearest
            neighbours, as :func:`~dal_torchreid.cluster.neighbors.nearest_neighbors`
            returns them with ``return_similarities=True``, when searched already.

    Returns a CSR matrix whose stored entries are the pairs with distance below
    1 (the diagonal, 0, included, stored explicitly even where it is 0); a pair
    not stored is at distance 1.

    Examples::

        distances = jaccard_distances(F.normalize(features, dim=1), k1=30, k2=6)
        labels = DBSCAN(eps=0.6, min_samples=4, metric='precomputed').fit_predict(distances)
    """
    check_k1(k1)
    check_k2(k2)
    features = features.detach().float().cpu().contiguous()
    n = features.size(0)
    if neighbors is None:
        neighbors = nearest_neighbors(features, k1, cameras, return_similarities=True)
    ranks, sims = (t.cpu().numpy() for t in neighbors)
    rows, cols = expanded_neighbors(ranks, k1)
    v = sparse.csr_matrix((_weights(features, rows, cols, ranks, sims), (rows, cols)), shape=(n, n),
                          dtype=np.float32)
    if k2 != 1:
        near = ranks[:, :k2]
        q = sparse.csr_matrix((np.full(near.size, 1.0 / near.shape[1], dtype=np.float32),
                               (np.repeat(np.arange(n), near.shape[1]), near.ravel())),
                              shape=(n, n))
        v = (q @ v).tocsr()
    v.sort_indices()
    i, j = candidate_pairs(v)
    m = pair_overlap(v, i, j)
    keep = (m > 0) | (i == j)
    i, j, dist = i[keep], j[keep], np.maximum(1 - m[keep] / (2 - m[keep]), 0).astype(np.float32)
    off = i != j
    out = sparse.csr_matrix((np.concatenate([dist, dist[off]]),
                             (np.concatenate([i, j[off]]), np.concatenate([j, i[off]]))),
                            shape=(n, n))
    out.sort_indices()
    return out

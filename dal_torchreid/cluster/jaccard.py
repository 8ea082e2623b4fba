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

Only pairs that share a neighbour have ``d < 1``; they are the stored entries of
the sparse result, so memory grows with tracklets x neighbourhood size, never
with tracklets squared. The reference implementation computes the same
quantities densely (``clustercontrast/utils/faiss_rerank.py``).
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


def _weights(features: Tensor, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Step 3: softmax over each row's set of ``-(2 - 2 cos)``, float32 as the reference."""
    step = max(1, (1 << 24) // features.size(1))
    dots = np.empty(len(rows), dtype=np.float32)
    r, c = torch.from_numpy(rows), torch.from_numpy(cols)
    for start in range(0, len(rows), step):
        a, b = features[r[start:start + step]], features[c[start:start + step]]
        dots[start:start + step] = (a * b).sum(1).numpy()
    return _segment_softmax(-(2 - 2 * dots), rows, features.size(0)).astype(np.float32)


def _min_overlap(v: sparse.csr_matrix) -> sparse.coo_matrix:
    """``m[i, j] = sum_c min(V[i, c], V[j, c])`` over shared columns, sparse (step 5's m)."""
    n = v.shape[0]
    csc = v.tocsc()
    col_nnz = np.diff(csc.indptr)
    entry_rows = np.repeat(np.arange(n), np.diff(v.indptr))
    cost = np.bincount(entry_rows, weights=col_nnz[v.indices], minlength=n)
    bounds = [0]
    total = 0
    for i, c in enumerate(cost):
        if total + c > PAIRS_PER_CHUNK and i > bounds[-1]:
            bounds.append(i)
            total = 0
        total += c
    bounds.append(n)
    out_r, out_c, out_v = [], [], []
    for start, stop in zip(bounds[:-1], bounds[1:]):
        lo, hi = v.indptr[start], v.indptr[stop]
        entry_row = np.repeat(np.arange(start, stop), np.diff(v.indptr[start:stop + 1]))
        entry_col, entry_val = v.indices[lo:hi], v.data[lo:hi]
        counts = col_nnz[entry_col]
        # for each entry (i, c), every entry (j, c) of its column
        offsets = np.repeat(csc.indptr[entry_col] - np.cumsum(counts) + counts, counts)
        pos = np.arange(counts.sum()) + offsets
        j, w = csc.indices[pos], csc.data[pos]
        i = np.repeat(entry_row, counts)
        m = np.minimum(np.repeat(entry_val, counts), w)
        key, inverse = np.unique(i.astype(np.int64) * n + j, return_inverse=True)
        out_r.append(key // n)
        out_c.append(key % n)
        out_v.append(np.bincount(inverse, weights=m).astype(np.float32))
    return sparse.coo_matrix((np.concatenate(out_v), (np.concatenate(out_r), np.concatenate(out_c))),
                             shape=(n, n))


def jaccard_distances(features: Tensor, k1: int = K1, k2: int = K2,
                      cameras: Tensor | None = None) -> sparse.csr_matrix:
    """Sparse ``(N, N)`` k-reciprocal Jaccard distances of L2-normalised ``features``.

    Args:
        features (Tensor): ``(N, D)`` L2-normalised tracklet features.
        k1 (int): neighbourhood size, itself included (reference 30).
        k2 (int): query-expansion size (reference 6; 1: none).
        cameras (Tensor, optional): ``(N,)`` cameras: neighbours are searched among
            other cameras' tracklets only (the cross-camera constraint).

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
    ranks = nearest_neighbors(features, k1, cameras).numpy()
    rows, cols = expanded_neighbors(ranks, k1)
    v = sparse.csr_matrix((_weights(features, rows, cols), (rows, cols)), shape=(n, n),
                          dtype=np.float32)
    if k2 != 1:
        near = ranks[:, :k2]
        q = sparse.csr_matrix((np.full(near.size, 1.0 / near.shape[1], dtype=np.float32),
                               (np.repeat(np.arange(n), near.shape[1]), near.ravel())),
                              shape=(n, n))
        v = (q @ v).tocsr()
    v.sort_indices()
    m = _min_overlap(v)
    dist = np.maximum(1 - m.data / (2 - m.data), 0).astype(np.float32)
    out = sparse.csr_matrix((dist, (m.row, m.col)), shape=(n, n))
    out.sort_indices()
    return out

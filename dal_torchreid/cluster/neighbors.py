"""Exact k-nearest neighbours of L2-normalised features, computed in blocks with torch.

Cluster Contrast searches neighbours with faiss's flat (exact) index; an exact
top-k over feature dot products gives the same neighbours (up to the order of
exact ties). The similarity matrix is symmetric, so only its blocks on and
above the diagonal are computed, each serving the top-k of its rows and,
transposed, of its columns: half the multiply-adds of a row-by-row search (and
of faiss's flat index, measured slower than this on CPU: docs/benchmarks.md).
A block holds at most :data:`CHUNK_ELEMENTS` similarities, so memory grows with
``N x k`` and the block, never with ``N x N``.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

CHUNK_ELEMENTS = 1 << 24  # similarities held at once (64 MiB of float32)


def _merge(best: Tensor, best_index: Tensor, rows: slice, sims: Tensor, offset: int) -> None:
    """Keeps in ``best[rows]`` the largest of its values and ``sims``'s rows (columns
    numbered from ``offset``)."""
    k = best.size(1)
    top = sims.topk(min(k, sims.size(1)), dim=1)
    values = torch.cat([best[rows], top.values], 1)
    indices = torch.cat([best_index[rows], top.indices + offset], 1)
    keep = values.topk(k, dim=1)
    best[rows] = keep.values
    best_index[rows] = indices.gather(1, keep.indices)


def nearest_neighbors(features: Tensor, k: int, cameras: Tensor | None = None,
                      chunk_elements: int = CHUNK_ELEMENTS,
                      return_similarities: bool = False) -> Tensor | tuple[Tensor, Tensor]:
    """Indices ``(N, k)`` of each row's ``k`` most similar rows (dot product), itself first.

    Args:
        features (Tensor): ``(N, D)``, L2-normalised.
        k (int): neighbours per row, itself included; at most ``N`` (fewer when
            ``cameras`` leaves fewer candidates: then ``min(k, 1 + smallest number of
            other-camera rows)``).
        cameras (Tensor, optional): ``(N,)`` camera of each row: when given, a row's
            neighbours (after itself) come from other cameras only, the cross-camera
            constraint of :mod:`dal_torchreid.cluster.pseudo_labels`.
        chunk_elements (int): similarities computed at once (a block of
            ``sqrt(chunk_elements)`` rows by as many columns).
        return_similarities (bool): also return the ``(N, k)`` dot products (a row's own:
            its squared norm), in decreasing order after the first.

    The search runs on ``features``'s device; the results are on the CPU.
    """
    n = features.size(0)
    if cameras is not None:
        counts = torch.bincount(cameras)
        others = n - counts[counts > 0].max().item()
        k = min(k, 1 + others)
    k = min(k, n)
    if k < 1:
        raise ValueError(f'k must be >= 1, got {k}')
    features = features.float()
    device = features.device
    if cameras is not None:
        cameras = cameras.to(device)
    block = max(1, math.isqrt(chunk_elements))
    best = torch.full((n, k), float('-inf'), device=device)
    best_index = torch.full((n, k), -1, dtype=torch.long, device=device)
    own = torch.empty(n, device=device)
    for lo in range(0, n, block):
        rows = slice(lo, min(n, lo + block))
        for lo2 in range(lo, n, block):
            cols = slice(lo2, min(n, lo2 + block))
            sims = features[rows] @ features[cols].t()
            diagonal = torch.arange(sims.size(0), device=device) if lo2 == lo else None
            if diagonal is not None:
                own[rows] = sims[diagonal, diagonal]
            if cameras is not None:
                sims.masked_fill_(cameras[rows, None] == cameras[None, cols], float('-inf'))
            if diagonal is not None:
                sims[diagonal, diagonal] = float('inf')  # itself first, whatever duplicates exist
                _merge(best, best_index, rows, sims, lo2)
            else:
                _merge(best, best_index, rows, sims, lo2)
                _merge(best, best_index, cols, sims.t(), lo)
    best[:, 0] = own
    best, best_index = best.cpu(), best_index.cpu()
    return (best_index, best) if return_similarities else best_index

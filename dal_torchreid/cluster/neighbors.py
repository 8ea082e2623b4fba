"""Exact k-nearest neighbours of L2-normalised features, computed in chunks with torch.

Cluster Contrast searches neighbours with faiss; an exact top-k over feature dot
products gives the same neighbours (up to the order of exact ties). Rows are
processed :data:`CHUNK_ELEMENTS` similarities at a time, so memory grows with
``N x k`` and the chunk, never with ``N x N``.
"""
from __future__ import annotations

import torch
from torch import Tensor

CHUNK_ELEMENTS = 1 << 24  # similarities held at once (64 MiB of float32)


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
        chunk_elements (int): similarities computed at once.
        return_similarities (bool): also return the ``(N, k)`` dot products (a row's own:
            its squared norm).
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
    rows = max(1, chunk_elements // max(n, 1))
    out = torch.empty(n, k, dtype=torch.long)
    values = torch.empty(n, k)
    for start in range(0, n, rows):
        stop = min(n, start + rows)
        sims = features[start:stop] @ features.t()
        index = torch.arange(start, stop)
        own = sims[index - start, index].clone()
        if cameras is not None:
            sims.masked_fill_(cameras[start:stop, None] == cameras[None, :], float('-inf'))
        sims[index - start, index] = float('inf')  # itself first, whatever duplicates exist
        top = sims.topk(k, dim=1)
        out[start:stop] = top.indices
        values[start:stop] = top.values
        values[start:stop, 0] = own
    return (out, values) if return_similarities else out

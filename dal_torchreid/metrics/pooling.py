"""Tracklet features from frame features: average, max, or the DAL release's pooling.

A video re-id model embeds frames; a tracklet is compared through one vector
pooled over its frames. torchreid offers ``'avg'`` and ``'max'``. The DAL
release evaluates with ``'release'``: every frame feature is L2-normalised,
the tracklet keeps the element-wise maximum over its frames, and that vector is
L2-normalised again, so long and short tracklets weigh alike and distances
between tracklets lie in [0, 4] (squared Euclidean).

Two forms compute the same thing:

- :func:`pool_frames` pools one tracklet's frames ``(S, D)``, or a batch of
  equal-length clips ``(B, S, D)`` (torchreid's ``extract_features``);
- :func:`pool_by_tracklet` accumulates frames of many tracklets, batch after
  batch, by tracklet index; :func:`finalize_pooled` turns the accumulator into
  tracklet features once every batch is in.
"""
from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

POOLING_METHODS = ('avg', 'max', 'release')
POOLING_METHOD = 'release'


def check_pooling_method(method: str) -> None:
    """Raises ``ValueError`` unless ``method`` is one of :data:`POOLING_METHODS`."""
    if method not in POOLING_METHODS:
        raise ValueError(f'pooling_method must be one of {list(POOLING_METHODS)}, got {method!r}')


def pool_frames(features: Tensor, method: str = POOLING_METHOD) -> Tensor:
    """Pools frame features over the frame axis (the second to last): ``(..., S, D) -> (..., D)``.

    ``'avg'``: mean; ``'max'``: element-wise maximum; ``'release'``:
    ``normalize(max(normalize(frames)))``, normalising along the feature axis.

    Examples::

        frames = model(clip)                           # (S, D)
        tracklet = pool_frames(frames, 'release')      # (D,), unit length
        clips = model(x.view(b * s, c, h, w)).view(b, s, -1)
        tracklets = pool_frames(clips, 'avg')          # (b, D)
    """
    check_pooling_method(method)
    if features.dim() < 2:
        raise ValueError(f'features must have a frame axis and a feature axis, '
                         f'got shape {tuple(features.shape)}')
    if features.size(-2) == 0:
        raise ValueError('features must hold at least one frame, got shape '
                         f'{tuple(features.shape)}')
    if method == 'avg':
        return features.mean(dim=-2)
    if method == 'max':
        return features.amax(dim=-2)
    return F.normalize(F.normalize(features, dim=-1).amax(dim=-2), dim=-1)


def pool_by_tracklet(features: Tensor, tracklet_index: Tensor, num_tracklets: int,
                     method: str = POOLING_METHOD, out: Tensor | None = None) -> Tensor:
    """Accumulates frame features ``(N, D)`` into ``(num_tracklets, D)`` by tracklet index.

    ``tracklet_index[i]`` is the tracklet of frame ``i``. Pass the previous
    result as ``out`` to accumulate batch after batch (a new ``out`` starts at
    0 for ``'avg'``, ``-inf`` otherwise); ``out`` is updated in place and
    returned. The accumulator holds, per tracklet, the SUM of its frames
    (``'avg'``), their element-wise maximum (``'max'``), or the maximum of the
    L2-normalised frames (``'release'``): pass it to :func:`finalize_pooled`.

    Examples::

        pooled = None
        for imgs, tracklet in loader:                  # frames across tracklets
            pooled = pool_by_tracklet(model(imgs), tracklet, num_tracklets, 'release', pooled)
        features = finalize_pooled(pooled, counts, 'release')
    """
    check_pooling_method(method)
    if features.dim() != 2 or tracklet_index.shape != features.shape[:1]:
        raise ValueError(f'features must be (N, D) and tracklet_index (N,), got '
                         f'{tuple(features.shape)} and {tuple(tracklet_index.shape)}')
    if out is None:
        fill = 0.0 if method == 'avg' else float('-inf')
        out = features.new_full((num_tracklets, features.size(1)), fill)
    if method == 'avg':
        return out.index_add_(0, tracklet_index, features)
    if method == 'release':
        features = F.normalize(features, dim=1)
    index = tracklet_index.unsqueeze(1).expand_as(features)
    return out.scatter_reduce_(0, index, features, reduce='amax', include_self=True)


def finalize_pooled(pooled: Tensor, counts: Tensor, method: str = POOLING_METHOD) -> Tensor:
    """Tracklet features from a :func:`pool_by_tracklet` accumulator.

    ``counts[t]`` is the number of frames of tracklet ``t``; every tracklet
    needs at least one. ``'avg'`` divides the sums by the counts, ``'release'``
    L2-normalises the maxima, ``'max'`` returns them as they are.
    """
    check_pooling_method(method)
    counts = torch.as_tensor(counts, device=pooled.device)
    if counts.shape != pooled.shape[:1]:
        raise ValueError(f'counts must hold one frame count per tracklet ({pooled.size(0)}), '
                         f'got shape {tuple(counts.shape)}')
    empty = torch.nonzero(counts < 1).flatten()
    if empty.numel() > 0:
        raise ValueError(f'counts: tracklets {empty[:10].tolist()} have no frames')
    if method == 'avg':
        return pooled / counts.unsqueeze(1).to(pooled.dtype)
    if method == 'release':
        return F.normalize(pooled, dim=1)
    return pooled

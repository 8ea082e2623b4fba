"""Global person ids for tracklets of several cameras: camera-aware clustering under cannot-links.

Two tracks that overlap in time in one camera are two people (a tracker gives one
person one box per frame): :func:`temporal_cannot_links` lists those pairs.
:func:`global_ids` clusters the tracklet features with the camera-aware clustering
Cluster Contrast trains with (:func:`~dal_torchreid.cluster.pseudo_labels.cluster_tracklets`:
camera-centred features, k-reciprocal Jaccard distances, DBSCAN; every tracklet left
out is an identity of its own), then splits each cluster that holds a cannot-link pair
(:func:`split_cannot_links`), so no identity ever holds two overlapping tracks of one
camera. Fragments of one walk (tracks that follow one another) may share an identity.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

from dal_torchreid.cluster.pseudo_labels import ClusteringSettings, cluster_tracklets
from dal_torchreid.footage.constraints import time_overlap_pairs

# Defaults of the association (config keys associate.*).
K1, K2 = 10, 3  # Jaccard neighbourhoods: a person has a few tracklets, not dozens
EPS = 0.6
MIN_SAMPLES = 1  # a pair of tracklets is enough for an identity
TOP_K = 5  # matches listed per tracklet


def check_top_k(top_k: int) -> None:
    if top_k < 1:
        raise ValueError(f'top_k must be >= 1, got {top_k}')


def temporal_cannot_links(cameras: Sequence, first: Sequence[int], last: Sequence[int]) -> set:
    """Pairs ``(i, j)``, ``i < j``, of tracklets of one camera whose frame ranges
    ``first .. last`` (inclusive) overlap, as a set
    (:func:`~dal_torchreid.footage.constraints.time_overlap_pairs`)."""
    return set(map(tuple, time_overlap_pairs(cameras, first, last).tolist()))


def split_cannot_links(labels: np.ndarray, similarity: np.ndarray, cannot_link: set) -> np.ndarray:
    """``labels`` with every cluster holding a cannot-link pair split greedily: members in
    order of their mean similarity to the cluster, each joining the sub-cluster it is
    most similar to (mean) among those it may join, else starting one. Labels stay
    ``0 .. C-1``."""
    labels = np.asarray(labels).copy()
    if not cannot_link:
        return labels
    linked: dict[int, set] = {}
    for i, j in cannot_link:
        linked.setdefault(i, set()).add(j)
        linked.setdefault(j, set()).add(i)
    next_label = labels.max(initial=-1) + 1
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        if not any(linked.get(m, set()) & set(members.tolist()) for m in members):
            continue
        sub = similarity[np.ix_(members, members)]
        order = members[np.argsort(-sub.mean(1), kind='stable')]
        groups: list[list[int]] = []
        for m in order:
            allowed = [g for g in groups if not linked.get(m, set()) & set(g)]
            if allowed:
                max(allowed, key=lambda g: similarity[m, g].mean()).append(m)
            else:
                groups.append([m])
        for g in groups[1:]:
            labels[g] = next_label
            next_label += 1
    _, labels = np.unique(labels, return_inverse=True)
    return labels.astype(np.int64)


def global_ids(features: Tensor, cameras: Sequence[int], cannot_link: set = frozenset(),
               k1: int = K1, k2: int = K2, eps: float = EPS,
               min_samples: int = MIN_SAMPLES) -> np.ndarray:
    """One identity ``0 .. P-1`` per tracklet, no identity holding a ``cannot_link`` pair.

    Args:
        features (Tensor): ``(N, D)`` tracklet features (L2-normalised here).
        cameras (sequence): camera index of each tracklet.
        cannot_link (set): pairs ``(i, j)`` that must not share an identity.
        k1, k2, eps, min_samples: the clustering's (Jaccard neighbourhoods, DBSCAN).

    Examples::

        links = temporal_cannot_links(cameras, first_frames, last_frames)
        ids = global_ids(features, cameras, links)
    """
    features = F.normalize(torch.as_tensor(features, dtype=torch.float32), dim=1)
    cameras = torch.as_tensor(np.asarray(cameras), dtype=torch.long)
    if len(features) == 1:
        return np.zeros(1, dtype=np.int64)
    k1 = max(2, min(k1, len(features) - 1))
    several = bool(cameras.max() > 0)
    labels = cluster_tracklets(features, cameras, ClusteringSettings(
        k1=k1, k2=min(k2, k1), eps=eps, min_samples=min_samples, camera_centred=several,
        cross_camera=several, outliers='own_class'))
    similarity = (features @ features.T).numpy()
    return split_cannot_links(labels, similarity, set(cannot_link))


def top_matches(features: Tensor, cameras: Sequence[int], top_k: int = TOP_K) -> tuple[np.ndarray, np.ndarray]:
    """Each tracklet's ``top_k`` most similar tracklets of other cameras: ``(index, cosine
    similarity)``, each ``(N, top_k)``, ``-1`` / ``nan`` where fewer exist."""
    check_top_k(top_k)
    features = F.normalize(torch.as_tensor(features, dtype=torch.float32), dim=1)
    cameras = torch.as_tensor(np.asarray(cameras), dtype=torch.long)
    similarity = features @ features.T
    similarity[cameras[:, None] == cameras[None, :]] = -float('inf')
    k = min(top_k, len(features))
    values, index = similarity.topk(k, dim=1)
    valid = torch.isfinite(values)
    index = torch.where(valid, index, torch.full_like(index, -1)).numpy()
    values = torch.where(valid, values, torch.full_like(values, float('nan'))).numpy()
    if k < top_k:
        index = np.pad(index, ((0, 0), (0, top_k - k)), constant_values=-1)
        values = np.pad(values, ((0, 0), (0, top_k - k)), constant_values=np.nan)
    return index, values

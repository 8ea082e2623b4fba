"""Ids carried to new footage tracklet by tracklet: each takes its most similar identity's.

:func:`~dal_torchreid.footage.gallery.carry_ids` matches whole clusters of the new
footage with the gallery's identities, one to one: right when both associations are
right, but a cluster that joined two people (small batches of footage cluster coarsely)
gives both the same id. :func:`carry_tracklet_ids` decides each new tracklet on its own:

1. its cosine similarity to every identity of the gallery (the identity's summary
   feature, :func:`identity_similarities`);
2. tracklets in decreasing order of their best similarity take their best identity's
   global id where it reaches the threshold; two tracks of one camera that overlap in time
   are two people, so a tracklet whose best identity already holds such a track takes its
   next best one that reaches the threshold, or none (:func:`assign_identities`);
3. the tracklets left keep the new association's clusters, and each cluster left gets a
   global id never used before.

Memory is ``new tracklets x gallery identities`` similarities, computed a block at a time.

Examples::

    ids, grown = carry_tracklet_ids(previous, features, cameras, first, last, association.ids,
                                    0.8, tracks=tracks, fingerprint=fingerprint)
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from torch import Tensor

from dal_torchreid.footage.gallery import (
    Gallery, ModelFingerprint, checked_batch, grown_gallery
)
from dal_torchreid.footage.global_ids import temporal_cannot_links

_BLOCK = 2 ** 22  # similarities computed at once


def identity_similarities(features: Tensor, summaries: Tensor) -> np.ndarray:
    """``(M, P)`` cosine similarities of L2-normalised ``features`` to identity summaries."""
    rows = max(1, _BLOCK // max(1, len(summaries)))
    blocks = [(features[i:i + rows] @ summaries.T).numpy() for i in range(0, len(features), rows)]
    return np.concatenate(blocks) if blocks else np.zeros((0, len(summaries)), np.float32)


def assign_identities(similarity: np.ndarray, threshold: float,
                      cannot_link: set = frozenset()) -> np.ndarray:
    """The identity (column) each tracklet (row) takes, -1 for none: rows in decreasing order
    of their best similarity take their most similar column at or above ``threshold`` that
    holds no row they are cannot-linked with (pairs ``(i, j)``)."""
    similarity = np.asarray(similarity)
    assigned = np.full(len(similarity), -1, dtype=np.int64)
    if similarity.size == 0:
        return assigned
    linked: dict[int, set] = {}
    for i, j in cannot_link:
        linked.setdefault(i, set()).add(j)
        linked.setdefault(j, set()).add(i)
    holders: dict[int, set] = {}
    best = similarity.max(1)
    for row in np.argsort(-best, kind='stable'):
        if best[row] < threshold:
            break
        for col in np.argsort(-similarity[row], kind='stable'):
            if similarity[row, col] < threshold:
                break
            if not linked.get(int(row), set()) & holders.get(int(col), set()):
                assigned[row] = col
                holders.setdefault(int(col), set()).add(int(row))
                break
    return assigned


def carry_tracklet_ids(previous: Gallery, features: Tensor, cameras: Sequence[str],
                       first: Sequence[int], last: Sequence[int], new_ids: Sequence[int],
                       threshold: float, *, tracks: Sequence[int], fingerprint: ModelFingerprint,
                       camera_links: dict | None = None, source: str = '',
                       similarity: np.ndarray | None = None) -> tuple[np.ndarray, Gallery]:
    """Global ids for the tracklets of new footage, carried from ``previous`` tracklet by
    tracklet (see the module); the grown gallery.

    Args:
        previous (Gallery): the gallery so far.
        features (Tensor): ``(M, D)`` features of the new tracklets, from the same model.
        cameras, first, last: camera, first and last frame of each new tracklet.
        new_ids (sequence of int): the new association's cluster of each tracklet.
        threshold (float): least similarity to an identity's summary for its id, in
            ``(0, 1]``; the grown gallery records it.
        tracks (sequence of int): the tracker's id of each new tracklet.
        fingerprint (ModelFingerprint): the model that made ``features`` (a gallery of
            another model is refused).
        camera_links (dict, optional): camera links to record; default: the gallery's.
        source (str, optional): the new footage's tracklet data set folder.
        similarity (np.ndarray, optional): the features' similarity to the gallery's
            identities when already computed
            (:func:`~dal_torchreid.footage.gallery.identity_similarities`).

    Returns:
        tuple: each new tracklet's global id (``np.ndarray``) and the grown
        :class:`~dal_torchreid.footage.gallery.Gallery`.

    Examples::

        ids, grown = carry_tracklet_ids(load_gallery('out/day1'), features, cameras, first,
                                        last, association.ids, 0.8, tracks=tracks,
                                        fingerprint=fingerprint)
    """
    if not 0 < threshold <= 1:
        raise ValueError(f'threshold must be in (0, 1], got {threshold}')
    features, new_ids = checked_batch(previous, features, cameras, new_ids, fingerprint)
    if similarity is None:
        similarity = identity_similarities(features, previous.summaries)
    elif np.shape(similarity) != (len(features), len(previous.summaries)):
        raise ValueError(f'similarity has shape {np.shape(similarity)} for {len(features)} '
                         f'features and {len(previous.summaries)} identities')
    assigned = assign_identities(similarity, threshold,
                                 temporal_cannot_links(cameras, first, last))
    old_ids = previous.summary_ids.numpy()
    ids = np.where(assigned >= 0, old_ids[np.maximum(assigned, 0)], 0).astype(np.int64)
    next_id = previous.next_id
    for cluster in np.unique(new_ids[assigned < 0]):  # what is left of each cluster: new ids
        ids[(new_ids == cluster) & (assigned < 0)] = next_id
        next_id += 1
    return ids, grown_gallery(previous, features, cameras, tracks, first, last, ids, threshold,
                              next_id, camera_links, source)

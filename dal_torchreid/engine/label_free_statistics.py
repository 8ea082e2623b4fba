"""What a label-free run can report without identities: DAL's cycle-consistent associations,
Cluster Contrast's clusters.

On a data set with no identities (a user's footage) there is no rank-1 and no pair
precision; these monitors take the place of :mod:`dal_torchreid.engine.diagnostics`' and
report, per epoch, only what the training itself decides:

* DAL (:class:`CycleConsistencyMonitor`): at the end of each epoch, the pairs of
  tracklets of different cameras whose anchors (DAL's tracklet memory) are each
  other's best match among all other cameras' tracklets (:func:`mutual_best_matches`:
  a cycle-consistent cross-camera association, each pair once, each tracklet in one
  pair at most, so at most half the tracklets make pairs), their number and the
  fraction of tracklets in one; and, apart, how many distinct pairs cyclic ranking
  associated over the epoch's steps (anchors move during an epoch, so one tracklet
  meets several partners: that count is no fraction of anything);
* Cluster Contrast (:class:`ClusterStatisticsMonitor`): clusters of two tracklets or
  more, the fraction of outliers, and the cluster sizes (mean, largest).

Each prints one line per epoch, logs ``Train/label_free_*`` to TensorBoard and keeps
its dicts in ``statistics`` (written to ``results.json`` as ``label_free``).
"""
from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from dal_torchreid.engine.diagnostics import association_pairs
from dal_torchreid.engine.diagnostics import cluster_statistics as identity_free_cluster_statistics


def _log(writer, stats: dict, keys, epoch: int) -> None:
    if writer is not None:
        for key in keys:
            writer.add_scalar('Train/label_free_' + key, stats[key], epoch - 1)


def mutual_best_matches(anchors: torch.Tensor, cameras) -> list[tuple[int, int]]:
    """Pairs ``(i, j)``, ``i < j``, of rows of ``anchors`` in different ``cameras`` that are
    each other's most similar (cosine) among all other cameras' rows. A row of zeros (an
    anchor never written) matches nothing. Each row is in one pair at most.

    Examples::

        mutual_best_matches(torch.tensor([[1., 0], [0, 1], [.9, .1]]), [0, 0, 1])  # [(0, 2)]
    """
    anchors = torch.as_tensor(anchors, dtype=torch.float32).detach().cpu()
    cameras = torch.as_tensor(cameras).reshape(-1).cpu()
    if anchors.size(0) < 2:
        return []
    valid = anchors.norm(dim=1) > 0
    unit = F.normalize(anchors, dim=1)
    similarity = unit @ unit.T
    allowed = (cameras[:, None] != cameras[None, :]) & valid[:, None] & valid[None, :]
    similarity = similarity.masked_fill(~allowed, -float('inf'))
    value, best = similarity.max(1)
    best = torch.where(torch.isfinite(value), best, torch.full_like(best, -1)).tolist()
    return [(i, j) for i, j in enumerate(best) if i < j and best[j] == i]


def cycle_consistency(anchors: torch.Tensor, cameras, rows=None) -> dict:
    """DAL's label-free statistic of an epoch: ``num_associations``, the pairs of
    :func:`mutual_best_matches` of the tracklets' ``anchors``, and
    ``associated_fraction``, the fraction of tracklets in one (at most 1: each pair
    holds two tracklets, each tracklet one pair); with the epoch's association
    ``rows`` ``(c, k, c2, k2)``, ``pairs_made``, the distinct pairs cyclic ranking made
    over its steps (:func:`~dal_torchreid.engine.diagnostics.association_pairs`)."""
    pairs = mutual_best_matches(anchors, cameras)
    num = len(anchors)
    stats = {'num_associations': len(pairs),
             'associated_fraction': 2 * len(pairs) / num if num else 0.0}
    if rows is not None:
        stats['pairs_made'] = len(association_pairs(rows))
    return stats


def cluster_statistics(labels) -> dict:
    """:func:`dal_torchreid.engine.diagnostics.cluster_statistics` (``num_clusters``,
    ``outlier_fraction``; ``num_classes`` left out) with the sizes of the clusters of two
    tracklets or more: ``mean_cluster_size`` and ``max_cluster_size``."""
    stats = identity_free_cluster_statistics(labels)
    labels = np.asarray(labels, dtype=np.int64)
    _, sizes = np.unique(labels[labels >= 0], return_counts=True)
    clusters = sizes[sizes >= 2]
    return {'num_clusters': stats['num_clusters'], 'outlier_fraction': stats['outlier_fraction'],
            'mean_cluster_size': float(clusters.mean()) if len(clusters) else 0.0,
            'max_cluster_size': int(clusters.max()) if len(clusters) else 0}


class CycleConsistencyMonitor:
    """DAL's per-epoch :func:`cycle_consistency`, for a data set without identities.

    The engine hands it each step's association rows (:meth:`add`) and, before closing
    the epoch (:meth:`end_epoch`), its tracklet anchors (:meth:`observe_anchors`).

    Examples::

        monitor = CycleConsistencyMonitor.from_datamanager(datamanager)
        engine = torchreid.engine.VideoDALEngine(datamanager, model, optimizer,
                                                 association_monitor=monitor)
    """

    def __init__(self) -> None:
        self.statistics: list[dict] = []
        self._rows: list[torch.Tensor] = []
        self._anchors = None

    @classmethod
    def from_datamanager(cls, datamanager) -> 'CycleConsistencyMonitor':
        """The monitor of ``datamanager``'s training set (as the other monitors are made);
        it counts the tracklets from the anchors it observes."""
        return cls()

    def add(self, rows: torch.Tensor) -> None:
        """Keeps one step's association rows for this epoch."""
        self._rows.append(rows.detach().cpu().reshape(-1, 4))

    def observe_anchors(self, anchors: torch.Tensor, cameras: torch.Tensor) -> None:
        """The tracklets' anchors ``(N, D)`` and cameras ``(N,)`` at the end of the epoch
        (``DeepAssociationLoss.tracklet_anchors``)."""
        self._anchors = (anchors.detach().cpu().clone(), cameras.detach().cpu())

    def end_epoch(self, epoch: int, writer=None) -> dict:
        rows = torch.cat(self._rows) if self._rows else torch.zeros(0, 4, dtype=torch.long)
        self._rows = []
        anchors, cameras = self._anchors or (torch.zeros(0, 1), torch.zeros(0))
        self._anchors = None
        stats = dict(cycle_consistency(anchors, cameras, rows), epoch=epoch)
        self.statistics.append(stats)
        print(f'=> epoch {epoch}: {2 * stats["num_associations"]} of {len(anchors)} tracklets '
              f'({stats["associated_fraction"]:.1%}) in a cycle-consistent cross-camera '
              f'association: {stats["num_associations"]} pairs of mutual best matches across '
              f'cameras; cyclic ranking made {stats["pairs_made"]} distinct pairs over the '
              'epoch\'s steps')
        _log(writer, stats, ('associated_fraction', 'num_associations'), epoch)
        return stats


class ClusterStatisticsMonitor:
    """Cluster Contrast's per-epoch :func:`cluster_statistics`, for a data set without
    identities.

    Examples::

        engine = torchreid.engine.VideoClusterContrastEngine(
            datamanager, model, optimizer, cluster_monitor=ClusterStatisticsMonitor())
    """

    def __init__(self) -> None:
        self.statistics: list[dict] = []

    def end_epoch(self, epoch: int, labels, writer=None, clustering: int = 1,
                  clusterings: int = 1) -> dict:
        stats = dict(cluster_statistics(labels), epoch=epoch)
        if clusterings > 1:
            stats['clustering'] = clustering
        self.statistics.append(stats)
        print(f'=> epoch {epoch}: {stats["num_clusters"]} clusters of 2+ tracklets (mean size '
              f'{stats["mean_cluster_size"]:.1f}, largest {stats["max_cluster_size"]}), '
              f'{stats["outlier_fraction"]:.1%} outliers')
        _log(writer, stats, ('num_clusters', 'outlier_fraction', 'mean_cluster_size'), epoch)
        return stats


def label_free_record(engine) -> dict:
    """``{'label_free': [per-epoch dicts]}`` of the engine's label-free monitor, or ``{}``."""
    for name in ('association_monitor', 'cluster_monitor'):
        statistics = getattr(getattr(engine, name, None), 'statistics', None)
        if statistics:
            return {'label_free': statistics}
    return {}

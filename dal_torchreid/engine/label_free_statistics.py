"""What a label-free run can report without identities: DAL's cycle-consistent associations,
Cluster Contrast's clusters.

On a data set with no identities (a user's footage) there is no rank-1 and no pair
precision; these monitors take the place of :mod:`dal_torchreid.engine.diagnostics`' and
report, per epoch, only what the training itself decides:

* DAL (:class:`CycleConsistencyMonitor`): the fraction of training tracklets that
  cyclic ranking associated with a tracklet of another camera at least once in the
  epoch (an association is made only when the two tracklets rank each other first:
  it is cycle-consistent), and the number of distinct pairs;
* Cluster Contrast (:class:`ClusterStatisticsMonitor`): clusters of two tracklets or
  more, the fraction of outliers, and the cluster sizes (mean, largest).

Each prints one line per epoch, logs ``Train/label_free_*`` to TensorBoard and keeps
its dicts in ``statistics`` (written to ``results.json`` as ``label_free``).
"""
from __future__ import annotations

import numpy as np
import torch

from dal_torchreid.data.tracklet_frames import TrackletFrameDataset
from dal_torchreid.engine.diagnostics import association_pairs
from dal_torchreid.engine.diagnostics import cluster_statistics as identity_free_cluster_statistics


def _log(writer, stats: dict, keys, epoch: int) -> None:
    if writer is not None:
        for key in keys:
            writer.add_scalar('Train/label_free_' + key, stats[key], epoch - 1)


def cycle_consistency(rows, num_tracklets: int) -> dict:
    """``associated_fraction`` (tracklets in at least one association of ``rows``, over
    ``num_tracklets``) and ``num_associations`` (distinct unordered pairs,
    :func:`~dal_torchreid.engine.diagnostics.association_pairs`) of DAL's ``(c, k, c2, k2)``
    association rows."""
    pairs = association_pairs(rows)
    associated = {key for pair in pairs for key in pair}
    return {'num_associations': len(pairs),
            'associated_fraction': len(associated) / num_tracklets if num_tracklets else 0.0}


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

    Args:
        num_tracklets (int): training tracklets.

    Examples::

        monitor = CycleConsistencyMonitor.from_datamanager(datamanager)
        engine = torchreid.engine.VideoDALEngine(datamanager, model, optimizer,
                                                 association_monitor=monitor)
    """

    def __init__(self, num_tracklets: int) -> None:
        self.num_tracklets = int(num_tracklets)
        self.statistics: list[dict] = []
        self._rows: list[torch.Tensor] = []

    @classmethod
    def from_datamanager(cls, datamanager) -> 'CycleConsistencyMonitor':
        return cls(TrackletFrameDataset.from_datamanager(datamanager).num_tracklets)

    def add(self, rows: torch.Tensor) -> None:
        """Keeps one step's association rows for this epoch."""
        self._rows.append(rows.detach().cpu().reshape(-1, 4))

    def end_epoch(self, epoch: int, writer=None) -> dict:
        rows = torch.cat(self._rows) if self._rows else torch.zeros(0, 4, dtype=torch.long)
        self._rows = []
        stats = dict(cycle_consistency(rows, self.num_tracklets), epoch=epoch)
        self.statistics.append(stats)
        print(f'=> epoch {epoch}: {stats["associated_fraction"]:.1%} of tracklets in a '
              f'cycle-consistent cross-camera association ({stats["num_associations"]} pairs)')
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

"""How good DAL's associations and Cluster Contrast's pseudo-labels are, judged with identities.

Training never sees identities. For REPORTING only, :func:`read_tracklet_identities`
reads each training tracklet's person id from the source data, keyed by the
same ``(camera, tracklet within camera)`` labels DAL trains with, and
:func:`association_metrics` scores the cross-camera tracklet pairs that cyclic
ranking associated in an epoch against them; :func:`pair_metrics` scores Cluster
Contrast's pseudo-labels alike.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np
import torch

from dal_torchreid.data.tracklet_frames import TrackletFrameDataset

TrackletKey = tuple[int, int]


def read_tracklet_identities(datamanager) -> dict[TrackletKey, int]:
    """``{(camera index, tracklet index within camera): pid}`` of the training tracklets.

    The keys are the labels of :class:`~dal_torchreid.data.TrackletFrameDataset`
    built from the same data manager (cameras are the sorted source camera ids
    numbered ``0 .. C-1``, tracklets numbered per camera in order of appearance).

    Examples::

        identities = read_tracklet_identities(datamanager)
        identities[(1, 0)]  # pid of the first training tracklet of the second camera
    """
    trainset = TrackletFrameDataset.from_datamanager(datamanager)
    pids = [int(item[1]) for item in datamanager.train_loader.dataset.train]
    return {(c, k): pid for c, k, pid in
            zip(trainset.tracklet_camera, trainset.tracklet_label, pids)}


def count_associations(rows) -> int:
    """Distinct cross-camera tracklet pairs among an epoch's association rows
    ``(c, k, c2, k2)``: what DAL's association step found, needing no identity."""
    return len(association_pairs(rows))


def association_line(epoch: int, stats: dict) -> str:
    """The line a DAL epoch prints: its associations, scored when ``stats`` holds
    ``precision`` and ``recall``."""
    line = f'=> epoch {epoch} associations: {stats["num_associations"]} tracklet pairs'
    if 'precision' in stats:
        line += f', precision {stats["precision"]:.1%}, recall {stats["recall"]:.1%}'
    return line


def association_pairs(rows) -> set[tuple[TrackletKey, TrackletKey]]:
    """Distinct unordered cross-camera pairs of ``(c, k, c2, k2)`` rows (shape-checked)."""
    table = torch.as_tensor(rows, dtype=torch.long)
    if table.numel() == 0:
        return set()
    if table.dim() != 2 or table.size(1) != 4:
        raise ValueError('associations must be rows of 4 values (camera, tracklet, matched '
                         f'camera, matched tracklet), got shape {tuple(table.shape)}')
    pairs = set()
    for c, k, c2, k2 in table.tolist():
        if c == c2:
            raise ValueError(f'association {(c, k, c2, k2)} joins two tracklets of camera {c}; '
                             'associations are cross-camera')
        pairs.add(tuple(sorted([(c, k), (c2, k2)])))
    return pairs


def count_true_pairs(identities: dict[TrackletKey, int]) -> int:
    """Number of unordered pairs of tracklets in different cameras with the same pid."""
    by_pid: dict[int, dict[int, int]] = {}
    for (c, _), pid in identities.items():
        cams = by_pid.setdefault(pid, {})
        cams[c] = cams.get(c, 0) + 1
    total = 0
    for cams in by_pid.values():
        n = sum(cams.values())
        total += (n * n - sum(v * v for v in cams.values())) // 2
    return total


def association_metrics(associations: Iterable, identities: dict[TrackletKey, int]) -> dict:
    """Precision and recall of an epoch's cross-camera tracklet associations.

    Args:
        associations: rows ``(c, k, c2, k2)`` (``c != c2``) of the pairs made in
            an epoch, a tensor as ``DeepAssociationLoss.last_step.associations``
            or a list. A pair found several times, in either order, counts once.
        identities (dict): :func:`read_tracklet_identities` of the training set.

    Returns a dict with ``num_associations`` (distinct pairs), ``num_correct``
    (distinct pairs joining the same person), ``num_true_pairs`` (cross-camera
    tracklet pairs of the same person), ``precision = num_correct /
    num_associations`` (0.0 when there is no association) and ``recall =
    num_correct / num_true_pairs`` (0.0 when there is no true pair).
    Raises ``KeyError`` naming a tracklet that ``identities`` does not hold.
    """
    pairs = association_pairs(associations)
    num_correct = 0
    for a, b in pairs:
        for key in (a, b):
            if key not in identities:
                raise KeyError(f'association names tracklet {key} (camera, tracklet), which is '
                               'not a training tracklet')
        num_correct += identities[a] == identities[b]
    num_true = count_true_pairs(identities)
    return {
        'num_associations': len(pairs),
        'num_correct': num_correct,
        'precision': num_correct / len(pairs) if pairs else 0.0,
        'recall': num_correct / num_true if num_true else 0.0,
        'num_true_pairs': num_true,
    }


def same_person_rows(identities: dict[TrackletKey, int],
                     tracklets_per_camera: list[int]) -> torch.Tensor:
    """(N, S) anchor rows of the other tracklets of each tracklet's person in its camera.

    Rows as :class:`~dal_torchreid.losses.DeepAssociationLoss` stacks them (camera
    after camera); ``N`` fills the slots of tracklets with fewer such tracklets. For
    a diagnostic run only (``DeepAssociationLoss.spare_negatives``): it reads identities.
    """
    starts = [sum(tracklets_per_camera[:c]) for c in range(len(tracklets_per_camera))]
    total = sum(tracklets_per_camera)
    groups: dict[tuple[int, int], list[int]] = {}
    for (c, k), pid in identities.items():
        groups.setdefault((c, pid), []).append(starts[c] + k)
    width = max(len(rows) for rows in groups.values()) - 1 if groups else 0
    table = torch.full((total, max(width, 1)), total, dtype=torch.long)
    for rows in groups.values():
        for row in rows:
            others = [r for r in rows if r != row]
            table[row, :len(others)] = torch.tensor(others, dtype=torch.long)
    return table


def negatives_line(epoch: int, stats: dict) -> str:
    """The line a DAL epoch prints about its intra-camera negatives, scored against identities."""
    return (f'=> epoch {epoch} intra-camera negatives: {stats["negatives_other"]:.1%} of frames '
            'ranked another tracklet of their camera nearest, '
            f'{stats["negatives_same_person"]:.1%} of those the same person')


class AssociationMonitor:
    """Scores each epoch's cross-camera associations against identities (reporting only).

    Holds the identities of a separate read of the source data
    (:func:`read_tracklet_identities`), never passed to the engine's training
    inputs. The engine hands it each step's association rows (:meth:`add`) and
    closes each epoch (:meth:`end_epoch`), which prints, logs and keeps the
    epoch's :func:`association_metrics` in ``history``. Handed each step's
    intra-camera negatives too (:meth:`add_negatives`), it adds
    ``negatives_other`` (the share of frames whose nearest intra anchor in their
    camera is another tracklet, which DAL then takes as another person) and
    ``negatives_same_person`` (the share of those that are the same person).

    Args:
        identities (dict): ``{(camera, tracklet within camera): pid}``.

    Examples::

        monitor = AssociationMonitor.from_datamanager(datamanager)
        engine = torchreid.engine.VideoDALEngine(datamanager, model, optimizer,
                                                 association_monitor=monitor)
        engine.run(...)
        monitor.history  # one association_metrics dict per epoch
    """

    def __init__(self, identities: dict[TrackletKey, int]) -> None:
        self.identities = identities
        self.history: list[dict] = []
        self._rows: list[torch.Tensor] = []
        self._negatives = [0, 0, 0]  # frames, other tracklet nearest, of those the same person
        self.spared_history: list[dict] = []  # score_spared's

    @classmethod
    def from_datamanager(cls, datamanager) -> 'AssociationMonitor':
        return cls(read_tracklet_identities(datamanager))

    def __call__(self, rows) -> dict:
        return association_metrics(rows, self.identities)

    def add(self, rows: torch.Tensor) -> None:
        """Keeps one step's ``(c, k, c2, k2)`` association rows for this epoch."""
        self._rows.append(rows.detach().cpu())

    def score_spared(self, table: torch.Tensor, tracklets_per_camera: list[int]) -> dict:
        """Scores the pairs of tracklets kept out of each other's negatives (``table``, as
        ``DeepAssociationLoss.spared_negatives``): ``precision``, the share of them that
        are one person, and ``recall``, the share of one camera's same-person pairs spared.
        Prints them; kept in ``spared_history``."""
        truth = same_person_rows(self.identities, tracklets_per_camera)
        total = sum(tracklets_per_camera)
        spared = {(i, j) for i, row in enumerate(table.tolist()) for j in row if j < total}
        true = {(i, j) for i, row in enumerate(truth.tolist()) for j in row if j < total}
        stats = {'num_pairs': len(spared) // 2,
                 'precision': len(spared & true) / len(spared) if spared else 0.0,
                 'recall': len(spared & true) / len(true) if true else 0.0}
        self.spared_history.append(stats)
        print(f'=> {stats["num_pairs"]} spared pairs: {stats["precision"]:.1%} the same person, '
              f'{stats["recall"]:.1%} of one camera\'s same-person pairs')
        return stats

    def add_negatives(self, frame_pairs: torch.Tensor, negatives: torch.Tensor) -> None:
        """Counts one step's negatives: ``frame_pairs`` (B, >= 2) rows starting
        ``(camera, tracklet)``, ``negatives`` (B,) the tracklet of the frame's camera
        ranked nearest (``DALStepStats.negatives``)."""
        counts = self._negatives
        for (c, k), n in zip(frame_pairs[:, :2].tolist(), negatives.tolist()):
            counts[0] += 1
            if n != k:
                counts[1] += 1
                counts[2] += self.identities[(c, k)] == self.identities[(c, n)]

    def end_epoch(self, epoch: int, writer=None) -> dict:
        """Scores the epoch's rows, prints and logs them (``Train/assoc_*``), starts a new epoch.

        ``epoch`` is 1-based, as printed; TensorBoard gets it 0-based, as torchreid logs.
        """
        rows = torch.cat(self._rows) if self._rows else torch.zeros(0, 4, dtype=torch.long)
        self._rows = []
        stats = dict(self(rows), epoch=epoch)
        frames, other, same = self._negatives
        self._negatives = [0, 0, 0]
        keys = ['num_associations', 'precision', 'recall']
        if frames:
            stats.update(negatives_other=other / frames,
                         negatives_same_person=same / other if other else 0.0)
            keys += ['negatives_other', 'negatives_same_person']
        self.history.append(stats)
        print(association_line(epoch, stats))
        if frames:
            print(negatives_line(epoch, stats))
        if writer is not None:
            for key in keys:
                writer.add_scalar('Train/assoc_' + key, stats[key], epoch - 1)
        return stats


def pair_metrics(labels, identities) -> dict:
    """Pairwise precision and recall of pseudo-labels against identities.

    Args:
        labels: one pseudo-label per tracklet (``-1``: in no cluster).
        identities: one person id per tracklet, in the same order.

    A pair of tracklets is predicted when both carry the same label ``>= 0``;
    ``precision`` is the share of predicted pairs of one person, ``recall`` the
    share of one person's pairs that are predicted (0.0 when there are none).
    Also ``num_classes`` (labels ``>= 0``), ``num_clusters`` (labels of two
    tracklets or more) and ``outlier_fraction`` (tracklets in no such cluster).
    """
    labels = np.asarray(labels, dtype=np.int64)
    identities = np.asarray(identities, dtype=np.int64)
    if labels.shape != identities.shape:
        raise ValueError(f'labels ({labels.shape}) and identities ({identities.shape}) must '
                         'hold one value per tracklet')

    def pairs(counts: np.ndarray) -> int:
        return int((counts * (counts - 1) // 2).sum())

    clustered = labels >= 0
    _, sizes = np.unique(labels[clustered], return_counts=True)
    _, both = np.unique(np.stack([labels[clustered], identities[clustered]]), axis=1,
                        return_counts=True)
    _, people = np.unique(identities, return_counts=True)
    predicted, correct, true = pairs(sizes), pairs(both), pairs(people)
    return dict(cluster_statistics(labels),
                precision=correct / predicted if predicted else 0.0,
                recall=correct / true if true else 0.0)


def cluster_statistics(labels) -> dict:
    """What a clustering says without identities: ``num_classes`` (labels ``>= 0``),
    ``num_clusters`` (labels of two tracklets or more) and ``outlier_fraction``
    (tracklets in no such cluster)."""
    labels = np.asarray(labels, dtype=np.int64)
    clustered = labels >= 0
    _, sizes = np.unique(labels[clustered], return_counts=True)
    in_cluster = np.isin(labels, np.unique(labels[clustered])[sizes >= 2]) & clustered
    return {
        'num_classes': int(len(sizes)),
        'num_clusters': int((sizes >= 2).sum()),
        'outlier_fraction': float(1 - in_cluster.mean()) if len(labels) else 0.0,
    }


def cluster_line(epoch: int | str, stats: dict) -> str:
    """The line a Cluster Contrast epoch (or ``'epoch E clustering I/N'``) prints: its
    clusters and outliers, and the pair precision and recall when ``stats`` holds them."""
    which = f'epoch {epoch}' if isinstance(epoch, int) else epoch
    line = (f'=> {which} clusters: {stats["num_clusters"]} of 2+ tracklets '
            f'({stats["num_classes"]} classes), {stats["outlier_fraction"]:.1%} outliers')
    if 'precision' in stats:
        line += f', pair precision {stats["precision"]:.1%}, recall {stats["recall"]:.1%}'
    return line


class ClusterMonitor:
    """Scores each epoch's pseudo-labels against identities (reporting only).

    Holds the identities of a separate read of the source data, in training
    tracklet order, never passed to the engine's training inputs. The Cluster
    Contrast engine hands it each epoch's pseudo-labels (:meth:`end_epoch`), which
    prints, logs (``Train/cluster_*``) and keeps :func:`pair_metrics` in ``history``.

    Args:
        identities (sequence): person id of each training tracklet, in the order of
            :class:`~dal_torchreid.data.TrackletFrameDataset`.

    Examples::

        monitor = ClusterMonitor.from_datamanager(datamanager)
        engine = torchreid.engine.VideoClusterContrastEngine(datamanager, model, optimizer,
                                                             cluster_monitor=monitor)
        engine.run(...)
        monitor.history  # one pair_metrics dict per epoch
    """

    def __init__(self, identities) -> None:
        self.identities = np.asarray(identities, dtype=np.int64)
        self.history: list[dict] = []

    @classmethod
    def from_datamanager(cls, datamanager) -> 'ClusterMonitor':
        keyed = read_tracklet_identities(datamanager)
        trainset = TrackletFrameDataset.from_datamanager(datamanager)
        return cls([keyed[(c, k)] for c, k in zip(trainset.tracklet_camera,
                                                  trainset.tracklet_label)])

    def end_epoch(self, epoch: int, labels, writer=None, clustering: int = 1,
                  clusterings: int = 1) -> dict:
        """Scores ``labels`` (the pseudo-labels epoch ``epoch``, 1-based, trains with; with
        several clusterings an epoch, those of its ``clustering``-th of ``clusterings``)."""
        stats = dict(pair_metrics(labels, self.identities), epoch=epoch)
        which = f'epoch {epoch}'
        if clusterings > 1:
            stats['clustering'] = clustering
            which += f' clustering {clustering}/{clusterings}'
        self.history.append(stats)
        print(cluster_line(which, stats))
        if writer is not None:
            step = (epoch - 1) * clusterings + clustering - 1
            for key in ('num_clusters', 'num_classes', 'outlier_fraction', 'precision', 'recall'):
                writer.add_scalar('Train/cluster_' + key, stats[key], step)
        return stats

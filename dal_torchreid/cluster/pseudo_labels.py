"""Pseudo-identities of training tracklets: features -> distances -> DBSCAN labels.

(On two cameras ``method='assignment'`` pairs them one-to-one instead:
:mod:`~dal_torchreid.cluster.assignment`.)

The clustering step of Cluster Contrast, with three camera-aware options for
video (all off reproduces the reference):

* ``camera_centred``: cluster camera-centred features
  (:func:`~dal_torchreid.cluster.camera.camera_centred`);
* ``cross_camera``: search each tracklet's neighbours among other cameras'
  tracklets only, so k-reciprocal neighbourhoods cannot fill with the
  tracklet's own camera, and give DBSCAN only pairs of tracklets in different
  cameras (:func:`cross_camera_pairs`);
* ``mutual_neighbors``: ``n > 0`` keeps only the pairs each of whose tracklets is
  among the other's ``n`` nearest (:func:`mutual_neighbors_of`); with
  ``cross_camera`` and ``n = 1`` DBSCAN then joins mutual nearest neighbours
  across cameras and cannot chain them into large clusters;
* ``outliers``: ``'drop'`` (reference: tracklets DBSCAN leaves un-clustered sit
  out the epoch) or ``'own_class'`` (each becomes a class of its own, as SpCL
  keeps un-clustered instances).

Labels are ``0 .. C-1``; ``-1`` marks a dropped outlier.
"""
from __future__ import annotations

import contextlib
import warnings
from dataclasses import asdict, dataclass
from typing import Callable, ContextManager

import numpy as np
from scipy import sparse
from torch import Tensor

from dal_torchreid.cluster.assignment import (
    MIN_MARGIN, MIN_SIMILARITY, assignment_labels, check_min_margin, check_min_similarity
)
from dal_torchreid.cluster.camera import camera_centred as centre_by_camera
from dal_torchreid.cluster.jaccard import K1, K2, check_k1, check_k2, jaccard_distances
from dal_torchreid.cluster.neighbors import nearest_neighbors

EPS = 0.6  # the reference's DBSCAN radius (in Jaccard distance)
MIN_SAMPLES = 4  # the reference's
OUTLIER_MODES = ('drop', 'own_class')
OUTLIERS = 'drop'
MUTUAL_NEIGHBORS = 0  # off, as the reference
METHODS = ('dbscan', 'assignment')
METHOD = 'dbscan'  # the reference's


def check_eps(eps: float) -> None:
    if not 0 < eps < 1:
        raise ValueError(f'eps must be in (0, 1) (a Jaccard distance; pairs not stored are at 1), '
                         f'got {eps}')


def check_min_samples(min_samples: int) -> None:
    if min_samples < 1:
        raise ValueError(f'min_samples must be >= 1, got {min_samples}')


def check_outliers(outliers: str) -> None:
    if outliers not in OUTLIER_MODES:
        raise ValueError(f'outliers must be one of {list(OUTLIER_MODES)}, got {outliers!r}')


class ClusteringError(ValueError):
    """A clustering whose pseudo-labels leave the memory loss nothing to train (fewer than
    two pseudo-identities, or none a sample can be told apart from); the message names the
    ``cc`` keys to change."""


def check_pseudo_labels(labels: np.ndarray, cameras: np.ndarray, by_camera: bool = False,
                        epoch: int = 1, settings: ClusteringSettings | None = None) -> None:
    """Raises :class:`ClusteringError` unless the memory loss over ``labels`` (per tracklet,
    ``-1``: an outlier sitting out) can train: it needs two pseudo-identities (over one
    the cross-entropy is 0 at every step), and with ``by_camera`` (``cc.negatives
    camera``) a camera whose tracklets fall into two of them (a sample's logits keep only
    the clusters present in its camera, and its own).

    Args:
        labels, cameras (np.ndarray): ``(N,)`` pseudo-label and camera of each tracklet.
        by_camera (bool): whether the loss compares a sample with its camera's clusters only.
        epoch (int): the epoch about to train, for the message.
        settings (ClusteringSettings, optional): the clustering's, shown (``k1``, ``eps``,
            ``min_samples``).
    """
    labels, cameras = np.asarray(labels), np.asarray(cameras)
    now = asdict(settings) if settings is not None else {}

    def key(name: str) -> str:
        return f'cc.{name} (now {now[name]})' if name in now else f'cc.{name}'
    clustered = labels >= 0
    classes = np.unique(labels[clustered])
    total = len(labels)
    if len(classes) == 0:
        raise ClusteringError(
            f'clustering left no pseudo-identity before epoch {epoch} (all {total} training '
            f'tracklets are outliers): nothing to train; raise {key("eps")} or {key("k1")}, '
            f'lower {key("min_samples")}, or set cc.outliers own_class')
    if len(classes) == 1:
        which = (f'all {total} training tracklets' if clustered.all() else
                 f'{int(clustered.sum())} of the {total} training tracklets (the rest are '
                 'outliers)')
        raise ClusteringError(
            f'clustering put {which} into 1 pseudo-identity before epoch {epoch}: the memory '
            f'loss over one class is 0 and trains nothing; lower {key("eps")} or '
            f'{key("k1")}, or raise {key("min_samples")}')
    if by_camera and all(len(np.unique(labels[clustered & (cameras == c)])) <= 1
                         for c in np.unique(cameras)):
        raise ClusteringError(
            f'with cc.negatives camera, clustering before epoch {epoch} left every camera\'s '
            'tracklets in one pseudo-identity: a sample\'s loss compares it with its own '
            'cluster only and trains nothing; set cc.negatives all, or cluster across cameras '
            '(cc.cross_camera True, cc.camera_centred True)')


def check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f'pseudo_labels must be one of {list(METHODS)}, got {method!r}')


def check_mutual_neighbors(mutual_neighbors: int) -> None:
    if mutual_neighbors < 0:
        raise ValueError(f'mutual_neighbors must be >= 0 (0: off), got {mutual_neighbors}')


class CrossCameraError(ValueError):
    """``cross_camera`` on a training set of one camera: no tracklet has a neighbour."""


def check_cross_camera(cross_camera: bool, num_cameras: int) -> None:
    """Raises :class:`CrossCameraError` for ``cross_camera`` with fewer than two cameras,
    where every tracklet would be an outlier and nothing would cluster."""
    if cross_camera and num_cameras < 2:
        raise CrossCameraError(
            f'cc.cross_camera True: the training set has {num_cameras} camera, so no tracklet '
            'has a neighbour in another camera and every tracklet would be an outlier; set '
            'cc.cross_camera False')


def _keep(distances: sparse.csr_matrix, keep: np.ndarray) -> sparse.csr_matrix:
    coo = distances.tocoo()
    out = sparse.csr_matrix((coo.data[keep], (coo.row[keep], coo.col[keep])),
                            shape=distances.shape)
    out.sort_indices()
    return out


def cross_camera_pairs(distances: sparse.csr_matrix, cameras) -> sparse.csr_matrix:
    """``distances`` with only the diagonal and pairs of tracklets in different cameras."""
    coo = distances.tocoo()
    cameras = np.asarray(cameras)
    return _keep(distances, (cameras[coo.row] != cameras[coo.col]) | (coo.row == coo.col))


def mutual_neighbors_of(distances: sparse.csr_matrix, n: int) -> sparse.csr_matrix:
    """``distances`` with only the diagonal and the pairs ``(i, j)`` where each is among
    the other's ``n`` nearest stored entries (ties in storage order)."""
    coo = distances.tocoo()
    rows, cols, size = coo.row.astype(np.int64), coo.col.astype(np.int64), distances.shape[0]
    off = rows != cols
    order = np.lexsort((coo.data, off, rows))  # per row: self first, then by distance
    rank = np.empty(len(order), dtype=np.int64)
    starts = np.searchsorted(rows[order], rows[order], side='left')
    rank[order] = np.arange(len(order)) - starts
    top = off & (rank <= n)  # self holds rank 0
    keys = np.sort(rows[top] * size + cols[top])
    back = cols * size + rows
    found = np.searchsorted(keys, back).clip(max=max(len(keys) - 1, 0))
    mutual = top & (keys[found] == back) if len(keys) else top
    return _keep(distances, mutual | ~off)


def dbscan_labels(distances: sparse.csr_matrix, eps: float = EPS,
                  min_samples: int = MIN_SAMPLES) -> np.ndarray:
    """scikit-learn's ``DBSCAN(metric='precomputed')`` on a sparse distance matrix whose
    stored entries are the only neighbours; ``-1``: noise.

    One job: scikit-learn runs precomputed distances in one process anyway, and the
    reference's users saw ``n_jobs=-1`` exhaust memory.
    """
    from sklearn.cluster import DBSCAN
    with warnings.catch_warnings():
        # scikit-learn warns that sorting the graph is costly; it is sorted already
        warnings.simplefilter('ignore', sparse.SparseEfficiencyWarning)
        return DBSCAN(eps=eps, min_samples=min_samples, metric='precomputed',
                      n_jobs=1).fit_predict(distances).astype(np.int64)


def outliers_as_classes(labels: np.ndarray) -> np.ndarray:
    """``labels`` with every ``-1`` given a new class of its own, after the clusters."""
    labels = labels.copy()
    noise = labels < 0
    labels[noise] = labels.max(initial=-1) + 1 + np.arange(noise.sum())
    return labels


@dataclass(frozen=True)
class ClusteringSettings:
    """How :func:`cluster_tracklets` groups tracklets (checked when made).

    Args:
        k1, k2 (int): Jaccard neighbourhood and query-expansion sizes.
        eps, min_samples: DBSCAN's.
        camera_centred, cross_camera (bool), mutual_neighbors (int), outliers (str):
            the options of the module.
        method (str): ``'dbscan'`` (the reference's; the settings above) or
            ``'assignment'`` (two cameras: the confident pairs of a one-to-one
            assignment, :func:`~dal_torchreid.cluster.assignment.assignment_labels`;
            ``k1`` to ``mutual_neighbors`` unused).
        min_similarity, min_margin (float): the assignment's thresholds.

    Examples::

        settings = ClusteringSettings(k1=10, k2=3, min_samples=2, camera_centred=True,
                                      cross_camera=True, outliers='own_class')
    """

    k1: int = K1
    k2: int = K2
    eps: float = EPS
    min_samples: int = MIN_SAMPLES
    camera_centred: bool = False
    cross_camera: bool = False
    mutual_neighbors: int = MUTUAL_NEIGHBORS
    outliers: str = OUTLIERS
    method: str = METHOD
    min_similarity: float = MIN_SIMILARITY
    min_margin: float = MIN_MARGIN

    def __post_init__(self):
        check_method(self.method)
        check_k1(self.k1)
        check_k2(self.k2)
        check_eps(self.eps)
        check_min_samples(self.min_samples)
        check_outliers(self.outliers)
        check_mutual_neighbors(self.mutual_neighbors)
        check_min_similarity(self.min_similarity)
        check_min_margin(self.min_margin)


def cluster_tracklets(features: Tensor, cameras: Tensor,
                      settings: ClusteringSettings = ClusteringSettings(),
                      phase: Callable[[str], ContextManager] | None = None) -> np.ndarray:
    """Pseudo-identity labels ``(N,)`` of L2-normalised tracklet features.

    Args:
        features (Tensor): ``(N, D)``, L2-normalised.
        cameras (Tensor): ``(N,)`` camera of each tracklet (``0 .. C-1``).
        settings (ClusteringSettings): how (the reference's DBSCAN by default).
        phase (callable, optional): ``phase(name)`` a context manager timing the
            steps ``'neighbours'`` and ``'grouping'`` (Jaccard + DBSCAN, or the
            assignment), e.g. :meth:`~dal_torchreid.engine.phase_timer.PhaseTimer.phase`.

    Examples::

        labels = cluster_tracklets(feats, cams, ClusteringSettings(
            k1=10, k2=3, eps=0.6, min_samples=2, camera_centred=True, cross_camera=True,
            mutual_neighbors=1, outliers='own_class'))
        pairs = cluster_tracklets(feats, cams, ClusteringSettings(
            camera_centred=True, method='assignment', min_margin=0.05, outliers='own_class'))
    """
    s = settings
    phase = phase or (lambda name: contextlib.nullcontext())
    if s.camera_centred:
        features = centre_by_camera(features, cameras)
    if s.method == 'assignment':
        with phase('grouping'):
            labels = assignment_labels(features, cameras, s.min_similarity, s.min_margin)
        return outliers_as_classes(labels) if s.outliers == 'own_class' else labels
    others = cameras if s.cross_camera else None
    with phase('neighbours'):
        neighbors = nearest_neighbors(features, s.k1, others, return_similarities=True)
    with phase('grouping'):
        distances = jaccard_distances(features, s.k1, s.k2, others, neighbors=neighbors)
        if s.cross_camera:
            distances = cross_camera_pairs(distances, cameras)
        if s.mutual_neighbors:
            distances = mutual_neighbors_of(distances, s.mutual_neighbors)
        labels = dbscan_labels(distances, s.eps, s.min_samples)
    return outliers_as_classes(labels) if s.outliers == 'own_class' else labels

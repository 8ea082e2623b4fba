"""Cluster Contrast's memory: one centroid per pseudo-identity, and the loss against it.

Pure functions for the method (:func:`cluster_centroids`, :func:`memory_logits`,
:func:`momentum_update`) and :class:`ClusterMemory`, the module that keeps the
centroids and the pseudo-labels they belong to. As the reference
(``clustercontrast/models/cm.py``): features are L2-normalised, the loss is the
cross-entropy of ``f . M^T / temperature`` with the sample's cluster as target,
computed against the memory before the step's update; after the step every
sample moves its cluster's centroid, ``M[y] <- m M[y] + (1 - m) f``, renormalised,
samples in batch order (``'all'``) or only the least similar sample of each
cluster in the batch (``'hard'``, the reference's ``--use-hard``).

``negatives='camera'`` (this plugin's; the reference has no such option): a
sample of camera ``c`` competes only with the clusters that have a member
tracklet in camera ``c``, and its own (:func:`camera_negatives_mask`). With one
tracklet per person and camera, a tracklet's own camera holds only other
people, while a singleton class of another camera may be its own partner,
which the full softmax would push it away from. ``proxies='camera'`` keeps CAP's
camera-aware proxies instead of one centroid per cluster (:func:`camera_proxy_loss`).
``cross_camera_weight > 0`` keeps, beside the centroids, a proxy per cluster and
camera and adds :func:`cross_camera_loss`: positives from other cameras only.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

TEMPERATURE = 0.05  # the reference's
MOMENTUM = 0.1  # the reference README's commands (its code default is 0.2)
MEMORY_UPDATES = ('all', 'hard')
MEMORY_UPDATE = 'all'
NEGATIVES_CHOICES = ('all', 'camera')
NEGATIVES = 'all'  # the reference's
PROXIES_CHOICES = ('cluster', 'camera')
PROXIES = 'cluster'  # the reference's: one centroid per cluster
HARD_NEGATIVES = 50  # CAP's: negative proxies in the inter-camera loss (its bg_knn)
INTER_CAMERA_WEIGHT = 0.5  # CAP's
CROSS_CAMERA_WEIGHT = 0.0  # the cross-camera positive term's weight; 0: off (the reference)


def check_temperature(temperature: float) -> None:
    if temperature <= 0:
        raise ValueError(f'temperature must be > 0, got {temperature}')


def check_momentum(momentum: float) -> None:
    if not 0 <= momentum < 1:
        raise ValueError(f'momentum must be in [0, 1), got {momentum}')


def check_memory_update(memory_update: str) -> None:
    if memory_update not in MEMORY_UPDATES:
        raise ValueError(f'memory_update must be one of {list(MEMORY_UPDATES)}, '
                         f'got {memory_update!r}')


def check_cross_camera_weight(weight: float) -> None:
    if not weight >= 0:
        raise ValueError(f'cross_camera_weight must be >= 0 (0: off), got {weight}')


def check_negatives(negatives: str, proxies: str = PROXIES) -> None:
    """Raises ``ValueError`` unless ``negatives`` is a choice that applies to ``proxies``."""
    if negatives not in NEGATIVES_CHOICES:
        raise ValueError(f'negatives must be one of {list(NEGATIVES_CHOICES)}, got {negatives!r}')
    if proxies == 'camera' and negatives == 'camera':
        raise ValueError("negatives 'camera' applies to proxies 'cluster' only (got proxies "
                         "'camera'): camera proxies already compete within their camera")


def check_proxies(proxies: str) -> None:
    if proxies not in PROXIES_CHOICES:
        raise ValueError(f'proxies must be one of {list(PROXIES_CHOICES)}, got {proxies!r}')


def cluster_cameras(labels: Tensor, cameras: Tensor, num_clusters: int) -> Tensor:
    """``(C, num_cameras)`` bool: whether cluster ``c`` has a member tracklet in each camera.

    ``labels`` and ``cameras`` are per tracklet (``-1``: in no cluster).
    """
    keep = labels >= 0
    num_cameras = int(cameras.max()) + 1 if len(cameras) else 0
    present = torch.zeros(num_clusters, num_cameras, dtype=torch.bool, device=labels.device)
    present[labels[keep], cameras[keep].to(labels.device)] = True
    return present


def camera_negatives_mask(present: Tensor, cameras: Tensor, targets: Tensor) -> Tensor:
    """``(B, C)`` bool: the clusters each sample's logits keep, those with a member in the
    sample's camera (``present``, from :func:`cluster_cameras`) and the sample's own."""
    keep = present[:, cameras].t().clone()
    keep[torch.arange(len(targets), device=targets.device), targets] = True
    return keep


def camera_proxy_index(present: Tensor) -> Tensor:
    """``(C, num_cameras)`` long: the proxy of each (cluster, camera) with a member there,
    numbered cluster by cluster, cameras in order; ``-1`` where the cluster has none."""
    index = torch.full(present.shape, -1, dtype=torch.long, device=present.device)
    index[present] = torch.arange(int(present.sum()), device=present.device)
    return index


def positive_proxy_loss(sims: Tensor, positive: Tensor, same_cluster: Tensor,
                        hard_negatives: int = HARD_NEGATIVES) -> Tensor:
    """Per row of ``sims`` ``(B, P)``: ``-mean_p log softmax`` over its ``positive`` proxies
    ``p`` and the ``hard_negatives`` most similar proxies outside ``same_cluster`` (CAP's
    and PPLR's inter-camera loss). Every row needs a positive."""
    ranked = sims.detach().masked_fill(same_cluster, float('-inf'))
    hard = torch.zeros_like(same_cluster).scatter_(
        1, ranked.topk(min(hard_negatives, sims.size(1)), dim=1).indices, True) & ~same_cluster
    logp = F.log_softmax(sims.masked_fill(~(positive | hard), float('-inf')), dim=1)
    return -logp.masked_fill(~positive, 0).sum(1) / positive.sum(1)


def camera_proxy_loss(logits: Tensor, proxy_targets: Tensor, cluster_targets: Tensor,
                      cameras: Tensor, proxy_cluster: Tensor, proxy_camera: Tensor,
                      hard_negatives: int = HARD_NEGATIVES,
                      inter_weight: float = INTER_CAMERA_WEIGHT) -> Tensor:
    """CAP's loss (Wang et al., AAAI 2021) from ``logits`` ``(B, P)`` against the proxies.

    For the samples of each camera in the batch: the intra-camera loss is the
    cross-entropy over that camera's proxies with the sample's own proxy as target;
    the inter-camera loss is :func:`positive_proxy_loss` with every proxy of the
    sample's cluster as a positive. Each is the mean over the camera's samples; the
    loss sums ``intra + inter_weight * inter`` over the cameras, as CAP does.
    """
    total = logits.new_zeros(())
    for camera in torch.unique(cameras):
        rows = cameras == camera
        sims = logits[rows]
        intra = F.cross_entropy(sims.masked_fill(proxy_camera[None] != camera, float('-inf')),
                                proxy_targets[rows])
        positive = proxy_cluster[None] == cluster_targets[rows][:, None]
        inter = positive_proxy_loss(sims, positive, positive, hard_negatives).mean()
        total = total + intra + inter_weight * inter
    return total


def cross_camera_loss(logits: Tensor, cluster_targets: Tensor, cameras: Tensor,
                      proxy_cluster: Tensor, proxy_camera: Tensor,
                      hard_negatives: int = HARD_NEGATIVES) -> Tensor:
    """The cross-camera positive term: :func:`positive_proxy_loss` of ``logits`` ``(B, P)``
    against the camera proxies, positives the proxies of the sample's cluster in OTHER
    cameras only, averaged over the samples whose cluster has one (0 when none has).

    It pulls a clip toward its pseudo-identity as other cameras see it, which the
    cluster centroid, dominated by the cameras with most members, does not.
    """
    same = proxy_cluster[None] == cluster_targets[:, None]
    positive = same & (proxy_camera[None] != cameras[:, None])
    rows = positive.any(1)
    if not rows.any():
        return logits.sum() * 0
    return positive_proxy_loss(logits[rows], positive[rows], same[rows], hard_negatives).mean()


def cluster_centroids(features: Tensor, labels: Tensor) -> Tensor:
    """``(C, D)`` L2-normalised mean feature of each label ``0 .. C-1`` (``-1`` ignored)."""
    keep = labels >= 0
    features, labels = features[keep], labels[keep]
    num = int(labels.max()) + 1 if len(labels) else 0
    sums = torch.zeros(num, features.size(1), dtype=features.dtype).index_add_(0, labels, features)
    return F.normalize(sums, dim=1)


def memory_logits(features: Tensor, centroids: Tensor, temperature: float) -> Tensor:
    """``normalize(features) . centroids^T / temperature``, ``(B, C)``."""
    return F.normalize(features, dim=1) @ centroids.t() / temperature


def momentum_update(centroids: Tensor, features: Tensor, labels: Tensor, momentum: float,
                    hard: bool = False) -> None:
    """Moves ``centroids`` (in place) toward the batch's normalised ``features`` of each label.

    ``hard=False``: every sample in turn; ``hard=True``: per label, only the sample
    least similar to its centroid before the update. Each update is renormalised.
    """
    features = F.normalize(features.detach().float(), dim=1)
    if hard:
        sims = (features * centroids[labels]).sum(1)
        order = np.lexsort((sims.cpu().numpy(), labels.cpu().numpy()))
        keep = np.ones(len(order), dtype=bool)
        sorted_labels = labels.cpu().numpy()[order]
        keep[1:] = sorted_labels[1:] != sorted_labels[:-1]  # the first (least similar) per label
        chosen = torch.from_numpy(order[keep]).to(labels.device)
        features, labels = features[chosen], labels[chosen]
    for f, y in zip(features, labels.tolist()):
        centroids[y] = momentum * centroids[y] + (1 - momentum) * f
        centroids[y] /= centroids[y].norm()


class ClusterMemory(nn.Module):
    r"""Cluster centroids, the pseudo-labels they come from, and the contrastive loss.

    Args:
        feature_dim (int): embedding dimension ``D``.
        temperature (float, optional): softmax temperature (reference 0.05).
        momentum (float, optional): centroid momentum ``m`` (reference 0.1).
        memory_update (str, optional): ``'all'`` (reference default) or ``'hard'``.
        negatives (str, optional): ``'all'`` (reference): every cluster is a negative;
            ``'camera'``: only the clusters with a member in the sample's camera.
        proxies (str, optional): ``'cluster'`` (reference): one centroid per cluster;
            ``'camera'``: one per cluster and camera, trained with CAP's intra- and
            inter-camera losses (:func:`camera_proxy_loss`) instead of the cross-entropy.
        cross_camera_weight (float, optional): ``> 0`` (with ``proxies='cluster'``): adds
            this times :func:`cross_camera_loss` against a proxy per cluster and camera,
            kept and updated beside the centroids; 0: off (reference).
        tracklet_cameras (Tensor, optional): ``(N,)`` camera of each training tracklet,
            required by either ``'camera'`` and by ``cross_camera_weight``.

    :meth:`rebuild` sets the pseudo-labels (``(N,)``, ``-1``: not trained this
    epoch) and centroids from the training tracklets' features; ``forward``
    returns the loss of a batch (given the samples' cameras with
    ``negatives='camera'``); :meth:`update` then moves the centroids. The
    buffers ``labels`` and ``centroids`` change size with each rebuild and are
    saved and restored with the module's state dict; the clusters' cameras are
    recomputed from the labels and ``tracklet_cameras``.

    Examples::

        memory = torchreid.losses.ClusterMemory(2048, temperature=0.05, momentum=0.1)
        memory.rebuild(tracklet_features, torch.from_numpy(pseudo_labels))
        loss = memory(clip_features, clip_labels)
        loss.backward()
        memory.update(clip_features, clip_labels)

        # negatives only among the clusters seen in the sample's camera
        memory = torchreid.losses.ClusterMemory(2048, negatives='camera',
                                                tracklet_cameras=tracklet_cameras)
        memory.rebuild(tracklet_features, torch.from_numpy(pseudo_labels))
        loss = memory(clip_features, clip_labels, clip_cameras)
    """

    def __init__(self, feature_dim: int, temperature: float = TEMPERATURE,
                 momentum: float = MOMENTUM, memory_update: str = MEMORY_UPDATE,
                 negatives: str = NEGATIVES, proxies: str = PROXIES,
                 tracklet_cameras: Tensor | None = None,
                 cross_camera_weight: float = CROSS_CAMERA_WEIGHT) -> None:
        super().__init__()
        check_temperature(temperature)
        check_momentum(momentum)
        check_memory_update(memory_update)
        check_proxies(proxies)
        check_negatives(negatives, proxies)
        check_cross_camera_weight(cross_camera_weight)
        if proxies == 'camera' and cross_camera_weight > 0:
            raise ValueError("cross_camera_weight applies to proxies 'cluster' only: camera "
                             "proxies already carry CAP's inter-camera loss")
        if ('camera' in (negatives, proxies) or cross_camera_weight > 0) \
                and tracklet_cameras is None:
            raise ValueError("negatives or proxies 'camera' and cross_camera_weight need "
                             "tracklet_cameras")
        self.feature_dim = int(feature_dim)
        self.temperature, self.momentum = float(temperature), float(momentum)
        self.hard = memory_update == 'hard'
        self.by_camera = negatives == 'camera'
        self.camera_proxies = proxies == 'camera'
        self.cross_camera_weight = float(cross_camera_weight)
        self.register_buffer('centroids', torch.zeros(0, self.feature_dim))
        self.register_buffer('labels', torch.zeros(0, dtype=torch.long))
        # the cross-camera term's proxies, one per (cluster, camera) with a member there
        self.register_buffer('camera_centroids', torch.zeros(0, self.feature_dim),
                             persistent=self.cross_camera_weight > 0)
        # derived from labels and tracklet_cameras, so not saved
        cameras = torch.zeros(0, dtype=torch.long) if tracklet_cameras is None else \
            torch.as_tensor(tracklet_cameras, dtype=torch.long)
        self.register_buffer('tracklet_cameras', cameras, persistent=False)
        self.register_buffer('camera_presence', torch.zeros(0, 0, dtype=torch.bool),
                             persistent=False)
        self.register_buffer('proxy_index', torch.zeros(0, 0, dtype=torch.long),
                             persistent=False)

    @property
    def num_clusters(self) -> int:
        return max(int(self.labels.max()) + 1, 0) if len(self.labels) else 0

    @torch.no_grad()
    def rebuild(self, features: Tensor, labels: Tensor) -> None:
        """New pseudo-labels and their centroids (or camera proxies) from L2-normalised
        tracklet features."""
        self.labels = labels.to(torch.long).to(self.labels.device)
        self._find_cluster_cameras()
        labels = self.labels.cpu()
        features = features.detach().float().cpu()
        if self.camera_proxies or self.cross_camera_weight:
            keep = labels >= 0  # each tracklet's proxy: its (cluster, camera)
            proxies = torch.full_like(labels, -1)
            proxies[keep] = self.proxy_index.cpu()[labels[keep], self.tracklet_cameras.cpu()[keep]]
            if self.camera_proxies:
                labels = proxies
            else:
                self.camera_centroids = cluster_centroids(features, proxies).to(
                    self.camera_centroids.device)
        self.centroids = cluster_centroids(features, labels).to(self.centroids.device)

    @property
    def _needs_cameras(self) -> bool:
        return self.by_camera or self.camera_proxies or self.cross_camera_weight > 0

    def _find_cluster_cameras(self) -> None:
        if not self._needs_cameras:
            return
        if len(self.tracklet_cameras) != len(self.labels):
            raise ValueError(f'ClusterMemory: {len(self.labels)} pseudo-labels for '
                             f'{len(self.tracklet_cameras)} tracklet cameras')
        self.camera_presence = cluster_cameras(self.labels, self.tracklet_cameras,
                                               self.num_clusters)
        if self.camera_proxies or self.cross_camera_weight:
            self.proxy_index = camera_proxy_index(self.camera_presence)

    def _check_cameras(self, cameras: Tensor | None) -> None:
        if self._needs_cameras and cameras is None:
            raise ValueError("ClusterMemory with negatives or proxies 'camera' or a "
                             "cross_camera_weight needs the samples' cameras")

    def _proxy_targets(self, targets: Tensor, cameras: Tensor) -> Tensor:
        proxies = self.proxy_index[targets, cameras.to(targets.device)]
        if (proxies < 0).any():
            raise ValueError('ClusterMemory: a sample\'s cluster has no tracklet in its camera')
        return proxies

    def forward(self, features: Tensor, targets: Tensor, cameras: Tensor | None = None) -> Tensor:
        """The batch's loss; ``cameras`` (``(B,)``, each sample's) with ``'camera'``."""
        if self.num_clusters == 0:
            raise RuntimeError('ClusterMemory has no clusters: call rebuild() first')
        self._check_cameras(cameras)
        logits = memory_logits(features.float(), self.centroids, self.temperature)
        if self.camera_proxies:
            cameras = cameras.to(logits.device)
            present = self.camera_presence.nonzero()
            return camera_proxy_loss(logits, self._proxy_targets(targets, cameras), targets,
                                     cameras, present[:, 0], present[:, 1])
        if self.by_camera:
            keep = camera_negatives_mask(self.camera_presence, cameras.to(logits.device),
                                         targets)
            logits = logits.masked_fill(~keep, float('-inf'))
        loss = F.cross_entropy(logits, targets)
        if self.cross_camera_weight:
            present = self.camera_presence.nonzero()
            proxy_logits = memory_logits(features.float(), self.camera_centroids,
                                         self.temperature)
            loss = loss + self.cross_camera_weight * cross_camera_loss(
                proxy_logits, targets, cameras.to(logits.device), present[:, 0], present[:, 1])
        return loss

    @torch.no_grad()
    def update(self, features: Tensor, targets: Tensor, cameras: Tensor | None = None) -> None:
        """Moves each target's centroid (camera proxy: ``cameras`` needed) toward its
        samples, after the step's loss."""
        self._check_cameras(cameras)
        if self.cross_camera_weight:
            momentum_update(self.camera_centroids, features, self._proxy_targets(targets, cameras),
                            self.momentum, self.hard)
        if self.camera_proxies:
            targets = self._proxy_targets(targets, cameras)
        momentum_update(self.centroids, features, targets, self.momentum, self.hard)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        for name in ('centroids', 'labels', 'camera_centroids'):  # sizes: the saved clustering
            if prefix + name in state_dict:
                setattr(self, name, torch.empty_like(state_dict[prefix + name],
                                                     device=getattr(self, name).device))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        if prefix + 'labels' in state_dict:
            self._find_cluster_cameras()

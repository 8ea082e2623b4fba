"""DeepAssociationLoss: the two DAL margin losses and their anchor memory."""
from __future__ import annotations

import itertools
from typing import NamedTuple, Sequence

import torch
from torch import Tensor, nn

from dal_torchreid.losses.association import (
    association_ranking, cross_anchor_targets, cyclic_ranking, hinge_loss,
    l2_norm, paired_distance, squared_norm, update_intra_anchors
)

MARGIN = 0.5  # hinge margin m, the release's
ETA = 0.5  # intra-anchor update rate, the release's


def check_margin(margin: float) -> None:
    if not margin > 0:
        raise ValueError(f'margin must be > 0, got {margin}')


def check_eta(eta: float) -> None:
    if not 0 < eta <= 1:
        raise ValueError(f'eta must be in (0, 1], got {eta}')


class DALStepStats(NamedTuple):
    """What one call of :class:`DeepAssociationLoss` measured (detached).

    ``associations`` has one row ``(camera, tracklet, matched_camera,
    matched_tracklet)`` per consistent cross-camera association of the step.
    """
    loss_intra: Tensor
    loss_cross: Tensor
    num_associations: int
    associations: Tensor


class DeepAssociationLoss(nn.Module):
    r"""Deep Association Learning loss (Chen, Zhu, Gong, BMVC 2018).

    Keeps, for every tracklet ``k`` of every camera ``c``, an intra-camera anchor
    and a cross-camera anchor (non-trainable buffers). A call computes

    ``L = mean(max(0, d_intra - d_neg + m)) + mean(max(0, d_cross - d_neg + m))``

    with the anchors as they were before the call, then updates the intra
    anchors from the batch and the cross anchors by cyclic ranking, exactly as
    the authors' release (see ``shared/DAL_SPEC.md``).

    Args:
        tracklets_per_camera (sequence of int): number of training tracklets in
            each camera; camera ``c`` has tracklet labels ``0 .. N_c - 1``.
        feature_dim (int): dimension of the embedding.
        margin (float, optional): hinge margin ``m``. Default is 0.5.
        eta (float, optional): intra-anchor update rate. Default is 0.5.

    Anchors are read and written as ``loss.intra_anchors[c]`` and
    ``loss.cross_anchors[c]``, tensors of shape ``(N_c, feature_dim)``; they are
    views of two buffers, ``intra_memory`` and ``cross_memory`` (all cameras
    stacked), so they follow ``.to(device)`` and are saved in ``state_dict()``.
    After each call ``loss.last_step`` holds a :class:`DALStepStats` with the
    step's intra loss, cross loss, the number of distinct tracklets whose cross
    anchor was merged by a consistent cross-camera association, and those
    associations as (camera, tracklet, matched camera, matched tracklet) rows.

    Examples::

        import torch
        from dal_torchreid.losses import DeepAssociationLoss
        criterion = DeepAssociationLoss([89, 89], feature_dim=2048)
        features = model(imgs)  # (64, 2048), requires grad
        loss = criterion(features, tracklet_labels, camids, associate=epoch >= 2)
        loss.backward()
        print(criterion.last_step.num_associations)
    """

    def __init__(self, tracklets_per_camera: Sequence[int], feature_dim: int,
                 margin: float = MARGIN, eta: float = ETA) -> None:
        super().__init__()
        counts = [int(n) for n in tracklets_per_camera]
        if not counts or min(counts) < 1:
            raise ValueError(
                'tracklets_per_camera must list at least one camera, each with at '
                'least one tracklet; got {}'.format(list(tracklets_per_camera))
            )
        if feature_dim < 1:
            raise ValueError('feature_dim must be positive, got {}'.format(feature_dim))
        check_margin(margin)
        check_eta(eta)
        self.tracklets_per_camera = counts
        self.feature_dim = int(feature_dim)
        self.margin = float(margin)
        self.eta = float(eta)
        # one (sum N_c, D) memory per kind; each camera's anchors are a view of it
        self.register_buffer('intra_memory', torch.zeros(sum(counts), feature_dim))
        self.register_buffer('cross_memory', torch.zeros(sum(counts), feature_dim))
        starts = [0] + list(itertools.accumulate(counts))
        self._rows = [slice(a, b) for a, b in zip(starts[:-1], starts[1:])]
        self.register_buffer('_camera_of_row', torch.repeat_interleave(
            torch.arange(len(counts)), torch.tensor(counts)), persistent=False)
        self.register_buffer('_camera_start', torch.tensor(starts[:-1]), persistent=False)
        self.register_buffer('_camera_size', torch.tensor(counts), persistent=False)
        self.last_step: DALStepStats | None = None

    @property
    def num_cameras(self) -> int:
        return len(self.tracklets_per_camera)

    @property
    def intra_anchors(self) -> list[Tensor]:
        """Intra-camera anchors, one (N_c, D) view of ``intra_memory`` per camera."""
        return [self.intra_memory[rows] for rows in self._rows]

    @property
    def cross_anchors(self) -> list[Tensor]:
        """Cross-camera anchors, one (N_c, D) view of ``cross_memory`` per camera."""
        return [self.cross_memory[rows] for rows in self._rows]

    @torch.no_grad()
    def initialize_anchors(self, tracklet_features: Sequence[Tensor]) -> None:
        """Sets both anchors of every tracklet to the given (N_c, D) features.

        Used for the ``features`` initialisation: each tracklet's mean frame
        feature from the model before training.
        """
        if len(tracklet_features) != self.num_cameras:
            raise ValueError('expected features for {} cameras, got {}'.format(
                self.num_cameras, len(tracklet_features)))
        for c, feats in enumerate(tracklet_features):
            self.intra_anchors[c].copy_(feats)
            self.cross_anchors[c].copy_(feats)

    def forward(self, features: Tensor, tracklet_labels: Tensor, camids: Tensor,
                associate: bool = True) -> Tensor:
        """Returns the DAL loss of a batch, then updates the anchors.

        Args:
            features (Tensor): frame embeddings, shape (B, D).
            tracklet_labels (Tensor): tracklet index of each frame within its camera, (B,).
            camids (Tensor): camera index of each frame, ``0 .. num_cameras - 1``, (B,).
            associate (bool): False during warm-up: no cyclic-ranking test, every
                cross anchor follows its intra anchor.
        """
        self._check_inputs(features, tracklet_labels, camids)
        with torch.autocast(device_type=features.device.type, enabled=False):
            feats = l2_norm(features.float())
            cams = self._batch_cameras(camids, tracklet_labels)
            loss_intra, loss_cross = self._losses(feats, cams)
            assoc = self._update_anchors(feats.detach(), cams, associate)
        self.last_step = DALStepStats(loss_intra.detach(), loss_cross.detach(), len(assoc), assoc)
        return loss_intra + loss_cross

    def _batch_cameras(self, camids: Tensor, labels: Tensor) -> list[tuple[int, Tensor, Tensor]]:
        """(camera, frame indices, tracklet labels) for each camera in the batch."""
        out = []
        for c in torch.unique(camids).tolist():
            idx = torch.nonzero(camids == c).squeeze(1)
            out.append((c, idx, labels[idx]))
        return out

    def _losses(self, feats: Tensor, cams) -> tuple[Tensor, Tensor]:
        d_intra, d_cross, d_neg = [], [], []
        for c, idx, labels in cams:
            f = feats[idx]
            intra_n = l2_norm(self.intra_anchors[c])
            d_intra.append(paired_distance(f, intra_n[labels]))
            d_cross.append(paired_distance(f, l2_norm(self.cross_anchors[c][labels])))
            d_neg.append(association_ranking(f, labels, intra_n))
        d_neg = torch.cat(d_neg)
        return (hinge_loss(torch.cat(d_intra), d_neg, self.margin),
                hinge_loss(torch.cat(d_cross), d_neg, self.margin))

    @torch.no_grad()
    def _update_anchors(self, feats: Tensor, cams, associate: bool) -> Tensor:
        """Updates intra then cross anchors; returns the step's associations."""
        for c, idx, labels in cams:
            update_intra_anchors(self.intra_anchors[c], feats[idx], labels, self.eta)
        all_n = l2_norm(self.intra_memory)
        all_sq = squared_norm(all_n)
        found = [torch.zeros(0, 4, dtype=torch.long, device=feats.device)]
        for c, _, labels in cams:
            labels = torch.unique(labels)
            own = self._rows[c]
            batch_n = all_n[own][labels]
            if associate and self.num_cameras > 1:
                consistent, rank1 = cyclic_ranking(batch_n, all_n, all_sq, own, labels)
                batch_n = cross_anchor_targets(batch_n, all_n[rank1], consistent)
                matched = rank1[consistent]
                cam = self._camera_of_row[matched]
                found.append(torch.stack([torch.full_like(matched, c), labels[consistent],
                                          cam, matched - self._camera_start[cam]], 1))
            self.cross_anchors[c].index_copy_(0, labels, batch_n)
        return torch.cat(found)

    def _check_inputs(self, features: Tensor, labels: Tensor, camids: Tensor) -> None:
        if features.dim() != 2 or features.size(1) != self.feature_dim:
            raise ValueError('features must have shape (B, {}), got {}'.format(
                self.feature_dim, tuple(features.shape)))
        if labels.shape != (features.size(0),) or camids.shape != (features.size(0),):
            raise ValueError('tracklet_labels and camids must have shape ({},), got {} and {}'
                             .format(features.size(0), tuple(labels.shape), tuple(camids.shape)))
        if features.size(0) == 0:
            raise ValueError('empty batch')
        if int(camids.min()) < 0 or int(camids.max()) >= self.num_cameras:
            raise ValueError('camids must lie in [0, {}), got range [{}, {}]'.format(
                self.num_cameras, int(camids.min()), int(camids.max())))
        counts = self._camera_size.to(camids.device)[camids]
        if bool(((labels < 0) | (labels >= counts)).any()):
            raise ValueError('tracklet_labels out of range for their camera '
                             '(tracklets per camera: {})'.format(self.tracklets_per_camera))

    def extra_repr(self) -> str:
        return 'tracklets_per_camera={}, feature_dim={}, margin={}, eta={}'.format(
            self.tracklets_per_camera, self.feature_dim, self.margin, self.eta)

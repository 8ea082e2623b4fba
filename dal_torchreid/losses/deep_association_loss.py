"""DeepAssociationLoss: the two DAL margin losses and their anchor memory."""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import Tensor, nn

from dal_torchreid.losses.association import (
    association_ranking, cross_anchor_targets, cyclic_ranking, distance_matrix, exclude_columns,
    first_occurrence, hinge_loss, inverse_norm, l2_norm, masked_argmin,
    mutual_nearest_neighbors, paired_distance, squared_norm, update_intra_anchors
)

MARGIN = 0.5  # hinge margin m of both losses, as the release
ETA = 0.5  # intra-anchor update rate, as the release
# 0: every other tracklet of a camera may be a frame's negative, as the release
INTRA_MUTUAL_NEIGHBORS = 0


def check_margin(margin: float) -> None:
    """Raises ``ValueError`` unless ``margin`` is a finite number > 0."""
    if isinstance(margin, bool) or not isinstance(margin, (int, float)) \
            or not math.isfinite(margin) or margin <= 0:
        raise ValueError(f'margin must be a finite number > 0, got {margin!r}')


def check_eta(eta: float) -> None:
    """Raises ``ValueError`` unless ``eta`` is a number in (0, 1]."""
    if isinstance(eta, bool) or not isinstance(eta, (int, float)) or not 0 < eta <= 1:
        raise ValueError(f'eta must be a number in (0, 1], got {eta!r}')


def check_intra_mutual_neighbors(k: int) -> None:
    """Raises ``ValueError`` unless ``k`` is an integer >= 0."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 0:
        raise ValueError(f'intra_mutual_neighbors must be an integer >= 0, got {k!r}')


@dataclass(frozen=True, eq=False)
class DALStepStats:
    """What one call of :class:`DeepAssociationLoss` measured (detached tensors).

    Reading any of these fields does not wait for the device; converting them
    to Python numbers (``int(num_associations)``, ``loss_intra.item()``) or
    reading ``associations`` does, so do that only when the numbers are shown.

    Args:
        loss_intra (Tensor): intra-camera loss, 0-dim.
        loss_cross (Tensor): cross-camera loss, 0-dim.
        num_associations (Tensor): 0-dim integer, the number of distinct
            tracklets whose cross anchor was merged by a consistent
            cross-camera association.
        frame_pairs (Tensor): (B, 4) integer rows ``(camera, tracklet,
            matched camera, matched tracklet)``, one per frame of the batch;
            the match is meaningful only where ``associated``.
        associated (Tensor): (B,) bool, True at the first frame of each
            tracklet of the batch whose association was consistent.
        rows (Tensor): (B,) row of each frame's tracklet in the anchor memory.
        negatives (Tensor): (B,) tracklet, within the frame's camera, of the
            frame's nearest intra anchor there (among those it may take as a
            negative): its negative where that is not its own tracklet.

    Examples::

        stats = criterion.last_step
        print(int(stats.num_associations), stats.associations.tolist())
    """
    loss_intra: Tensor
    loss_cross: Tensor
    num_associations: Tensor
    frame_pairs: Tensor
    associated: Tensor
    rows: Tensor
    negatives: Tensor

    @property
    def associations(self) -> Tensor:
        """(A, 4) rows ``(camera, tracklet, matched camera, matched tracklet)``.

        One row per consistent association of the step, ordered by camera then
        tracklet. Built on demand: its size depends on the data, so this waits
        for the device.
        """
        found = self.associated.nonzero().squeeze(1)
        found = found[self.rows[found].argsort()]
        return self.frame_pairs[found]


class DeepAssociationLoss(nn.Module):
    r"""Deep Association Learning loss (Chen, Zhu, Gong, BMVC 2018).

    Keeps, for every tracklet ``k`` of every camera ``c``, an intra-camera anchor
    and a cross-camera anchor (non-trainable buffers). A call computes

    ``L = mean(max(0, d_intra - d_neg + m)) + mean(max(0, d_cross - d_neg + m))``

    with the anchors as they were before the call, then updates the intra
    anchors from the batch and the cross anchors by cyclic ranking, exactly as
    the authors' release.

    The whole batch is handled at once, with shapes that do not depend on the
    data: with input checks off, a call never waits for the device. The
    inverse norms of the intra anchors are kept between calls and refreshed
    only for the rows a batch updates; writing the anchors in place by any
    other means (``copy_``, ``load_state_dict``, :meth:`initialize_anchors`)
    is noticed through the memory's version counter, and they are recomputed.

    Args:
        tracklets_per_camera (sequence of int): number of training tracklets in
            each camera; camera ``c`` has tracklet labels ``0 .. N_c - 1``.
        feature_dim (int): dimension of the embedding.
        margin (float, optional): hinge margin ``m``. Default is ``MARGIN`` (0.5).
        eta (float, optional): intra-anchor update rate. Default is ``ETA`` (0.5).
        intra_mutual_neighbors (int, optional): ``k > 0``: tracklets of one camera
            whose intra anchors are among each other's ``k`` nearest (of that
            camera) are not each other's negatives, so that a person seen twice
            in one camera is not pushed away from itself. The pairs are found by
            :meth:`find_mutual_neighbors` (a trainer calls it once an epoch).
            Default is ``INTRA_MUTUAL_NEIGHBORS`` (0, the release: any tracklet).
        validate (bool, optional): check the values of each batch's labels and
            camera ids (their range), which makes a call wait for the device.
            Stored as ``validate_inputs``; a trainer can check the first steps
            and then set it to False. Shapes are always checked. Default is True.

    Anchors are read and written as ``loss.intra_anchors[c]`` and
    ``loss.cross_anchors[c]``, tensors of shape ``(N_c, feature_dim)``; they are
    views of two buffers, ``intra_memory`` and ``cross_memory`` (all cameras
    stacked), so they follow ``.to(device)`` and are saved in ``state_dict()``.
    After each call ``loss.last_step`` holds a :class:`DALStepStats`.

    Examples::

        import torch
        from dal_torchreid.losses import DeepAssociationLoss
        criterion = DeepAssociationLoss([89, 89], feature_dim=2048)
        features = model(imgs)  # (64, 2048), requires grad
        loss = criterion(features, tracklet_labels, camids, associate=epoch >= 2)
        loss.backward()
        criterion.validate_inputs = False  # the first batch was checked
        print(int(criterion.last_step.num_associations))
    """

    def __init__(self, tracklets_per_camera: Sequence[int], feature_dim: int,
                 margin: float = MARGIN, eta: float = ETA,
                 intra_mutual_neighbors: int = INTRA_MUTUAL_NEIGHBORS,
                 validate: bool = True) -> None:
        super().__init__()
        counts = [int(n) for n in tracklets_per_camera]
        if not counts or min(counts) < 1:
            raise ValueError(
                'tracklets_per_camera must list at least one camera, each with at '
                f'least one tracklet; got {list(tracklets_per_camera)}'
            )
        if feature_dim < 1:
            raise ValueError(f'feature_dim must be positive, got {feature_dim}')
        check_margin(margin)
        check_eta(eta)
        check_intra_mutual_neighbors(intra_mutual_neighbors)
        self.tracklets_per_camera = counts
        self.intra_mutual_neighbors = intra_mutual_neighbors
        self.feature_dim = int(feature_dim)
        self.margin = float(margin)
        self.eta = float(eta)
        self.validate_inputs = bool(validate)
        # one (sum N_c, D) memory per kind; each camera's anchors are a view of it
        self.register_buffer('intra_memory', torch.zeros(sum(counts), feature_dim))
        self.register_buffer('cross_memory', torch.zeros(sum(counts), feature_dim))
        starts = [0] + list(itertools.accumulate(counts))
        self._rows = [slice(a, b) for a, b in zip(starts[:-1], starts[1:])]
        self.register_buffer('_camera_of_row', torch.repeat_interleave(
            torch.arange(len(counts)), torch.tensor(counts)), persistent=False)
        self.register_buffer('_camera_start', torch.tensor(starts[:-1]), persistent=False)
        self.register_buffer('_camera_size', torch.tensor(counts), persistent=False)
        # kept between calls: 1 / |a| of each intra anchor and |a / |a||^2
        self.register_buffer('_inverse_norm', torch.zeros(sum(counts)), persistent=False)
        self.register_buffer('_normalized_sq', torch.zeros(sum(counts)), persistent=False)
        self._norms_of = None  # (storage, version) of intra_memory the norms describe
        # (N, S) rows each row never takes as its negative (N: none); None: the release's
        self.spared_negatives: Tensor | None = None
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

    def tracklet_anchors(self) -> tuple[Tensor, Tensor]:
        """Every tracklet's intra anchor, ``(sum N_c, D)`` camera after camera (a row of
        zeros where never written), and the camera of each row: the memory cyclic
        ranking matches tracklets in."""
        return self.intra_memory.detach(), self._camera_of_row

    @torch.no_grad()
    def initialize_anchors(self, tracklet_features: Sequence[Tensor]) -> None:
        """Sets both anchors of every tracklet to the given (N_c, D) features.

        Used for the ``features`` initialisation: each tracklet's mean frame
        feature from the model before training.
        """
        if len(tracklet_features) != self.num_cameras:
            raise ValueError(f'expected features for {self.num_cameras} cameras, '
                             f'got {len(tracklet_features)}')
        for c, feats in enumerate(tracklet_features):
            self.intra_anchors[c].copy_(feats)
            self.cross_anchors[c].copy_(feats)

    @torch.no_grad()
    def find_mutual_neighbors(self) -> int:
        """Spares the tracklets of each camera that are mutual nearest neighbours.

        With ``intra_mutual_neighbors`` ``k > 0``, pairs of tracklets of one camera
        whose normalised intra anchors are among each other's ``k`` nearest are
        kept out of each other's negatives until the next call; anchors never
        written (zero) pair with none. Returns the number of such pairs (0 and no
        change with ``k = 0``).
        """
        k = self.intra_mutual_neighbors
        if k == 0:
            return 0
        inv, _ = self._anchor_norms()
        total = self.intra_memory.size(0)
        table = torch.full((total, k), total, dtype=torch.long, device=self.intra_memory.device)
        for rows in self._rows:
            anchors = self.intra_memory[rows]
            local = mutual_nearest_neighbors(anchors * inv[rows].unsqueeze(1), k,
                                             valid=squared_norm(anchors) > 0)
            table[rows] = torch.where(local < anchors.size(0), local + rows.start, total)
        self.spare_negatives(table)
        return int((table < total).sum()) // 2

    def spare_negatives(self, table: Tensor | None) -> None:
        """Sets the (N, S) rows each anchor row never takes as a negative (N: none).

        :meth:`find_mutual_neighbors` sets it without labels; None restores the
        release's ranking over every tracklet of the camera.
        """
        total = self.intra_memory.size(0)
        if table is not None:
            if table.dim() != 2 or table.size(0) != total or table.dtype != torch.long:
                raise ValueError(f'spared negatives must be a ({total}, S) long tensor, got '
                                 f'{tuple(table.shape)} {table.dtype}')
            table = table.to(self.intra_memory.device)
        self.spared_negatives = table

    def forward(self, features: Tensor, tracklet_labels: Tensor, camids: Tensor,
                associate: bool = True, validate: bool | None = None) -> Tensor:
        """Returns the DAL loss of a batch, then updates the anchors.

        Args:
            features (Tensor): frame embeddings, shape (B, D).
            tracklet_labels (Tensor): tracklet index of each frame within its camera, (B,).
            camids (Tensor): camera index of each frame, ``0 .. num_cameras - 1``, (B,).
            associate (bool): False during warm-up: no cyclic-ranking test, every
                cross anchor follows its intra anchor.
            validate (bool, optional): check the labels' and camera ids' values
                for this call; None (default) follows ``validate_inputs``.
        """
        self._check_shapes(features, tracklet_labels, camids)
        camids = camids.to(features.device, non_blocking=True)
        tracklet_labels = tracklet_labels.to(features.device, non_blocking=True)
        if self.validate_inputs if validate is None else validate:
            self._check_values(tracklet_labels, camids)
        with torch.autocast(device_type=features.device.type, enabled=False):
            feats = l2_norm(features.float())
            rows = self._camera_start[camids] + tracklet_labels
            loss_intra, loss_cross, nearest = self._losses(feats, rows, camids)
            stats = self._update_anchors(feats.detach(), rows, camids, associate)
        self.last_step = DALStepStats(loss_intra.detach(), loss_cross.detach(), *stats,
                                      nearest - self._camera_start[camids])
        return loss_intra + loss_cross

    @torch.no_grad()
    def _anchor_norms(self) -> tuple[Tensor, Tensor]:
        """Inverse norms and normalised squared norms of the intra anchors, up to date."""
        memory = self.intra_memory
        if self._norms_of != (memory.data_ptr(), memory._version):
            self._inverse_norm = inverse_norm(memory)
            self._normalized_sq = squared_norm(memory * self._inverse_norm.unsqueeze(1))
            self._norms_of = (memory.data_ptr(), memory._version)
        return self._inverse_norm, self._normalized_sq

    def _normalized(self, rows: Tensor) -> Tensor:
        """The normalised intra anchors of ``rows``."""
        return self.intra_memory[rows] * self._inverse_norm[rows].unsqueeze(1)

    def _losses(self, feats: Tensor, rows: Tensor,
                camids: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        inv, sq = self._anchor_norms()
        with torch.no_grad():  # ranking only; the distances are recomputed with gradient
            dist = distance_matrix(feats, self.intra_memory, sq, inv)
            allowed = self._camera_of_row == camids.unsqueeze(1)
            if self.spared_negatives is not None:
                allowed = exclude_columns(allowed, self.spared_negatives[rows])
            nearest = masked_argmin(dist, allowed)
        d_neg = association_ranking(feats, self._normalized(nearest), nearest == rows,
                                    camids, self.num_cameras)
        d_intra = paired_distance(feats, self._normalized(rows))
        d_cross = paired_distance(feats, l2_norm(self.cross_memory[rows]))
        return (hinge_loss(d_intra, d_neg, self.margin),
                hinge_loss(d_cross, d_neg, self.margin), nearest)

    @torch.no_grad()
    def _update_anchors(self, feats: Tensor, rows: Tensor, camids: Tensor,
                        associate: bool) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Updates intra then cross anchors; returns the association fields of the stats.

        A tracklet drawn several times appears in ``rows`` several times; each
        copy computes and writes the same values (those of its first frame).
        """
        update_intra_anchors(self.intra_memory, rows, self._normalized(rows), feats, self.eta)
        # refresh the kept norms of the updated rows only
        inv = inverse_norm(self.intra_memory[rows])
        batch_n = self.intra_memory[rows] * inv.unsqueeze(1)
        self._inverse_norm.index_copy_(0, rows, inv)
        self._normalized_sq.index_copy_(0, rows, squared_norm(batch_n))
        self._norms_of = (self.intra_memory.data_ptr(), self.intra_memory._version)
        first = first_occurrence(rows)
        if associate and self.num_cameras > 1:
            consistent, matched = cyclic_ranking(
                batch_n, rows, self.intra_memory, self._inverse_norm, self._normalized_sq,
                self._camera_of_row)
            consistent, matched = consistent[first], matched[first]
            batch_n = cross_anchor_targets(batch_n, self._normalized(matched), consistent)
        else:
            consistent, matched = torch.zeros_like(rows, dtype=torch.bool), rows
        self.cross_memory.index_copy_(0, rows, batch_n)
        associated = consistent & (first == torch.arange(len(rows), device=rows.device))
        matched_camera = self._camera_of_row[matched]
        pairs = torch.stack([camids, rows - self._camera_start[camids],
                             matched_camera, matched - self._camera_start[matched_camera]], 1)
        return associated.sum(), pairs, associated, rows

    def _check_shapes(self, features: Tensor, labels: Tensor, camids: Tensor) -> None:
        """Checks what the tensors' metadata shows, without reading their values."""
        if features.dim() != 2 or features.size(1) != self.feature_dim:
            raise ValueError(f'features must have shape (B, {self.feature_dim}), '
                             f'got {tuple(features.shape)}')
        if features.size(0) == 0:
            raise ValueError('features is an empty batch')
        if labels.shape != (features.size(0),) or camids.shape != (features.size(0),):
            raise ValueError(f'tracklet_labels and camids must have shape ({features.size(0)},), '
                             f'got {tuple(labels.shape)} and {tuple(camids.shape)}')
        for name, x in (('tracklet_labels', labels), ('camids', camids)):
            if x.dtype.is_floating_point or x.dtype.is_complex or x.dtype == torch.bool:
                raise ValueError(f'{name} must be an integer tensor, got {x.dtype}')
        if features.device != self.intra_memory.device:
            raise ValueError(f'features are on {features.device} but the anchors on '
                             f'{self.intra_memory.device}; move the loss with .to(device)')

    def _check_values(self, labels: Tensor, camids: Tensor) -> None:
        """Checks the ranges of labels and camera ids (reads them: waits for the device)."""
        low, high = int(camids.min()), int(camids.max())
        if low < 0 or high >= self.num_cameras:
            raise ValueError(f'camids must lie in [0, {self.num_cameras}), '
                             f'got range [{low}, {high}]')
        counts = self._camera_size[camids]
        if bool(((labels < 0) | (labels >= counts)).any()):
            raise ValueError('tracklet_labels out of range for their camera '
                             f'(tracklets per camera: {self.tracklets_per_camera})')

    def extra_repr(self) -> str:
        return (f'tracklets_per_camera={self.tracklets_per_camera}, '
                f'feature_dim={self.feature_dim}, margin={self.margin}, eta={self.eta}, '
                f'intra_mutual_neighbors={self.intra_mutual_neighbors}, '
                f'validate_inputs={self.validate_inputs}')

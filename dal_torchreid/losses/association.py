"""The association graph of DAL as small pure functions.

Each function is one rule of the method (``shared/DAL_SPEC.md``), mirroring the
authors' release: distance, hinge, association ranking, cyclic ranking and the
two anchor updates. Nothing here holds state; the anchor memory lives in
:class:`dal_torchreid.losses.DeepAssociationLoss`.

Conventions: ``features`` are L2-normalised frame features of one camera,
shape (B_c, D); ``anchors_n`` are that camera's L2-normalised anchors, shape
(N_c, D); ``labels`` are tracklet indices within the camera, shape (B_c,).
Distances are squared Euclidean.
"""
from __future__ import annotations

import torch
from torch import Tensor

# tf.nn.l2_normalize's epsilon in the release: a zero anchor stays zero.
L2_EPSILON = 1e-10


def l2_norm(x: Tensor) -> Tensor:
    """Row-wise L2 normalisation, ``x / sqrt(max(|x|^2, 1e-10))`` as the release."""
    return x * torch.rsqrt((x * x).sum(1, keepdim=True).clamp_min(L2_EPSILON))


def paired_distance(a: Tensor, b: Tensor) -> Tensor:
    """Squared distance between matching rows of ``a`` and ``b``: shape (B,)."""
    return (a - b).pow(2).sum(1)


def squared_norm(x: Tensor) -> Tensor:
    """``|x|^2`` of each row."""
    return (x * x).sum(1)


def pairwise_distance(a: Tensor, b: Tensor, b_sq: Tensor | None = None) -> Tensor:
    """Squared distance between every row of ``a`` and every row of ``b``: (A, B).

    ``b_sq`` may give ``squared_norm(b)`` when it is already known.
    """
    b_sq = squared_norm(b) if b_sq is None else b_sq
    return (squared_norm(a).unsqueeze(1) + b_sq - 2.0 * (a @ b.t())).clamp_min(0.0)


def hinge_loss(dist_pos: Tensor, dist_neg: Tensor, margin: float) -> Tensor:
    """Margin ranking loss ``mean(max(0, d_pos - d_neg + m))`` over all frames."""
    return (dist_pos - dist_neg + margin).clamp_min(0.0).mean()


def association_ranking(features: Tensor, labels: Tensor, anchors_n: Tensor) -> Tensor:
    """Negative distance of each frame by ranking its camera's intra anchors.

    If the nearest anchor is not the frame's own tracklet, the negative distance
    is the distance to that anchor; otherwise it is the mean nearest-anchor
    distance over the frames of this camera in the batch.
    """
    dist_min, rank1 = pairwise_distance(features, anchors_n).min(1)
    dist_mean = dist_min.mean().expand_as(dist_min)
    return torch.where(rank1 != labels, dist_min, dist_mean)


def update_intra_anchors(anchors: Tensor, features: Tensor, labels: Tensor, eta: float) -> None:
    """In place: ``a[k] -= eta * (norm(a[k]) - f)``, summed over a tracklet's frames."""
    anchors.index_add_(0, labels, -eta * (l2_norm(anchors[labels]) - features))


def cyclic_ranking(batch_anchors_n: Tensor, all_anchors_n: Tensor, all_sq: Tensor,
                   own: slice, labels: Tensor) -> tuple[Tensor, Tensor]:
    """Cyclic ranking consistency of tracklets across cameras.

    ``all_anchors_n`` stacks every camera's anchors; rows ``own`` are this
    camera's; ``all_sq`` their squared norms. Ranks each tracklet's anchor against all other cameras' anchors,
    takes the nearest one ``j``, ranks ``j`` back against this camera's anchors,
    and is consistent where that lands on the tracklet itself. Returns the
    boolean consistency and the row of each ``j`` in ``all_anchors_n``.
    """
    dist = pairwise_distance(batch_anchors_n, all_anchors_n, all_sq)
    dist[:, own] = float('inf')  # other cameras only
    rank1 = dist.argmin(1)
    back = pairwise_distance(all_anchors_n[rank1], all_anchors_n[own], all_sq[own]).argmin(1)
    return back == labels, rank1


def cross_anchor_targets(batch_anchors_n: Tensor, matched: Tensor,
                         consistent: Tensor) -> Tensor:
    """New cross anchors: ``(n + j) / 2`` where consistent, else ``n``."""
    merged = (batch_anchors_n + matched) / 2.0
    return torch.where(consistent.unsqueeze(1), merged, batch_anchors_n)

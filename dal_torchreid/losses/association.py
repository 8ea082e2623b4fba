"""The association graph of DAL as small pure functions.

Each function is one rule of the method, as in the authors' release: distance,
hinge, association ranking, cyclic ranking and the two anchor updates. Nothing
here holds state; the anchor memory lives in
:class:`dal_torchreid.losses.DeepAssociationLoss`.

Conventions: the anchors of all cameras are stacked in one ``memory`` of shape
(N, D), camera after camera; an anchor is addressed by its ``row`` there, and
``camera_of_row`` (N,) names the camera of each row. ``features`` are
L2-normalised frame features (B, D). Distances are squared Euclidean.

Every function works on the whole batch at once with shapes known in advance,
so none of them waits for the device: a camera restriction is a mask that sets
the other columns to ``inf``, never a selection of data-dependent size.
"""
from __future__ import annotations

import torch
from torch import Tensor

# tf.nn.l2_normalize's epsilon in the release: a zero anchor stays zero.
L2_EPSILON = 1e-10


def squared_norm(x: Tensor) -> Tensor:
    """``|x|^2`` of each row."""
    return (x * x).sum(1)


def inverse_norm(x: Tensor) -> Tensor:
    """``1 / sqrt(max(|x|^2, 1e-10))`` of each row: the release's L2 scale."""
    return torch.rsqrt(squared_norm(x).clamp_min(L2_EPSILON))


def l2_norm(x: Tensor) -> Tensor:
    """Row-wise L2 normalisation, ``x / sqrt(max(|x|^2, 1e-10))`` as the release."""
    return x * inverse_norm(x).unsqueeze(1)


def paired_distance(a: Tensor, b: Tensor) -> Tensor:
    """Squared distance between matching rows of ``a`` and ``b``: shape (B,)."""
    return (a - b).pow(2).sum(1)


def distance_matrix(a: Tensor, b: Tensor, b_sq: Tensor | None = None,
                    b_scale: Tensor | None = None) -> Tensor:
    """Squared distance between every row of ``a`` and every row of ``b``: (A, B).

    With ``b_scale`` (B,), the rows compared are ``b * b_scale`` (for instance
    the normalised anchors, from the raw memory and its inverse norms) without
    forming that matrix. ``b_sq`` may give the squared norms of the rows
    compared when they are already known.
    """
    dot = a @ b.t()
    if b_scale is not None:
        dot = dot * b_scale
    if b_sq is None:
        b_sq = squared_norm(b) if b_scale is None else squared_norm(b) * b_scale * b_scale
    return (squared_norm(a).unsqueeze(1) + b_sq - 2.0 * dot).clamp_min(0.0)


def masked_argmin(dist: Tensor, allowed: Tensor) -> Tensor:
    """Column of the smallest distance of each row among the ``allowed`` columns.

    Ties go to the lowest column, as ``argmin`` over just those columns would.
    """
    return dist.masked_fill(~allowed, float('inf')).argmin(1)


def group_mean(values: Tensor, groups: Tensor, num_groups: int) -> Tensor:
    """Each element's mean of ``values`` over the elements of its group: shape (B,)."""
    sums = values.new_zeros(num_groups).index_add(0, groups, values)
    counts = values.new_zeros(num_groups).index_add_(0, groups, torch.ones_like(values))
    return (sums / counts.clamp_min(1.0)).index_select(0, groups)


def first_occurrence(index: Tensor) -> Tensor:
    """Position of the first element equal to each element of ``index``: shape (B,)."""
    same = index.unsqueeze(1) == index.unsqueeze(0)
    return same.to(torch.uint8).argmax(1)  # argmax returns the first maximum


def hinge_loss(dist_pos: Tensor, dist_neg: Tensor, margin: float) -> Tensor:
    """Margin ranking loss ``mean(max(0, d_pos - d_neg + m))`` over all frames."""
    return (dist_pos - dist_neg + margin).clamp_min(0.0).mean()


def association_ranking(features: Tensor, nearest_anchors_n: Tensor, nearest_is_own: Tensor,
                        camids: Tensor, num_cameras: int) -> Tensor:
    """Negative distance of each frame by ranking its camera's intra anchors.

    ``nearest_anchors_n`` is each frame's nearest normalised intra anchor of its
    own camera and ``nearest_is_own`` whether that is the frame's own tracklet.
    If not, the negative distance is the distance to that anchor; otherwise it
    is the mean nearest-anchor distance over the frames of the same camera in
    the batch.
    """
    dist_min = paired_distance(features, nearest_anchors_n)
    return torch.where(nearest_is_own, group_mean(dist_min, camids, num_cameras), dist_min)


def update_intra_anchors(memory: Tensor, rows: Tensor, anchors_n: Tensor, features: Tensor,
                         eta: float) -> None:
    """In place: ``a[r] -= eta * (norm(a[r]) - f)``, summed over a tracklet's frames.

    ``anchors_n`` are the normalised anchors of ``rows`` before the update.
    """
    memory.index_add_(0, rows, -eta * (anchors_n - features))


def cyclic_ranking(anchors_n: Tensor, rows: Tensor, memory: Tensor, inverse_norms: Tensor,
                   normalized_sq: Tensor, camera_of_row: Tensor) -> tuple[Tensor, Tensor]:
    """Cyclic ranking consistency of tracklets across cameras.

    ``anchors_n`` are the normalised anchors of ``rows``; the memory is compared
    in its normalised form ``memory * inverse_norms`` with squared norms
    ``normalized_sq``. Ranks each anchor against all other cameras' anchors,
    takes the nearest one ``j``, ranks ``j`` back against the anchors of the
    first camera, and is consistent where that lands on the anchor itself.
    Returns the boolean consistency and the row ``j`` of each anchor.
    """
    same_camera = camera_of_row.unsqueeze(0) == camera_of_row[rows].unsqueeze(1)
    dist = distance_matrix(anchors_n, memory, normalized_sq, inverse_norms)
    matched = masked_argmin(dist, ~same_camera)  # other cameras only
    matched_n = memory[matched] * inverse_norms[matched].unsqueeze(1)
    back = masked_argmin(distance_matrix(matched_n, memory, normalized_sq, inverse_norms),
                         same_camera)
    return back == rows, matched


def cross_anchor_targets(batch_anchors_n: Tensor, matched: Tensor,
                         consistent: Tensor) -> Tensor:
    """New cross anchors: ``(n + j) / 2`` where consistent, else ``n``."""
    merged = (batch_anchors_n + matched) / 2.0
    return torch.where(consistent.unsqueeze(1), merged, batch_anchors_n)


def mutual_nearest_neighbors(anchors_n: Tensor, k: int, valid: Tensor | None = None) -> Tensor:
    """Each row's mutual ``k``-nearest other rows, for one camera's normalised anchors.

    Row ``j`` is listed for row ``i`` when ``j`` is among the ``k`` rows nearest
    ``i`` (``i`` itself left out) and ``i`` among those nearest ``j``. Rows not
    ``valid`` (an anchor never written) have no neighbours and are none. Returns
    an (N, k) integer table, ``N`` (no row) where a slot holds no mutual neighbour.
    """
    n = anchors_n.size(0)
    table = torch.full((n, k), n, dtype=torch.long, device=anchors_n.device)
    if min(k, n - 1) < 1:
        return table
    dist = distance_matrix(anchors_n, anchors_n)
    dist.fill_diagonal_(float('inf'))
    if valid is not None:
        dist = dist.masked_fill(~valid.unsqueeze(1) | ~valid.unsqueeze(0), float('inf'))
    value, nearest = dist.topk(min(k, n - 1), dim=1, largest=False)
    nearest = nearest.masked_fill(value.isinf(), n)
    near = torch.zeros(n, n + 1, dtype=torch.bool, device=anchors_n.device)
    near.scatter_(1, nearest, True)
    near = near[:, :n]
    mutual = (near & near.t()).gather(1, nearest.clamp_max(n - 1)) & (nearest < n)
    table[:, :nearest.size(1)] = nearest.masked_fill(~mutual, n)
    return table


def exclude_columns(allowed: Tensor, columns: Tensor) -> Tensor:
    """``allowed`` (B, N) with each row's ``columns`` (B, K) set False; column ``N`` is none."""
    padded = torch.cat([allowed, allowed.new_zeros(allowed.size(0), 1)], 1)
    return padded.scatter(1, columns, False)[:, :-1]

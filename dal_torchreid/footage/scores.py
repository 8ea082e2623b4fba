"""Scores of cross-camera identities against ground truth with global ids.

* :func:`track_identities`: the true person of each tracker track, the ground-truth id
  most of its boxes cover (IoU >= 0.5, boxes matched frame by frame); None for a
  false track.
* :func:`pairwise_scores`: over pairs of tracklets in different cameras, the
  precision, recall and F1 of "same global id" against "same person".
* :func:`idf1`: the multi-camera IDF1 (Ristani et al. 2016): all cameras as one
  sequence, camera after camera (frames offset), so an identity switched between
  cameras costs IDF1 as one switched within a camera does. Computed as TrackEval's
  ``Identity`` metric computes it (per frame, pairs of IoU >= 0.5 count as potential
  matches; one optimal assignment of ids over the whole sequence); the tests check
  the two agree.
* :func:`box_agreement`: per camera, how many tracker boxes cover a ground-truth box;
  ground truth that none covers (another footage's) is refused, not scored as 0.

Every camera with ground truth is scored (:func:`ground_truth_cameras`): one where no
track was kept counts its people as missed.

TrackEval itself is not a dependency: its package requires the GUI build of OpenCV
(``opencv-python``), which would install a second ``cv2`` over this project's
``opencv-python-headless``, and pycocotools.
"""
from __future__ import annotations

import os
import os.path as osp
from typing import Mapping, Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from dal_torchreid.footage.sources import FootageError
from dal_torchreid.footage.tracks import read_mot_file

IOU_THRESHOLD = 0.5


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(len(a), len(b))`` IoU of ``left, top, width, height`` boxes."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 0] + a[:, None, 2], b[None, :, 0] + b[None, :, 2])
    y1 = np.minimum(a[:, None, 1] + a[:, None, 3], b[None, :, 1] + b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def _frames(rows: np.ndarray) -> dict[int, np.ndarray]:
    rows = np.asarray(rows, np.float64).reshape(-1, 6)
    order = np.argsort(rows[:, 0], kind='stable')
    rows = rows[order]
    frames, starts = np.unique(rows[:, 0].astype(np.int64), return_index=True)
    return dict(zip(frames.tolist(), np.split(rows, starts[1:])))


def matched_boxes(tracks: np.ndarray, gt: np.ndarray, threshold: float = IOU_THRESHOLD):
    """The ``(tracker row, ground-truth row)`` pairs of one camera: in each frame the
    boxes matched one to one (largest total IoU), pairs below ``threshold`` left out.

    Args:
        tracks, gt: rows ``frame, id, left, top, width, height`` (tracker, ground truth).
        threshold (float): least IoU of a matched box.
    """
    gt_frames = _frames(gt)
    for frame, rows in _frames(tracks).items():
        truth = gt_frames.get(frame)
        if truth is None:
            continue
        iou = box_iou(rows[:, 2:6], truth[:, 2:6])
        r, c = linear_sum_assignment(-iou)
        for i, j in zip(r, c):
            if iou[i, j] >= threshold:
                yield rows[i], truth[j]


def track_identities(tracks: np.ndarray, gt: np.ndarray,
                     threshold: float = IOU_THRESHOLD) -> dict[int, int | None]:
    """``{track id: ground-truth id or None}`` for one camera.

    Args:
        tracks, gt: rows ``frame, id, left, top, width, height`` (tracker, ground truth).
        threshold (float): least IoU of a matched box.

    In each frame the boxes are matched one to one (:func:`matched_boxes`); a track
    takes the id most of its matched boxes have, when more than half of its boxes are
    matched, else None.
    """
    tracks = np.asarray(tracks, np.float64).reshape(-1, 6)
    votes: dict[int, list] = {}
    boxes: dict[int, int] = {}
    for tid in tracks[:, 1].astype(int):
        boxes[int(tid)] = boxes.get(int(tid), 0) + 1
    for track, truth in matched_boxes(tracks, gt, threshold):
        votes.setdefault(int(track[1]), []).append(int(truth[1]))
    out = {}
    for tid, count in boxes.items():
        ids = votes.get(tid, [])
        best = max(set(ids), key=ids.count) if ids else None
        out[tid] = best if best is not None and 2 * ids.count(best) > count else None
    return out


def pairwise_scores(predicted: Sequence[int], truth: Sequence, cameras: Sequence[int]) -> dict:
    """Cross-camera pairwise precision, recall and F1 of ``predicted`` ids.

    Args:
        predicted (sequence): global id of each tracklet.
        truth (sequence): true person of each tracklet; None for a false track (in no
            true pair).
        cameras (sequence): camera of each tracklet; only pairs of different cameras count.

    Returns ``precision`` (predicted pairs that are one person), ``recall`` (one person's
    pairs that are predicted), ``f1`` (0.0 where undefined) and the pair counts.

    Examples::

        pairwise_scores([0, 0, 1], [7, 7, 7], [0, 1, 2])  # precision 1.0, recall 1/3
    """
    predicted = np.asarray(predicted)
    cameras = np.asarray(cameras)
    known = np.array([t is not None for t in truth])
    truth = np.array([t if t is not None else -1 for t in truth])
    upper = np.triu(np.ones((len(predicted), len(predicted)), bool), 1)
    cross = upper & (cameras[:, None] != cameras[None, :])
    same_pred = predicted[:, None] == predicted[None, :]
    same_true = (truth[:, None] == truth[None, :]) & known[:, None] & known[None, :]
    tp = int((cross & same_pred & same_true).sum())
    num_pred, num_true = int((cross & same_pred).sum()), int((cross & same_true).sum())
    precision = tp / num_pred if num_pred else 0.0
    recall = tp / num_true if num_true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {'precision': precision, 'recall': recall, 'f1': f1, 'true_positive_pairs': tp,
            'predicted_pairs': num_pred, 'true_pairs': num_true}


def concatenate_cameras(per_camera: Mapping[str, np.ndarray], lengths: Mapping[str, int]) -> np.ndarray:
    """Rows of all cameras as one sequence: each camera's frames offset by the lengths of
    the cameras before it (sorted by name)."""
    out, offset = [], 0
    for camera in sorted(per_camera):
        rows = np.asarray(per_camera[camera], np.float64).reshape(-1, 6).copy()
        rows[:, 0] += offset
        out.append(rows)
        offset += int(lengths[camera])
    return np.concatenate(out) if out else np.zeros((0, 6))


def idf1(gt: np.ndarray, predicted: np.ndarray, threshold: float = IOU_THRESHOLD) -> dict:
    """IDF1, IDP, IDR and the IDTP / IDFP / IDFN counts of ``predicted`` against ``gt``
    (rows ``frame, id, left, top, width, height`` of one sequence), as TrackEval's
    ``Identity`` metric computes them."""
    gt_frames, pred_frames = _frames(gt), _frames(predicted)
    gt_ids = np.unique(np.asarray(gt, np.float64).reshape(-1, 6)[:, 1]).astype(int)
    pred_ids = np.unique(np.asarray(predicted, np.float64).reshape(-1, 6)[:, 1]).astype(int)
    num_gt, num_pred = len(gt_ids), len(pred_ids)
    gt_det = sum(len(r) for r in gt_frames.values())
    pred_det = sum(len(r) for r in pred_frames.values())
    if num_gt == 0 or num_pred == 0:
        res = {'IDTP': 0, 'IDFN': gt_det, 'IDFP': pred_det}
        return _identity_ratios(res)
    gt_index = {v: i for i, v in enumerate(gt_ids.tolist())}
    pred_index = {v: i for i, v in enumerate(pred_ids.tolist())}
    potential = np.zeros((num_gt, num_pred))
    gt_count, pred_count = np.zeros(num_gt), np.zeros(num_pred)
    for frame in set(gt_frames) | set(pred_frames):
        g = gt_frames.get(frame, np.zeros((0, 6)))
        p = pred_frames.get(frame, np.zeros((0, 6)))
        gi = np.array([gt_index[int(v)] for v in g[:, 1]], dtype=int)
        pi = np.array([pred_index[int(v)] for v in p[:, 1]], dtype=int)
        if len(g) and len(p):
            rows, cols = np.nonzero(box_iou(g[:, 2:6], p[:, 2:6]) >= threshold)
            np.add.at(potential, (gi[rows], pi[cols]), 1)
        np.add.at(gt_count, gi, 1)
        np.add.at(pred_count, pi, 1)
    size = num_gt + num_pred
    fp, fn = np.zeros((size, size)), np.zeros((size, size))
    fp[num_gt:, :num_pred] = 1e10
    fn[:num_gt, num_pred:] = 1e10
    for i in range(num_gt):
        fn[i, :num_pred] = gt_count[i]
        fn[i, num_pred + i] = gt_count[i]
    for j in range(num_pred):
        fp[:num_gt, j] = pred_count[j]
        fp[j + num_gt, j] = pred_count[j]
    fn[:num_gt, :num_pred] -= potential
    fp[:num_gt, :num_pred] -= potential
    rows, cols = linear_sum_assignment(fn + fp)
    idfn, idfp = int(fn[rows, cols].sum()), int(fp[rows, cols].sum())
    return _identity_ratios({'IDTP': int(gt_count.sum()) - idfn, 'IDFN': idfn, 'IDFP': idfp})


def _identity_ratios(res: dict) -> dict:
    tp, fp, fn = res['IDTP'], res['IDFP'], res['IDFN']
    return dict(res, IDF1=tp / max(1.0, tp + 0.5 * fp + 0.5 * fn), IDP=tp / max(1.0, tp + fp),
                IDR=tp / max(1.0, tp + fn))


def read_ground_truth(footage: str, camera: str) -> np.ndarray:
    """Rows ``frame, id, left, top, width, height`` of ``FOOTAGE/<camera>/gt/gt.txt``, the
    boxes flagged 0 (MOTChallenge "ignore") left out. Raises ``FileNotFoundError`` naming
    a missing file."""

    rows = read_mot_file(osp.join(footage, camera, 'gt', 'gt.txt'), 'ground-truth file')
    return rows[rows[:, 6] != 0][:, :6]


def ground_truth_cameras(footage: str, cameras: Sequence[str]) -> list[str]:
    """The cameras to score: ``cameras`` (those of the data set, each needing its
    ``gt/gt.txt``) and every other camera folder of ``footage`` holding ``gt/gt.txt``,
    sorted. A camera where nobody was tracked still has people to find."""
    found = set(cameras)
    if osp.isdir(footage):
        found |= {name for name in os.listdir(footage) if not name.startswith('.')
                  and osp.isfile(osp.join(footage, name, 'gt', 'gt.txt'))}
    return sorted(found)


def box_agreement(footage: str, tracks: str, cameras: Sequence[str]) -> dict[str, dict]:
    """Per camera of :func:`ground_truth_cameras`: its ``ground_truth_boxes`` (not flagged
    0), its ``tracker_boxes`` (``TRACKS/<camera>.txt``, none for a camera without one) and
    how many of them cover a ground-truth box (``matched_boxes``, :func:`matched_boxes`).

    Raises ``FileNotFoundError`` naming a missing ``gt.txt`` of one of ``cameras``, and
    :class:`~dal_torchreid.footage.sources.FootageError` when no tracker box matches any
    ground-truth box: that ground truth is not of the footage the tracks were made on,
    and every score would be 0 without saying why."""
    agreement = {}
    for camera in ground_truth_cameras(footage, cameras):
        gt = read_ground_truth(footage, camera)
        path = osp.join(tracks, camera + '.txt')
        tracker = read_mot_file(path)[:, :6] if camera in cameras else np.zeros((0, 6))
        agreement[camera] = {'ground_truth_boxes': len(gt), 'tracker_boxes': len(tracker),
                             'matched_boxes': sum(1 for _ in matched_boxes(tracker, gt))}
    if not any(a['matched_boxes'] for a in agreement.values()):
        gt_boxes = sum(a['ground_truth_boxes'] for a in agreement.values())
        tracker_boxes = sum(a['tracker_boxes'] for a in agreement.values())
        raise FootageError(
            f'--footage "{footage}": none of the {tracker_boxes} tracker boxes of "{tracks}" '
            f'matches any of the {gt_boxes} ground-truth boxes of its <camera>/gt/gt.txt '
            f'(IoU >= {IOU_THRESHOLD}, same camera and frame): this is not the ground truth of '
            'the footage the tracks were made on; nothing was scored')
    return agreement


def tracklet_persons(footage: str, tracks: str, tracklets: Sequence,
                     gt: Mapping[str, np.ndarray] | None = None) -> list[int | None]:
    """The true person of each tracklet: the global id of ``FOOTAGE/<camera>/gt/gt.txt``
    that most boxes of its tracker track in ``TRACKS/<camera>.txt`` cover
    (:func:`track_identities`); None for a track that covers no person (a false track).

    Args:
        footage (str), tracks (str): the footage and tracker folders.
        tracklets (sequence): :class:`~dal_torchreid.footage.FootageTracklet` s.
        gt (mapping, optional): ``{camera: rows}`` already read by :func:`read_ground_truth`.
    """

    truth_of = {}
    for camera in sorted({t.camera for t in tracklets}):
        truth = gt[camera] if gt is not None else read_ground_truth(footage, camera)
        tracker = read_mot_file(osp.join(tracks, camera + '.txt'))[:, :6]
        truth_of[camera] = track_identities(tracker, truth)
    return [truth_of[t.camera].get(t.track) for t in tracklets]


def score_footage(footage: str, tracks: str, out: str, tracklets: Sequence, ids: Sequence[int],
                  cameras: Sequence[str] | None = None) -> dict:
    """Scores global ids against ``FOOTAGE/<camera>/gt/gt.txt`` (global person ids).

    Args:
        footage (str): the footage folder, one ``<camera>/gt/gt.txt`` per camera.
        tracks (str): the tracker's files ``<camera>.txt`` (each track's true person
            comes from its boxes, :func:`track_identities`).
        out (str): the folder of the rewritten files ``<camera>.txt`` (global ids).
        tracklets (sequence): :class:`~dal_torchreid.footage.FootageTracklet` s.
        ids (sequence): their global ids.
        cameras (sequence, optional): the data set's cameras (default: the tracklets'),
            those without a tracklet included.

    Returns ``pairwise`` (:func:`pairwise_scores`), ``idf1`` (:func:`idf1` of all cameras
    as one sequence: every camera of :func:`ground_truth_cameras`, so the people of a
    camera where no track was kept count as missed), ``cameras`` (:func:`box_agreement`)
    and ``tracklets_without_person``. Raises ``FileNotFoundError`` naming a missing
    ``gt.txt``, and :class:`~dal_torchreid.footage.sources.FootageError` when no tracker
    box matches the ground truth. Ground-truth boxes flagged 0 (MOTChallenge "ignore")
    are left out.
    """

    cameras = sorted(set(cameras or ()) | {t.camera for t in tracklets})
    agreement = box_agreement(footage, tracks, cameras)
    gt, predicted, lengths = {}, {}, {}
    for camera in agreement:
        gt[camera] = read_ground_truth(footage, camera)
        result = osp.join(out, camera + '.txt')
        predicted[camera] = (read_mot_file(result, 'result file')[:, :6] if camera in cameras
                             else np.zeros((0, 6)))
        lengths[camera] = int(max(gt[camera][:, 0].max(initial=0),
                                  predicted[camera][:, 0].max(initial=0)))
    truth = tracklet_persons(footage, tracks, tracklets, gt)
    cams = [cameras.index(t.camera) for t in tracklets]
    return {'pairwise': pairwise_scores(ids, truth, cams),
            'idf1': idf1(concatenate_cameras(gt, lengths), concatenate_cameras(predicted, lengths)),
            'tracklets_without_person': sum(t is None for t in truth), 'cameras': agreement}

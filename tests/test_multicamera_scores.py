"""Scores of cross-camera ids: pairwise precision/recall/F1, multi-camera IDF1 (TrackEval's)."""
import numpy as np
import pytest

from dal_torchreid.footage.scores import (
    concatenate_cameras, idf1, pairwise_scores, track_identities
)


def test_pairwise_scores_count_cross_camera_pairs_only():
    # tracklets: cameras 0,0,1,1,2; persons 7,7,7,8,None; predicted ids 1,1,1,2,2
    scores = pairwise_scores([1, 1, 1, 2, 2], [7, 7, 7, 8, None], [0, 0, 1, 1, 2])
    # predicted cross pairs: (0,2), (1,2), (3,4): 3; true cross pairs: (0,2), (1,2): 2, both found
    assert scores['predicted_pairs'] == 3 and scores['true_pairs'] == 2
    assert scores['true_positive_pairs'] == 2
    assert scores['precision'] == pytest.approx(2 / 3) and scores['recall'] == 1.0
    assert scores['f1'] == pytest.approx(0.8)


def person(frames, pid, x=10.0):
    return np.array([[f, pid, x, 20.0, 30.0, 60.0] for f in frames])


def test_idf1_counts_an_id_switched_between_cameras():
    gt = {'cam1': person(range(1, 5), 1), 'cam2': person(range(1, 5), 1)}
    switched = {'cam1': person(range(1, 5), 5), 'cam2': person(range(1, 5), 6)}
    kept = {'cam1': person(range(1, 5), 5), 'cam2': person(range(1, 5), 5)}
    lengths = {'cam1': 4, 'cam2': 4}
    one = concatenate_cameras(gt, lengths)
    assert sorted(one[:, 0]) == list(range(1, 9))
    result = idf1(one, concatenate_cameras(switched, lengths))
    assert (result['IDTP'], result['IDFP'], result['IDFN']) == (4, 4, 4)
    assert result['IDF1'] == pytest.approx(0.5)
    assert idf1(one, concatenate_cameras(kept, lengths))['IDF1'] == 1.0


def random_sequence(rng, frames=30, people=5):
    rows = []
    for pid in range(1, people + 1):
        start = rng.integers(1, frames // 2)
        for f in range(start, start + rng.integers(5, frames // 2)):
            rows.append([f, pid, rng.uniform(0, 200), rng.uniform(0, 100), 30, 60])
    return np.array(rows, dtype=float)


def test_idf1_equals_trackeval_identity():
    trackeval = pytest.importorskip('trackeval')
    from trackeval.metrics import Identity
    from dal_torchreid.footage.scores import box_iou
    rng = np.random.default_rng(0)
    for _ in range(5):
        gt = random_sequence(rng)
        pred = gt.copy()
        pred[:, 2:4] += rng.normal(0, 8, (len(pred), 2))  # some boxes fall below IoU 0.5
        cut = rng.integers(1, 30, 6)  # each person's id switches at a frame (unique per frame)
        pred[:, 1] = np.where(pred[:, 0] < cut[gt[:, 1].astype(int)], gt[:, 1] + 10, gt[:, 1] + 20)
        pred = pred[rng.random(len(pred)) < 0.9]  # misses
        frames = sorted(set(gt[:, 0]) | set(pred[:, 0]))
        gt_ids, pred_ids = np.unique(gt[:, 1]), np.unique(pred[:, 1])
        data = {'gt_ids': [], 'tracker_ids': [], 'similarity_scores': [],
                'num_gt_ids': len(gt_ids), 'num_tracker_ids': len(pred_ids),
                'num_gt_dets': len(gt), 'num_tracker_dets': len(pred)}
        for f in frames:
            g, p = gt[gt[:, 0] == f], pred[pred[:, 0] == f]
            data['gt_ids'].append(np.searchsorted(gt_ids, g[:, 1]))
            data['tracker_ids'].append(np.searchsorted(pred_ids, p[:, 1]))
            data['similarity_scores'].append(box_iou(g[:, 2:6], p[:, 2:6]))
        reference = Identity().eval_sequence(data)
        ours = idf1(gt, pred)
        assert ours['IDTP'] == reference['IDTP'] and ours['IDFP'] == reference['IDFP']
        assert ours['IDF1'] == pytest.approx(reference['IDF1'])


def test_track_identities_majority_and_false_tracks():
    gt = np.concatenate([person(range(1, 11), 3), person(range(1, 11), 4, x=150)])
    tracks = np.concatenate([
        person(range(1, 11), 1, x=11),  # on person 3
        person(range(1, 4), 2, x=151),  # on person 4
        person(range(1, 6), 5, x=400),  # on nobody: a false track
    ])
    assert track_identities(tracks, gt) == {1: 3, 2: 4, 5: None}

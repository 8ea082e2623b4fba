"""Association diagnostics on a hand-built training set, counts worked out by hand."""
from types import SimpleNamespace

import pytest
import torch

from dal_torchreid.engine.diagnostics import (
    association_metrics, count_true_pairs, read_tracklet_identities
)

# torchreid training tracklets (img_paths, pid, camid, dsetid); source camids 1, 3, 5
# become camera indices 0, 1, 2; tracklets are numbered per camera in order.
TRAIN = [
    (('a1.png',), 7, 3, 0),  # (1, 0)
    (('a2.png',), 5, 1, 0),  # (0, 0)
    (('a3.png',), 7, 1, 0),  # (0, 1)
    (('a4.png',), 5, 3, 0),  # (1, 1)
    (('a5.png',), 9, 1, 0),  # (0, 2)
    (('a6.png',), 7, 3, 0),  # (1, 2)
    (('a7.png',), 8, 5, 0),  # (2, 0)
    (('a8.png',), 5, 5, 0),  # (2, 1)
]
IDENTITIES = {(1, 0): 7, (0, 0): 5, (0, 1): 7, (1, 1): 5,
              (0, 2): 9, (1, 2): 7, (2, 0): 8, (2, 1): 5}


def fake_datamanager(train):
    return SimpleNamespace(train_loader=SimpleNamespace(dataset=SimpleNamespace(train=train)),
                           transform_tr=None)


def test_identities_use_the_training_labels_of_tracklet_frames():
    assert read_tracklet_identities(fake_datamanager(TRAIN)) == IDENTITIES


def test_true_pairs_count_cross_camera_pairs_of_a_person():
    # pid 5: one tracklet in each of 3 cameras -> 3 pairs; pid 7: 1 in cam 0, 2 in cam 1 -> 2
    # pairs (the two cam-1 tracklets are the same camera); pids 8, 9: one tracklet, no pair.
    assert count_true_pairs(IDENTITIES) == 5


def test_precision_and_recall_of_deduplicated_pairs():
    associations = [
        (0, 0, 1, 1),  # 5-5 correct
        (1, 1, 0, 0),  # the same pair reversed: not counted again
        (0, 1, 1, 0),  # 7-7 correct
        (0, 1, 1, 2),  # 7-7 correct
        (0, 2, 1, 0),  # 9-7 wrong
        (2, 1, 1, 1),  # 5-5 correct
        (2, 0, 0, 0),  # 8-5 wrong
        (0, 1, 1, 0),  # repeated: not counted again
    ]
    metrics = association_metrics(associations, IDENTITIES)
    assert metrics == {'num_associations': 6, 'num_correct': 4, 'precision': 4 / 6,
                       'recall': 4 / 5, 'num_true_pairs': 5}


def test_rows_tensor_and_empty_cases():
    rows = torch.tensor([[0, 0, 2, 1], [2, 1, 0, 0], [0, 2, 2, 0]])  # correct, dup, wrong
    metrics = association_metrics(rows, IDENTITIES)
    assert (metrics['num_associations'], metrics['num_correct']) == (2, 1)
    assert metrics['recall'] == pytest.approx(1 / 5)
    empty = association_metrics([], IDENTITIES)
    assert empty['precision'] == 0.0 and empty['recall'] == 0.0
    no_true = association_metrics([(0, 0, 1, 0)], {(0, 0): 1, (1, 0): 2})
    assert no_true['num_true_pairs'] == 0 and no_true['recall'] == 0.0
    assert no_true['precision'] == 0.0


def test_invalid_associations_raise():
    with pytest.raises(ValueError, match='camera 0'):
        association_metrics([(0, 0, 0, 1)], IDENTITIES)
    with pytest.raises(KeyError, match=r'\(1, 9\)'):
        association_metrics([(0, 0, 1, 9)], IDENTITIES)
    with pytest.raises(ValueError, match='4 values'):
        association_metrics([(0, 1, 2)], IDENTITIES)


def test_association_monitor_scores_intra_camera_negatives(capsys):
    from dal_torchreid.engine.diagnostics import AssociationMonitor
    monitor = AssociationMonitor({(0, 0): 1, (0, 1): 1, (0, 2): 2, (1, 0): 1})
    # rows (camera, tracklet, ...): (0,0) takes (0,1), the same person; (0,0) and (0,1)
    # rank themselves nearest; (0,2) takes (0,0), another person
    frames = torch.tensor([[0, 0, 1, 0], [0, 0, 1, 0], [0, 1, 1, 0], [0, 2, 1, 0]])
    monitor.add_negatives(frames, torch.tensor([1, 0, 1, 0]))
    stats = monitor.end_epoch(1)
    assert stats['negatives_other'] == pytest.approx(0.5)
    assert stats['negatives_same_person'] == pytest.approx(0.5)
    assert ('=> epoch 1 intra-camera negatives: 50.0% of frames ranked another tracklet of '
            'their camera nearest, 50.0% of those the same person') in capsys.readouterr().out
    assert 'negatives_other' not in monitor.end_epoch(2)  # counted afresh each epoch


def test_same_person_rows_of_each_camera():
    from dal_torchreid.engine.diagnostics import same_person_rows
    # camera 0: tracklets 0, 1 of person 1 and 2 of person 2; camera 1 (rows 3-5): 0 of
    # person 1, 1 and 2 of person 2. Person 1 in camera 1 is alone there: no row.
    identities = {(0, 0): 1, (0, 1): 1, (0, 2): 2, (1, 0): 1, (1, 1): 2, (1, 2): 2}
    assert same_person_rows(identities, [3, 3]).tolist() == [[1], [0], [6], [6], [5], [4]]


def test_spared_pairs_scored_against_identities(capsys):
    from dal_torchreid.engine.diagnostics import AssociationMonitor
    monitor = AssociationMonitor({(0, 0): 1, (0, 1): 1, (0, 2): 2, (0, 3): 2, (1, 0): 1})
    # rows 0-1 (person 1 twice in camera 0) spared, rows 2-3 (person 2 twice) not; 5: none
    table = torch.tensor([[1, 5], [0, 5], [5, 5], [5, 5], [5, 5]])
    stats = monitor.score_spared(table, [4, 1])
    assert stats == {'num_pairs': 1, 'precision': 1.0, 'recall': 0.5}
    table = torch.tensor([[1, 2], [0, 5], [0, 5], [5, 5], [5, 5]])  # + 0-2, two people
    assert monitor.score_spared(table, [4, 1]) == {'num_pairs': 2, 'precision': 0.5,
                                                   'recall': 0.5}
    assert '=> 2 spared pairs: 50.0% the same person, 50.0% of one camera' in capsys.readouterr().out

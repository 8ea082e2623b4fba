"""Association diagnostics on a hand-built training set, counts worked out by hand."""
from types import SimpleNamespace

import pytest
import torch

from dal_torchreid.diagnostics import (
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

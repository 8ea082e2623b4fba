"""The one-to-one cross-camera assignment against brute force over every pairing."""
import itertools

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from dal_torchreid.cluster import (
    ClusteringSettings, assignment_labels, cluster_tracklets, confident_assignment
)
from dal_torchreid.cluster.assignment import pair_margins


def best_pairing(s):
    """Brute force: the pairing (rows, cols) of largest total similarity, rows <= cols."""
    n, m = s.shape
    best, pairs = -np.inf, None
    for cols in itertools.permutations(range(m), n):
        total = sum(s[i, j] for i, j in enumerate(cols))
        if total > best:
            best, pairs = total, list(enumerate(cols))
    return pairs


def reference(s, min_similarity, min_margin):
    kept = []
    for i, j in best_pairing(s):
        others = [s[i, c] for c in range(s.shape[1]) if c != j] + \
                 [s[r, j] for r in range(s.shape[0]) if r != i]
        margin = s[i, j] - max(others)
        if s[i, j] >= min_similarity and margin >= min_margin:
            kept.append((i, j))
    return kept


@pytest.mark.parametrize('shape', [(5, 5), (4, 6), (1, 3)])
@pytest.mark.parametrize('thresholds', [(-1.0, -2.0), (0.0, 0.0), (0.2, 0.05)])
def test_confident_assignment_equals_brute_force(shape, thresholds):
    rng = np.random.default_rng(sum(shape))
    for _ in range(5):
        s = rng.uniform(-1, 1, size=shape)
        rows, cols = confident_assignment(s, *thresholds)
        assert sorted(zip(rows.tolist(), cols.tolist())) == sorted(reference(s, *thresholds))


def test_margin_zero_keeps_mutual_nearest_only():
    s = np.array([[0.9, 0.8, 0.0],
                  [0.85, 0.1, 0.0],
                  [0.0, 0.0, 0.5]])
    # the optimal pairing takes (0, 1) and (1, 0): neither is mutual nearest
    rows, cols = confident_assignment(s, min_margin=0.0)
    assert list(zip(rows.tolist(), cols.tolist())) == [(2, 2)]
    np.testing.assert_allclose(pair_margins(s, np.array([2]), np.array([2])), [0.5])
    rows, _ = confident_assignment(s, min_margin=-2.0)
    assert len(rows) == 3


def test_assignment_labels_pair_across_two_cameras():
    torch.manual_seed(0)
    people = F.normalize(torch.randn(6, 8), dim=1)
    # camera 1 sees the people in another order, a little changed; tracklets interleaved
    order = torch.tensor([3, 0, 5, 1, 4, 2])
    feats = F.normalize(torch.cat([people, people[order] + 0.05 * torch.randn(6, 8)]), dim=1)
    cameras = torch.tensor([0] * 6 + [1] * 6)
    labels = assignment_labels(feats, cameras)
    for k, person in enumerate(order.tolist()):
        assert labels[6 + k] == labels[person] >= 0
    assert sorted(labels[:6].tolist()) == list(range(6))
    # a high similarity floor leaves every tracklet unpaired: -1 (or own classes)
    assert (assignment_labels(feats, cameras, min_similarity=1.0) == -1).all()
    own = cluster_tracklets(feats, cameras, ClusteringSettings(
        method='assignment', min_similarity=1.0, outliers='own_class'))
    assert sorted(own.tolist()) == list(range(12))


def test_assignment_refuses_other_than_two_cameras():
    feats = F.normalize(torch.randn(6, 4), dim=1)
    with pytest.raises(ValueError, match='two cameras.*3 camera'):
        assignment_labels(feats, torch.tensor([0, 0, 1, 1, 2, 2]))
    with pytest.raises(ValueError, match='assignment_min_margin'):
        confident_assignment(np.zeros((2, 2)), min_margin=3)
    with pytest.raises(ValueError, match='pseudo_labels'):
        cluster_tracklets(feats, torch.tensor([0, 0, 0, 1, 1, 1]),
                          ClusteringSettings(method='hungarian'))


def test_cluster_tracklets_times_its_steps():
    times = {}

    class Timer:
        def __init__(self, name):
            self.name = name

        def __enter__(self):
            times[self.name] = times.get(self.name, 0) + 1

        def __exit__(self, *exc):
            return False

    feats = F.normalize(torch.randn(12, 4), dim=1)
    cameras = torch.tensor([0, 1] * 6)
    cluster_tracklets(feats, cameras, ClusteringSettings(k1=4, k2=2, min_samples=2), phase=Timer)
    assert times == {'neighbours': 1, 'grouping': 1}
    cluster_tracklets(feats, cameras, ClusteringSettings(method='assignment'), phase=Timer)
    assert times == {'neighbours': 1, 'grouping': 2}

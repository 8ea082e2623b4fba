"""Cluster Contrast's clustering step against a dense NumPy transcription of the reference."""
import numpy as np
import pytest
import torch
from scipy import sparse
from sklearn.cluster import DBSCAN
from torch.nn import functional as F

from dal_torchreid.cluster import (
    camera_centred, check_eps, check_k1, check_k2, check_min_samples, check_outliers,
    ClusteringSettings, cluster_tracklets, dbscan_labels, jaccard_distances, nearest_neighbors,
    outliers_as_classes
)


def dense_reference(x: np.ndarray, k1: int, k2: int, cameras=None) -> np.ndarray:
    """The reference's compute_jaccard_distance, densely: N x N everywhere, brute force."""
    n = len(x)
    sims = x @ x.T
    if cameras is not None:
        sims = np.where(cameras[:, None] == cameras[None, :], -np.inf, sims)
    np.fill_diagonal(sims, np.inf)
    ranks = np.argsort(-sims, axis=1, kind='stable')[:, :k1]

    def recip(i, k):
        forward = ranks[i, :k + 1]
        backward = ranks[forward, :k + 1]
        return forward[np.where(backward == i)[0]]

    V = np.zeros((n, n), dtype=np.float64)
    for i in range(n):
        r = recip(i, k1)
        expansion = r
        for c in r:
            h = recip(c, int(np.around(k1 / 2)))
            if len(np.intersect1d(h, r)) > 2 / 3 * len(h):
                expansion = np.append(expansion, h)
        expansion = np.unique(expansion)
        d = 2 - 2 * x[i] @ x[expansion].T
        w = np.exp(-d - (-d).max())
        V[i, expansion] = w / w.sum()
    if k2 != 1:
        V = np.stack([V[ranks[i, :k2]].mean(0) for i in range(n)])
    jaccard = np.zeros((n, n))
    for i in range(n):
        m = np.minimum(V[i][None, :], V).sum(1)
        jaccard[i] = 1 - m / (2 - m)
    return np.maximum(jaccard, 0)


def features(n=60, d=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(n // 4, d, generator=g)
    x = centres.repeat_interleave(4, 0) + 0.6 * torch.randn(n, d, generator=g)
    return F.normalize(x, dim=1)


@pytest.mark.parametrize('k1, k2, cross', [(10, 3, False), (6, 1, False), (8, 4, True),
                                           (20, 6, False)])
def test_sparse_jaccard_equals_the_dense_reference(k1, k2, cross):
    x = features()
    cameras = torch.arange(len(x)) % 2 if cross else None
    expected = dense_reference(x.double().numpy(), k1, k2,
                               None if cameras is None else cameras.numpy())
    coo = jaccard_distances(x, k1, k2, cameras).tocoo()
    got = np.ones_like(expected)
    got[coo.row, coo.col] = coo.data
    stored = np.zeros_like(expected, dtype=bool)
    stored[coo.row, coo.col] = True
    assert np.allclose(got[stored], expected[stored], atol=1e-5)  # stored values: the reference's
    assert stored.diagonal().all() and np.allclose(got.diagonal(), 0, atol=1e-6)
    # every pair within DBSCAN's reach is stored: left-out pairs are far beyond eps 0.6
    assert expected[~stored].min() > 0.7
    assert (got < 1).sum() == stored.sum()  # nothing stored at distance 1
    # so DBSCAN on the sparse matrix labels as DBSCAN on the reference's dense one
    dense_labels = DBSCAN(eps=0.6, min_samples=2, metric='precomputed').fit_predict(expected)
    assert np.array_equal(dbscan_labels(jaccard_distances(x, k1, k2, cameras), 0.6, 2),
                          dense_labels)


def test_nearest_neighbours_are_exact_in_any_chunk_and_cross_camera():
    x = features(40, 8, seed=1)
    sims = x @ x.t()
    cameras = torch.arange(40) % 3
    masked = sims.masked_fill(cameras[:, None] == cameras[None, :], float('-inf'))
    masked.fill_diagonal_(float('inf'))
    for chunk in (1, 37, 100, 1 << 24):  # blocks of 1, 6, 10 and all 40 rows
        ranks, values = nearest_neighbors(x, 5, chunk_elements=chunk, return_similarities=True)
        assert torch.equal(ranks[:, 0], torch.arange(40))
        assert torch.equal(ranks, sims.topk(5, dim=1).indices)
        assert torch.allclose(values, sims.topk(5, dim=1).values, atol=1e-6)
        cross, values = nearest_neighbors(x, 6, cameras, chunk_elements=chunk,
                                          return_similarities=True)
        assert (cameras[cross[:, 1:]] != cameras[:, None]).all()
        assert torch.equal(cross, masked.topk(6, dim=1).indices)
        assert torch.allclose(values[:, 0], sims.diagonal(), atol=1e-6)
        assert torch.allclose(values[:, 1:], masked.topk(6, dim=1).values[:, 1:], atol=1e-6)


def test_duplicate_features_are_neighbours_at_distance_zero():
    x = features(24, 8)
    x[1] = x[0]
    distances = jaccard_distances(x, 6, 1)
    assert distances[0, 1] < 1e-6 and 1 in distances[0].indices
    labels = dbscan_labels(distances, eps=0.01, min_samples=2)
    assert labels[0] == labels[1] != -1
    # an explicitly stored 0 is a neighbour for DBSCAN; an absent entry is not
    graph = sparse.csr_matrix((np.zeros(4), ([0, 1, 0, 1], [0, 1, 1, 0])), shape=(3, 3))
    assert graph.nnz == 4
    assert dbscan_labels(graph, eps=0.5, min_samples=2).tolist() == [0, 0, -1]


def test_camera_centred_removes_each_cameras_mean():
    g = torch.Generator().manual_seed(0)
    people = torch.randn(10, 8, generator=g)
    cameras = torch.tensor([0] * 10 + [1] * 10)
    shift = torch.randn(8, generator=g) * 5  # camera 1 adds a strong common component
    x = torch.cat([people, people + shift])
    centred = camera_centred(x, cameras)
    assert torch.allclose(centred.norm(dim=1), torch.ones(20))
    assert torch.allclose(centred[:10], centred[10:], atol=1e-5)  # the shift is gone
    expected = F.normalize(x[10:] - x[10:].mean(0), dim=1)
    assert torch.allclose(centred[10:], expected, atol=1e-6)


def test_outliers_as_classes_numbers_them_after_the_clusters():
    assert outliers_as_classes(np.array([0, -1, 1, -1, 0])).tolist() == [0, 2, 1, 3, 0]
    assert outliers_as_classes(np.array([-1, -1])).tolist() == [0, 1]


def test_camera_aware_options_find_cross_camera_pairs():
    # two cameras with a strong camera offset: each person has one tracklet per camera
    g = torch.Generator().manual_seed(3)
    people = F.normalize(torch.randn(20, 32, generator=g), dim=1)
    offset = torch.randn(32, generator=g)
    x = F.normalize(torch.cat([people + 0.1 * torch.randn(20, 32, generator=g) + offset,
                               people + 0.1 * torch.randn(20, 32, generator=g) - offset]), dim=1)
    cameras = torch.tensor([0] * 20 + [1] * 20)
    plain = cluster_tracklets(x, cameras, ClusteringSettings(k1=6, k2=2, eps=0.6, min_samples=2))
    aware = cluster_tracklets(x, cameras, ClusteringSettings(
        k1=6, k2=2, eps=0.6, min_samples=2, camera_centred=True, cross_camera=True,
        outliers='own_class'))
    truth = np.tile(np.arange(20), 2)

    def pairs_joined(labels):
        return sum(labels[i] == labels[i + 20] != -1 for i in range(20))
    assert pairs_joined(aware) >= 18 > pairs_joined(plain)
    assert (aware >= 0).all()
    # no cluster mixes two people
    for label in np.unique(aware):
        assert len(set(truth[aware == label])) == 1


def test_bad_settings_are_named():
    for check, value, word in [(check_k1, 1, 'k1'), (check_k2, 0, 'k2'), (check_eps, 1.0, 'eps'),
                               (check_eps, 0, 'eps'), (check_min_samples, 0, 'min_samples'),
                               (check_outliers, 'keep', 'outliers')]:
        with pytest.raises(ValueError, match=f'^{word} must'):
            check(value)


def test_cross_camera_pairs_and_mutual_neighbours_filter_the_graph():
    from dal_torchreid.cluster import cross_camera_pairs, mutual_neighbors_of
    d = np.array([[0, .2, .3, .9],
                  [.2, 0, .1, .4],
                  [.3, .1, 0, .5],
                  [.9, .4, .5, 0]])
    graph = sparse.csr_matrix(d)
    graph.setdiag(0)  # explicit zeros on the diagonal, as jaccard_distances stores them
    cameras = np.array([0, 1, 0, 1])
    cross = cross_camera_pairs(graph, cameras).toarray()
    assert np.array_equal(cross > 0, (cameras[:, None] != cameras[None, :]) & (d > 0))
    # mutual nearest: 1<->2 only (0's nearest is 1, whose nearest is 2; 3's nearest is 1)
    mutual = mutual_neighbors_of(graph, 1)
    pairs = {(i, j) for i, j in zip(*mutual.nonzero()) if i != j}
    assert pairs == {(1, 2), (2, 1)}
    assert mutual.diagonal().tolist() == [0, 0, 0, 0] and mutual.nnz == 6  # diagonal kept
    # across cameras 0 and 2 lose 0.3 (same camera): 0's nearest is then 1, 3's is 2,
    # 2's is 1: only 1<->2 is mutual, and 0 and 3 keep no pair
    cameras = np.array([0, 1, 0, 1])
    both = mutual_neighbors_of(cross_camera_pairs(graph, cameras), 1)
    assert {(i, j) for i, j in zip(*both.nonzero()) if i != j} == {(1, 2), (2, 1)}
    # with 1 and 2 in one camera: 0<->1 (0.2) is mutual; 2's nearest is 0, 3's is 1
    cameras = np.array([0, 1, 1, 0])
    both = mutual_neighbors_of(cross_camera_pairs(graph, cameras), 1)
    assert {(i, j) for i, j in zip(*both.nonzero()) if i < j} == {(0, 1)}
    two = mutual_neighbors_of(graph, 2)
    # 3 is among nobody's two nearest (1 keeps 2 and 0): no pair with 3
    assert {(i, j) for i, j in zip(*two.nonzero()) if i < j} == {(0, 1), (0, 2), (1, 2)}

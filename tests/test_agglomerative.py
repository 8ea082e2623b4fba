"""Average linkage over a sparse graph with cannot-links: the merges, the constraint, the scale."""
import itertools
import tracemalloc

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from dal_torchreid.cluster.agglomerative import (
    SimilarityGraph, average_linkage, graph_from_pairs, knn_graph
)


def greedy_average_linkage(similarity, threshold, cannot_link=(), min_clusters=1, groups=None,
                           missing=0.0):
    """The textbook algorithm on a dense matrix (nan: no edge): merge the best allowed
    pair while its average linkage reaches the threshold."""
    n = len(similarity)
    clusters = [{i} for i in range(n)]
    forbidden = {frozenset(p) for p in cannot_link}

    def linkage(a, b):
        values = [similarity[i, j] for i in a for j in b
                  if groups is None or groups[i] != groups[j]]
        if not values or all(np.isnan(values)):
            return None
        return float(np.mean([missing if np.isnan(v) else v for v in values]))

    while len(clusters) > min_clusters:
        best = None
        for x, y in itertools.combinations(range(len(clusters)), 2):
            if any(frozenset((i, j)) in forbidden for i in clusters[x] for j in clusters[y]):
                continue
            value = linkage(clusters[x], clusters[y])
            if value is not None and value >= threshold and (best is None or value > best[0]):
                best = (value, x, y)
        if best is None:
            break
        _, x, y = best
        clusters[x] |= clusters.pop(y)
    labels = np.empty(n, np.int64)
    for c, members in enumerate(clusters):
        labels[list(members)] = c
    return labels


def same_partition(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return bool(((a[:, None] == a[None]) == (b[:, None] == b[None])).all())


def random_case(rng, n, density=0.5):
    similarity = np.full((n, n), np.nan)
    rows, cols, weights = [], [], []
    for i, j in itertools.combinations(range(n), 2):
        if rng.random() < density:
            w = float(rng.normal())
            similarity[i, j] = similarity[j, i] = w
            rows.append(i), cols.append(j), weights.append(w)
    return similarity, graph_from_pairs(n, rows, cols, weights)


def test_the_cannot_link_holds_where_average_linkage_would_merge_through_it():
    # 0-1 and 1-2 are close, 0-2 far but cannot-linked; 0-1 merge first, then {0,1}-2
    # averages (0.9 + 0.2) / 2 = 0.55 > 0.5: without the cannot-link all three join.
    graph = graph_from_pairs(3, [0, 1, 0], [1, 2, 2], [0.95, 0.9, 0.2])
    assert average_linkage(graph, 0.5).num_clusters == 1
    labels = average_linkage(graph, 0.5, cannot_link=[(0, 2)]).labels
    assert labels[0] == labels[1] != labels[2]


def test_a_cannot_link_pair_is_never_in_one_cluster_however_low_the_threshold():
    rng = np.random.default_rng(0)
    for _ in range(20):
        n = int(rng.integers(4, 30))
        _, graph = random_case(rng, n, 0.6)
        pairs = [tuple(rng.choice(n, 2, replace=False)) for _ in range(int(rng.integers(1, n)))]
        result = average_linkage(graph, -np.inf, cannot_link=pairs)
        assert all(result.labels[i] != result.labels[j] for i, j in pairs)


@pytest.mark.parametrize('seed', range(12))
def test_the_merges_are_the_greedy_algorithm_s(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 14))
    similarity, graph = random_case(rng, n)
    pairs = [tuple(rng.choice(n, 2, replace=False)) for _ in range(int(rng.integers(0, 4)))]
    groups = rng.integers(0, 3, n) if seed % 2 else None
    threshold = float(rng.normal(-0.3, 0.3))
    missing = -1.0 if seed % 3 else 0.0
    expected = greedy_average_linkage(similarity, threshold, pairs, groups=groups, missing=missing)
    result = average_linkage(graph, threshold, pairs, groups=groups, missing=missing)
    assert same_partition(result.labels, expected)
    assert np.all(result.merge_linkage >= threshold)
    assert len(result.merge_linkage) == n - result.num_clusters


def test_the_lower_bound_on_clusters_stops_merging():
    graph = graph_from_pairs(6, [0, 1, 2, 3, 4], [1, 2, 3, 4, 5], [0.9] * 5)
    assert average_linkage(graph, -1.0).num_clusters == 1
    assert average_linkage(graph, -1.0, min_clusters=4).num_clusters == 4
    with pytest.raises(ValueError, match='min_clusters'):
        average_linkage(graph, 0.0, min_clusters=0)


def test_groups_count_only_pairs_of_different_groups():
    # 0 and 1 share a group: their (absent) pair does not pull the average down
    graph = graph_from_pairs(3, [0, 1], [2, 2], [0.8, 0.8])
    assert average_linkage(graph, 0.5, groups=[0, 0, 1]).num_clusters == 1
    assert average_linkage(graph, 0.5).num_clusters == 2  # 0-1 counts as missing (0)


def test_bad_input_is_named():
    graph = graph_from_pairs(3, [0], [1], [1.0])
    with pytest.raises(ValueError, match='index 5'):
        average_linkage(graph, 0.0, cannot_link=[(0, 5)])
    with pytest.raises(ValueError, match='itself'):
        average_linkage(graph, 0.0, cannot_link=[(1, 1)])
    with pytest.raises(ValueError, match='index 3'):
        graph_from_pairs(3, [0], [3], [1.0])
    with pytest.raises(ValueError, match='differ in length'):
        SimilarityGraph(3, np.array([0]), np.array([1]), np.array([]))


def test_knn_graph_joins_nearest_rows_of_other_groups_and_its_own_on_request():
    features = F.normalize(torch.tensor([[1.0, 0.0], [0.99, 0.1], [0.0, 1.0], [0.1, 0.99]]), dim=1)
    graph = knn_graph(features, 1, groups=[0, 1, 0, 1])
    assert set(zip(graph.rows.tolist(), graph.cols.tolist())) == {(0, 1), (2, 3)}
    within = knn_graph(features, 1, groups=[0, 1, 0, 1], k_within=1)
    assert {(0, 2), (1, 3)} <= set(zip(within.rows.tolist(), within.cols.tolist()))
    np.testing.assert_allclose(graph.weights, [(features[0] @ features[1]).item(),
                                               (features[2] @ features[3]).item()], rtol=1e-6)


def test_memory_stays_far_below_one_n_by_n_matrix():
    n, k = 12000, 10  # an N x N float32 matrix: 576 MB
    rng = np.random.default_rng(0)
    centres = F.normalize(torch.as_tensor(rng.normal(size=(n // 4, 16)), dtype=torch.float32),
                          dim=1)
    noise = torch.as_tensor(rng.normal(size=(n, 16)), dtype=torch.float32)
    features = F.normalize(centres.repeat_interleave(4, 0) + 0.05 * noise, dim=1)
    groups = np.tile(np.arange(4), n // 4)
    pairs = np.stack([np.arange(0, n - 1, 7), np.arange(1, n, 7)], 1)
    tracemalloc.start()
    graph = knn_graph(features, k, groups=groups, chunk_elements=1 << 20)
    result = average_linkage(graph, 0.5, cannot_link=pairs, groups=groups)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 0.05 * n * n * 4, f'peak {peak / 2**20:.0f} MiB'
    assert graph.num_edges <= n * k
    assert all(result.labels[i] != result.labels[j] for i, j in pairs)
    assert result.num_clusters < n / 2  # the groups of four came together

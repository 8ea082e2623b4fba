"""Average-linkage agglomerative clustering over a sparse similarity graph, with cannot-links.

Two pure steps, each testable alone:

* :func:`knn_graph`: features -> a sparse :class:`SimilarityGraph` of each row's ``k``
  most similar rows (optionally from other groups only), symmetrised; built on the
  blocked exact search of :func:`~dal_torchreid.cluster.neighbors.nearest_neighbors`,
  so memory grows with ``N x k``, never ``N x N``;
* :func:`average_linkage`: graph -> labels. Clusters merge while their average
  linkage reaches ``threshold``, never when the merge would put a cannot-link pair in
  one cluster (checked at every merge, never repaired afterwards), and never below
  ``min_clusters`` clusters.

The linkage of clusters ``A`` and ``B`` is the mean similarity over their member pairs
that count (all pairs, or with ``groups`` the pairs of different groups); a pair
absent from the graph counts as ``missing``. With that definition the linkage is
*reducible* (the linkage of a merged cluster to a third lies between its parts'), a
cannot-link only ever forbids more as clusters grow, and every round can merge all
pairs of clusters that are each other's best allowed neighbour at once (reciprocal
nearest neighbours, Sumengen et al. 2021, "Scaling hierarchical agglomerative
clustering to billion-sized datasets"): the same merges a one-pair-at-a-time greedy
would make, in vectorised rounds of O(edges).

Why not a library: SciPy's ``hierarchy.linkage`` takes the N(N-1)/2 condensed
distances (N x N). scikit-learn's ``AgglomerativeClustering`` accepts a sparse
``connectivity`` but computes its own distances from the features (a precomputed
metric takes a dense N x N matrix), so neither fused scores nor cannot-links can be
passed; its sparse average linkage averages only connected pairs, weighted by size;
and it completes a disconnected graph with extra distances between components.
faiss is not used: a faiss flat index cannot leave out same-group rows without
over-fetching (the exact blocked search's time at 100k tracklets: docs/benchmarks.md).

Examples::

    graph = knn_graph(features, k=20, groups=cameras)
    result = average_linkage(graph, threshold=0.5, cannot_link=pairs, groups=cameras)
    labels = result.labels
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from dal_torchreid.cluster.neighbors import CHUNK_ELEMENTS, nearest_neighbors

PAIR_BLOCK = 1 << 12  # pairs whose dot products are computed at once (2 x block x D floats)


@dataclass(frozen=True)
class SimilarityGraph:
    """An undirected sparse graph of ``size`` nodes: edge ``(rows[e], cols[e])``,
    ``rows < cols``, each pair once, with similarity ``weights[e]``."""

    size: int
    rows: np.ndarray
    cols: np.ndarray
    weights: np.ndarray

    def __post_init__(self):
        if not (len(self.rows) == len(self.cols) == len(self.weights)):
            raise ValueError(f'rows, cols and weights differ in length: {len(self.rows)}, '
                             f'{len(self.cols)}, {len(self.weights)}')

    @property
    def num_edges(self) -> int:
        return len(self.rows)


@dataclass(frozen=True)
class Clustering:
    """The outcome of :func:`average_linkage`.

    Args:
        labels (np.ndarray): cluster of each node, ``0 .. C-1`` in order of first member.
        merge_linkage (np.ndarray): linkage of every merge made, in the order made.
        merge_pairs (np.ndarray): member pairs (that count) each merge joined.
        blocked_linkage (np.ndarray): linkage of every pair of clusters that were each
            other's best neighbour but held a cannot-link pair (a merge refused).
        rounds (int): rounds of reciprocal merges run.
    """

    labels: np.ndarray
    merge_linkage: np.ndarray
    merge_pairs: np.ndarray
    blocked_linkage: np.ndarray
    rounds: int

    @property
    def num_clusters(self) -> int:
        return int(self.labels.max(initial=-1) + 1)


def graph_from_pairs(size: int, rows, cols, weights) -> SimilarityGraph:
    """A :class:`SimilarityGraph` from pairs in any order: self pairs left out, each
    unordered pair once (the largest weight kept). Raises ``ValueError`` naming an index
    outside ``0 .. size-1``."""
    rows, cols = np.asarray(rows, np.int64).ravel(), np.asarray(cols, np.int64).ravel()
    weights = np.asarray(weights, np.float64).ravel()
    for name, index in (('rows', rows), ('cols', cols)):
        bad = index[(index < 0) | (index >= size)]
        if len(bad):
            raise ValueError(f'{name} holds index {bad[0]}, outside 0 .. {size - 1}')
    a, b = np.minimum(rows, cols), np.maximum(rows, cols)
    keep = a != b
    a, b, weights = a[keep], b[keep], weights[keep]
    order = np.lexsort((-weights, b, a))
    a, b, weights = a[order], b[order], weights[order]
    first = np.ones(len(a), bool)
    first[1:] = (a[1:] != a[:-1]) | (b[1:] != b[:-1])
    return SimilarityGraph(int(size), a[first], b[first], weights[first])


def _neighbour_pairs(features: Tensor, k: int, groups: Tensor | None,
                     chunk_elements: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(rows, cols, similarity)`` of each row's ``k`` nearest other rows (of other
    groups when ``groups`` is given)."""
    n = features.size(0)
    if n < 2 or (groups is not None and int(groups.max()) == int(groups.min())):
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    index, similarity = nearest_neighbors(features, k + 1, groups, chunk_elements,
                                          return_similarities=True)
    index, similarity = index[:, 1:].numpy(), similarity[:, 1:].numpy()
    rows = np.repeat(np.arange(n), index.shape[1])
    index, similarity = index.ravel(), similarity.ravel()
    valid = np.isfinite(similarity) & (index >= 0)
    return rows[valid], index[valid], similarity[valid]


def feature_tensor(features) -> Tensor:
    """``features`` (a Tensor, an array or nested lists) as a float32 Tensor."""
    return torch.as_tensor(features if torch.is_tensor(features) else np.asarray(features),
                           dtype=torch.float32)


def pair_similarity(features, i, j, block: int = PAIR_BLOCK) -> np.ndarray:
    """Dot products of rows ``i[e]`` and ``j[e]`` of ``features``, ``block`` pairs at once."""
    features = feature_tensor(features)
    i, j = torch.as_tensor(np.asarray(i, np.int64)), torch.as_tensor(np.asarray(j, np.int64))
    out = torch.empty(len(i), dtype=features.dtype)
    for lo in range(0, len(i), block):
        s = slice(lo, lo + block)
        out[s] = (features[i[s]] * features[j[s]]).sum(1)
    return out.numpy().astype(np.float64)


def knn_graph(features: Tensor | np.ndarray, k: int, groups=None, k_within: int = 0,
              chunk_elements: int = CHUNK_ELEMENTS) -> SimilarityGraph:
    """Each row's ``k`` most similar rows (dot product of L2-normalised ``features``),
    symmetrised: ``i`` and ``j`` are joined when either is among the other's ``k``.

    Args:
        features (Tensor or np.ndarray): ``(N, D)``, L2-normalised.
        k (int): neighbours per row (fewer where fewer candidates exist).
        groups (sequence, optional): ``(N,)`` group of each row (a camera): the ``k``
            neighbours come from other groups only.
        k_within (int): with ``groups``, also each row's ``k_within`` nearest rows of
            its own group (searched group by group).
        chunk_elements (int): similarities computed at once.

    Examples::

        graph = knn_graph(torch.nn.functional.normalize(torch.randn(100, 8)), k=5)
    """
    if k < 1 or k_within < 0:
        raise ValueError(f'k must be >= 1 and k_within >= 0, got k={k}, k_within={k_within}')
    features = feature_tensor(features)
    n = features.size(0)
    group_tensor = None
    if groups is not None:
        group_tensor = torch.as_tensor(np.unique(np.asarray(groups), return_inverse=True)[1])
        if len(group_tensor) != n:
            raise ValueError(f'groups holds {len(group_tensor)} values for {n} rows')
    parts = [_neighbour_pairs(features, k, group_tensor, chunk_elements)]
    if group_tensor is not None and k_within:
        for g in torch.unique(group_tensor):
            members = torch.nonzero(group_tensor == g).ravel()
            r, c, v = _neighbour_pairs(features[members], k_within, None, chunk_elements)
            parts.append((members.numpy()[r], members.numpy()[c], v))
    rows, cols, sims = (np.concatenate(x) for x in zip(*parts))
    return graph_from_pairs(n, rows, cols, sims)


def _relabel(a: np.ndarray, b: np.ndarray, new: np.ndarray, size: int):
    """Pairs ``(a, b)`` mapped through ``new``, ordered, self pairs dropped, as the sorted
    unique keys ``a * size + b`` and the inverse index of every kept pair."""
    a, b = new[a], new[b]
    keep = a != b
    lo, hi = np.minimum(a[keep], b[keep]), np.maximum(a[keep], b[keep])
    keys, inverse = np.unique(lo * size + hi, return_inverse=True)
    return keys, inverse, keep


def _pairs_counted(size: np.ndarray, hist: np.ndarray | None, a: np.ndarray, b: np.ndarray,
                   block: int = 1 << 16) -> np.ndarray:
    """Member pairs of clusters ``a`` and ``b`` that count: all, or those of different groups."""
    total = size[a] * size[b]
    if hist is None:
        return total
    same = np.empty(len(a))
    for lo in range(0, len(a), block):
        s = slice(lo, lo + block)
        same[s] = np.einsum('ij,ij->i', hist[a[s]], hist[b[s]])
    return total - same


def _best_neighbours(a: np.ndarray, b: np.ndarray, linkage: np.ndarray, k: int) -> np.ndarray:
    """Per cluster ``0 .. k-1`` the edge of its largest linkage (ties: the lower other
    cluster), or -1 without an edge."""
    src, dst = np.concatenate([a, b]), np.concatenate([b, a])
    edge = np.concatenate([np.arange(len(a))] * 2)
    order = np.lexsort((dst, -np.concatenate([linkage, linkage]), src))
    src, edge = src[order], edge[order]
    first = np.ones(len(src), bool)
    first[1:] = src[1:] != src[:-1]
    best = np.full(k, -1, np.int64)
    best[src[first]] = edge[first]
    return best


def _check_linkage_inputs(graph: SimilarityGraph, cannot_link, groups, min_clusters: int):
    if min_clusters < 1:
        raise ValueError(f'min_clusters must be >= 1, got {min_clusters}')
    n = graph.size
    pairs = np.zeros((0, 2), np.int64) if cannot_link is None else \
        np.asarray(cannot_link, np.int64).reshape(-1, 2)
    bad = pairs[(pairs < 0) | (pairs >= n)]
    if len(bad):
        raise ValueError(f'cannot_link holds index {bad[0]}, outside 0 .. {n - 1}')
    if np.any(pairs[:, 0] == pairs[:, 1]):
        i = int(pairs[pairs[:, 0] == pairs[:, 1]][0, 0])
        raise ValueError(f'cannot_link pairs node {i} with itself')
    if groups is not None and len(groups) != n:
        raise ValueError(f'groups holds {len(groups)} values for a graph of {n} nodes')
    return pairs


def average_linkage(graph: SimilarityGraph, threshold: float, cannot_link=None,
                    min_clusters: int = 1, groups=None, missing: float = 0.0) -> Clustering:
    """Average-linkage agglomerative clustering of ``graph``'s nodes under cannot-links.

    Args:
        graph (SimilarityGraph): the similarities that may join nodes (:func:`knn_graph`).
        threshold (float): least linkage of a merge; ``-inf`` merges as far as the graph,
            the cannot-links and ``min_clusters`` allow.
        cannot_link (array, optional): ``(M, 2)`` node pairs never to share a cluster;
            a merge that would join two clusters holding such a pair is refused.
        min_clusters (int): merging stops at this many clusters (the best merges of the
            last round kept).
        groups (sequence, optional): group of each node (a camera): only pairs of
            different groups count in the linkage; graph edges within a group are left out.
        missing (float): similarity counted for a pair absent from the graph (two
            clusters with no edge between them never merge: keep it below ``threshold``).

    Returns:
        Clustering: labels ``0 .. C-1`` and the linkages of the merges made and refused.

    Examples::

        graph = graph_from_pairs(3, [0, 1], [1, 2], [0.9, 0.8])
        average_linkage(graph, 0.5, cannot_link=[(0, 2)]).labels  # array([0, 0, 1])
    """
    pairs = _check_linkage_inputs(graph, cannot_link, groups, min_clusters)
    n = graph.size
    a, b, weight = graph.rows.astype(np.int64), graph.cols.astype(np.int64), graph.weights
    hist = None
    if groups is not None:
        group_index = np.unique(np.asarray(groups), return_inverse=True)[1]
        keep = group_index[a] != group_index[b]
        a, b, weight = a[keep], b[keep], weight[keep]
        hist = np.zeros((n, group_index.max(initial=0) + 1), np.float32)
        hist[np.arange(n), group_index] = 1
    size = np.ones(n)
    labels = np.arange(n)
    forbidden, _, _ = _relabel(pairs[:, 0], pairs[:, 1], labels, n)
    keys, inverse, keep = _relabel(a, b, labels, n)
    total = np.bincount(inverse, weights=weight[keep], minlength=len(keys))
    count = np.bincount(inverse, minlength=len(keys)).astype(np.float64)
    k, rounds, merged, joined, blocked = n, 0, [], [], []
    while k > min_clusters and len(keys):
        a, b = keys // k, keys % k
        counted = _pairs_counted(size, hist, a, b)
        linkage = (total + (counted - count) * missing) / counted
        is_forbidden = np.isin(keys, forbidden, assume_unique=True)
        best_any = _best_neighbours(a, b, linkage, k)
        mutual_any = _mutual(best_any, a, b)
        refused = mutual_any & is_forbidden & (linkage >= threshold)
        blocked.append(linkage[refused])
        allowed = ~is_forbidden  # a forbidden pair stays forbidden: drop it for good
        keys, a, b, total, count, linkage = (
            x[allowed] for x in (keys, a, b, total, count, linkage))
        best = _best_neighbours(a, b, linkage, k)
        chosen = np.flatnonzero(_mutual(best, a, b) & (linkage >= threshold))
        if not len(chosen):
            break
        chosen = chosen[np.argsort(-linkage[chosen], kind='stable')][:k - min_clusters]
        rounds += 1
        merged.append(linkage[chosen])
        joined.append(_pairs_counted(size, hist, a[chosen], b[chosen]))
        parent = np.arange(k)
        parent[b[chosen]] = a[chosen]
        _, new = np.unique(parent, return_inverse=True)
        k_new = int(new.max()) + 1
        size = np.bincount(new, weights=size, minlength=k_new)
        if hist is not None:
            merged_hist = np.zeros((k_new, hist.shape[1]), hist.dtype)
            np.add.at(merged_hist, new, hist)
            hist = merged_hist
        labels = new[labels]
        forbidden, _, _ = _relabel(forbidden // k, forbidden % k, new, k_new)
        keys, inverse, keep = _relabel(a, b, new, k_new)
        total = np.bincount(inverse, weights=total[keep], minlength=len(keys))
        count = np.bincount(inverse, weights=count[keep], minlength=len(keys))
        k = k_new
    return Clustering(_first_seen_order(labels), _concat(merged), _concat(joined),
                      _concat(blocked), rounds)


def _mutual(best: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Edges ``(a, b)`` that are the best edge of both their ends."""
    edge = np.arange(len(a))
    return (best[a] == edge) & (best[b] == edge)


def _concat(parts: list) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(0)


def _first_seen_order(labels: np.ndarray) -> np.ndarray:
    """Labels renumbered ``0 .. C-1`` in order of each cluster's first node."""
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    rank = np.empty(len(first), np.int64)
    rank[np.argsort(first, kind='stable')] = np.arange(len(first))
    return rank[inverse]

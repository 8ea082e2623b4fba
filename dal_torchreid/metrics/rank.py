"""CMC and mAP under the DAL release's evaluation protocols, next to torchreid's.

torchreid ranks a gallery for each query (:func:`torchreid.metrics.evaluate_rank`),
ignoring gallery tracklets of the query's person seen by the query's camera,
and averages non-interpolated precision (``'step'``). The DAL release evaluates
each data set its own way (:func:`release_evaluation`):

- PRID2011: camera A queries, camera B gallery: torchreid's protocol as is.
- iLIDS-VID: each camera queries the other in turn and the two results are
  averaged (:func:`evaluate_both_directions`).
- MARS: the gallery is EVERY test tracklet, queries included. For each query
  its own tracklet, tracklets of its person in its camera and junk tracklets
  (person -1) are ignored; other queries of its person in other cameras are
  matches. AP is the trapezoidal area under the precision/recall steps
  (:func:`average_precision`, ``'trapezoid'``). torchreid's MARS protocol
  removes the queries from the gallery instead, as most later papers report.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

import torchreid

MAX_RANK = 50
JUNK_PID = -1
AP_METHODS = ('trapezoid', 'step')
AP_METHOD = 'trapezoid'
PROTOCOLS = ('torchreid', 'release')
PROTOCOL = 'torchreid'  # what most later papers report
# what the release's protocol is, per torchreid data set name
RELEASE_EVALUATIONS = {'prid2011': 'one_direction', 'ilidsvid': 'both_directions',
                       'mars': 'all_tracklets'}


def check_ap_method(method: str) -> None:
    """Raises ``ValueError`` unless ``method`` is one of :data:`AP_METHODS`."""
    if method not in AP_METHODS:
        raise ValueError(f'ap_method must be one of {list(AP_METHODS)}, got {method!r}')


def check_protocol(protocol: str) -> None:
    """Raises ``ValueError`` unless ``protocol`` is one of :data:`PROTOCOLS`."""
    if protocol not in PROTOCOLS:
        raise ValueError(f'protocol must be one of {list(PROTOCOLS)}, got {protocol!r}')


def release_evaluation(dataset_name: str) -> str:
    """How the release evaluates a data set: ``'one_direction'``, ``'both_directions'``
    or ``'all_tracklets'`` (see the module docstring)."""
    if dataset_name not in RELEASE_EVALUATIONS:
        raise ValueError(f'dataset_name: the release protocol is defined for '
                         f'{sorted(RELEASE_EVALUATIONS)}, got {dataset_name!r}')
    return RELEASE_EVALUATIONS[dataset_name]


def average_precision(matches: np.ndarray, method: str = AP_METHOD) -> float:
    """AP of one ranked list; ``matches[j]`` is true where rank ``j + 1`` is a correct match.

    ``'step'``: the mean of the precisions at the ranks of the matches
    (torchreid). ``'trapezoid'``: the sum over ranks of
    ``(recall - old_recall) * (old_precision + precision) / 2`` with the
    precision before rank 1 taken as 1 (the release, from the MARS
    evaluation code). Only ranks that hold a match change the recall.
    """
    check_ap_method(method)
    positions = np.flatnonzero(matches)  # 0-based rank of each match
    num_good = len(positions)
    if num_good == 0:
        raise ValueError('matches must hold at least one correct match')
    hits = np.arange(1, num_good + 1)
    precision = hits / (positions + 1)
    if method == 'step':
        return float(precision.mean())
    # precision at the rank before each match: (hits - 1) matches in `positions` ranks
    before = np.where(positions > 0, (hits - 1) / np.maximum(positions, 1), 1.0)
    return float(((before + precision) / 2).sum() / num_good)


def _pad_cmc(cmc: np.ndarray, length: int) -> np.ndarray:
    """A CMC curve extended to ``length`` ranks: flat past the end of a small gallery."""
    return np.concatenate([cmc, np.full(length - len(cmc), cmc[-1], dtype=cmc.dtype)])


def evaluate_both_directions(distmat: np.ndarray, q_pids: np.ndarray, g_pids: np.ndarray,
                             q_camids: np.ndarray, g_camids: np.ndarray,
                             reverse_distmat: np.ndarray | None = None,
                             max_rank: int = MAX_RANK, use_metric_cuhk03: bool = False) -> dict:
    """torchreid's CMC and mAP with the queries ranking the gallery AND the gallery the queries.

    ``distmat`` is (num_query, num_gallery). ``reverse_distmat`` (num_gallery,
    num_query) ranks the queries for each gallery tracklet; it defaults to
    ``distmat.T`` (right for Euclidean and cosine distances; pass the
    re-ranked reverse matrix with re-ranking). Returns ``{'cmc', 'mAP',
    'query_to_gallery', 'gallery_to_query'}``: the averages of the two
    directions and each direction's ``{'cmc', 'mAP'}``. A shorter CMC curve
    (a smaller side under ``max_rank``) is held flat past its end.

    Examples::

        distmat = torchreid.metrics.compute_distance_matrix(qf, gf).numpy()
        result = evaluate_both_directions(distmat, q_pids, g_pids, q_camids, g_camids)
        print(result['cmc'][0], result['gallery_to_query']['cmc'][0])
    """
    distmat = np.asarray(distmat)
    if reverse_distmat is None:
        reverse_distmat = distmat.T
    reverse_distmat = np.asarray(reverse_distmat)
    if reverse_distmat.shape != distmat.shape[::-1]:
        raise ValueError(f'reverse_distmat must be {distmat.shape[::-1]} (gallery x query), '
                         f'got {reverse_distmat.shape}')
    forward = torchreid.metrics.evaluate_rank(
        distmat, q_pids, g_pids, q_camids, g_camids, max_rank=max_rank,
        use_metric_cuhk03=use_metric_cuhk03)
    backward = torchreid.metrics.evaluate_rank(
        reverse_distmat, g_pids, q_pids, g_camids, q_camids, max_rank=max_rank,
        use_metric_cuhk03=use_metric_cuhk03)
    length = max(len(forward[0]), len(backward[0]))
    cmcs = [_pad_cmc(np.asarray(cmc, dtype=np.float32), length) for cmc, _ in (forward, backward)]
    return {
        'cmc': (cmcs[0] + cmcs[1]) / 2,
        'mAP': float((forward[1] + backward[1]) / 2),
        'query_to_gallery': {'cmc': cmcs[0], 'mAP': float(forward[1])},
        'gallery_to_query': {'cmc': cmcs[1], 'mAP': float(backward[1])},
    }


def _release_scores(distmat: np.ndarray, q_pids: np.ndarray, g_pids: np.ndarray,
                    q_camids: np.ndarray, g_camids: np.ndarray,
                    max_rank: int) -> tuple[np.ndarray, dict[str, float]]:
    """The release's CMC curve and mAP by each of :data:`AP_METHODS` (see below)."""
    distmat = np.asarray(distmat)
    q_pids, g_pids = np.asarray(q_pids), np.asarray(g_pids)
    q_camids, g_camids = np.asarray(q_camids), np.asarray(g_camids)
    if distmat.shape != (len(q_pids), len(g_pids)) or len(q_camids) != len(q_pids) \
            or len(g_camids) != len(g_pids):
        raise ValueError(f'distmat must be (num_query, num_gallery) = ({len(q_pids)}, '
                         f'{len(g_pids)}) with camids of the same lengths, got {distmat.shape}, '
                         f'{len(q_camids)} and {len(g_camids)} camids')
    length = min(max_rank, len(g_pids))
    cmcs, aps = [], {method: [] for method in AP_METHODS}
    for i in range(len(q_pids)):
        order = np.argsort(distmat[i], kind='stable')
        pids, camids = g_pids[order], g_camids[order]
        # the query itself, its person in its camera, and junk are ignored
        junk = (pids == JUNK_PID) | ((pids == q_pids[i]) & (camids == q_camids[i]))
        matches = pids[~junk] == q_pids[i]
        if not matches.any():  # a query without a match is skipped, as in torchreid
            continue
        cmcs.append(_pad_cmc((np.cumsum(matches[:length]) > 0).astype(np.float32), length))
        for method in AP_METHODS:
            aps[method].append(average_precision(matches, method))
    if not cmcs:
        raise ValueError('no query has a match in the gallery (same person, other camera)')
    return (np.mean(cmcs, axis=0, dtype=np.float32),
            {method: float(np.mean(values)) for method, values in aps.items()})


def evaluate_release_rank(distmat: np.ndarray, q_pids: np.ndarray, g_pids: np.ndarray,
                          q_camids: np.ndarray, g_camids: np.ndarray,
                          max_rank: int = MAX_RANK, ap_method: str = AP_METHOD
                          ) -> tuple[np.ndarray, float]:
    """``(cmc, mAP)`` of the release's MARS protocol on a gallery that includes the queries.

    Same arguments and result as :func:`torchreid.metrics.evaluate_rank`;
    the gallery is expected to hold every test tracklet (see
    :func:`all_tracklets_gallery`). Ignored for each query: gallery tracklets
    of its person in its camera (its own tracklet among them) and junk
    (person -1). Other tracklets of its person are matches. AP by
    ``ap_method`` (:func:`average_precision`); a query without a match is
    skipped, as in torchreid.
    """
    check_ap_method(ap_method)
    cmc, maps = _release_scores(distmat, q_pids, g_pids, q_camids, g_camids, max_rank)
    return cmc, maps[ap_method]


def all_tracklets_gallery(qf: Tensor, gf: Tensor, q_pids: np.ndarray, g_pids: np.ndarray,
                          q_camids: np.ndarray, g_camids: np.ndarray
                          ) -> tuple[Tensor, np.ndarray, np.ndarray]:
    """``(features, pids, camids)`` of every test tracklet: the queries, then the gallery.

    torchreid's ``Mars`` takes the queries OUT of the test tracklets to form
    its gallery (and drops junk), so the query and gallery lists together are
    the release's gallery.
    """
    return (torch.cat([qf, gf], 0), np.concatenate([np.asarray(q_pids), np.asarray(g_pids)]),
            np.concatenate([np.asarray(q_camids), np.asarray(g_camids)]))


def evaluate_release_protocol(qf: Tensor, gf: Tensor, q_pids: np.ndarray, g_pids: np.ndarray,
                              q_camids: np.ndarray, g_camids: np.ndarray,
                              dist_metric: str = 'euclidean', max_rank: int = MAX_RANK) -> dict:
    """The release's MARS evaluation from torchreid's query and gallery features.

    Ranks every test tracklet (:func:`all_tracklets_gallery`) for each query
    by torchreid's ``dist_metric`` and returns ``{'cmc', 'mAP', 'mAP_step',
    'distmat'}``: the CMC curve, the trapezoidal mAP the release reports, the
    non-interpolated mAP (torchreid's AP formula) of the same rankings, and the
    (num_query, num_query + num_gallery) distance matrix.

    Examples::

        result = evaluate_release_protocol(qf, gf, q_pids, g_pids, q_camids, g_camids)
        print(f"Rank-1 {result['cmc'][0]:.1%} mAP {result['mAP']:.1%}")
    """
    features, pids, camids = all_tracklets_gallery(qf, gf, q_pids, g_pids, q_camids, g_camids)
    distmat = torchreid.metrics.compute_distance_matrix(qf, features, dist_metric).numpy()
    cmc, maps = _release_scores(distmat, q_pids, pids, q_camids, camids, max_rank)
    return {'cmc': cmc, 'mAP': maps['trapezoid'], 'mAP_step': maps['step'], 'distmat': distmat}

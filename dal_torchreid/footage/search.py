"""Find one person across all cameras: every tracklet ranked by similarity to a query.

:func:`search` answers "where else was this person?" over a gallery
(:class:`~dal_torchreid.footage.gallery.Gallery`) or over tracklet features with their
:class:`~dal_torchreid.footage.tracklet_table.TrackletTable`. The query is a tracklet
of the gallery, ``(camera, track)``, or feature vectors (of crops of a person given as
images: their mean, L2-normalised, as the ``'avg'`` pooling makes a tracklet's).
Tracklets of other cameras come first, then the query's own camera; the query's own
tracklet is left out. The cost is one matrix-vector product over the float32 features
and a partial sort (``np.argpartition``): memory grows linearly with the gallery, and
no tracklet is compared with another.

With camera links (:class:`CameraLinks`, learned by the association from the footage)
each hit of the query's session also says whether the person could have walked from
one camera to the other in the time between the two tracklets, and its score adds the
links' log-likelihood ratio to the cosine similarity.
"""
from __future__ import annotations

import gc
import math
from dataclasses import dataclass
from typing import Callable, Protocol, Sequence, Union, runtime_checkable

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

from dal_torchreid.footage.gallery import Gallery
from dal_torchreid.footage.tracklet_table import TrackletTable

TRANSIT_WEIGHT = 0.1  # score = cosine similarity + TRANSIT_WEIGHT x log-likelihood ratio
REACHABLE_LOG_LIKELIHOOD = 0.0  # reachable: a gap at least as likely for one person as for two


@runtime_checkable
class CameraLinks(Protocol):
    """A camera-link model: how likely a person walks from one camera to another in a time.

    ``transit_log_likelihood(from_camera, to_camera, gap_frames)`` is the natural log of how
    much likelier the gap is for one person than for two unrelated people (a log-likelihood
    ratio: 0 when the links say nothing, ``-inf`` when the walk is impossible). ``gap_frames``
    runs from the last frame of the tracklet that starts first (in ``from_camera``) to the
    first frame of the other (in ``to_camera``): zero or negative when the two overlap in
    time (cameras whose views overlap). ``from_camera`` may equal ``to_camera`` (a person
    who comes back). A plain function of the same three arguments is accepted wherever a
    ``CameraLinks`` is.

    Examples::

        class Corridor:
            def transit_log_likelihood(self, from_camera, to_camera, gap_frames):
                return 1.5 if 100 <= gap_frames <= 300 else -2.0
        hits = search(gallery, ('cam1', 7), camera_links=Corridor())
    """

    def transit_log_likelihood(self, from_camera: str, to_camera: str, gap_frames: int) -> float:
        ...


TransitModel = Union[CameraLinks, Callable[[str, str, int], float]]


@dataclass(slots=True)
class SearchHit:
    """One tracklet as :func:`search` ranked it.

    Args:
        rank (int): 1 for the best.
        index (int): its row in the searched features.
        camera, track, first, last, session: which tracklet, and its frames.
        similarity (float): cosine similarity to the query.
        global_id (int or None): its global id, where one exists.
        other_camera (bool): whether its camera differs from the query's (always True for
            a query by features).
        gap_frames (int or None): frames from the end of the earlier of query and hit to
            the start of the later (<= 0: they overlap in time); None without a time to
            compare (a query by features, another session).
        direction (str): ``'after'`` (the hit starts after the query ends), ``'before'``,
            ``'overlap'``, or ``''`` where ``gap_frames`` is None.
        transit_log_likelihood (float or None): the camera links' log-likelihood ratio of
            that walk; None without camera links or a time to compare.
        reachable (bool or None): whether that ratio is at least the ``reachable_log_likelihood``
            of the search (by default: at least as likely for one person as for two).
        score (float): what ranks the hits: the similarity, plus ``transit_weight`` times
            the log-likelihood ratio where there is one.
    """

    rank: int
    index: int
    camera: str
    track: int
    first: int
    last: int
    session: int
    similarity: float
    global_id: int | None
    other_camera: bool
    gap_frames: int | None
    direction: str
    transit_log_likelihood: float | None
    reachable: bool | None
    score: float


@dataclass
class _Query:
    feature: Tensor  # (D,), L2-normalised
    row: int | None = None  # its row in the searched features
    camera: str | None = None
    first: int = 0
    last: int = 0
    session: int = 0


def query_feature(features) -> Tensor:
    """The L2-normalised mean of one ``(D,)`` or several ``(K, D)`` query feature vectors
    (a tensor, an array, or a sequence of vectors)."""
    if isinstance(features, (list, tuple)):
        features = torch.stack([torch.as_tensor(np.asarray(f)).reshape(-1) for f in features])
    features = torch.as_tensor(np.asarray(features) if not isinstance(features, Tensor)
                               else features).detach().float().cpu()
    if features.ndim == 1:
        features = features[None]
    if features.ndim != 2 or not len(features):
        raise ValueError(f'query features must be (D,) or (K, D), got shape '
                         f'{tuple(features.shape)}')
    if not torch.isfinite(features).all():
        raise ValueError('query features hold NaN or infinite values')
    mean = features.mean(0)
    if float(mean.norm()) == 0:
        raise ValueError('query features average to zero: no direction to search in')
    return F.normalize(mean, dim=0)


def _resolve_query(query, features: Tensor, table: TrackletTable) -> _Query:
    """The query's feature and, for a tracklet of the gallery, its row, camera and frames."""
    if isinstance(query, tuple) and any(isinstance(q, str) for q in query):
        if len(query) == 2:
            row = table.index_of(query[0], query[1])
        elif len(query) == 3:
            row = table.index_of(query[1], query[2], session=int(query[0]))
        else:
            raise ValueError(f'query {query!r}: give (camera, track) or (session, camera, '
                             'track)')
        if not torch.isfinite(features[row]).all():
            raise ValueError(f'the features of query {table.cameras[row]}:{table.tracks[row]} '
                             'hold NaN or infinite values')
        return _Query(F.normalize(features[row].float(), dim=0), row, table.cameras[row],
                      table.first[row], table.last[row], table.sessions[row])
    feature = query_feature(query)
    if len(feature) != features.shape[1]:
        raise ValueError(f'query feature has {len(feature)} dimensions, the searched '
                         f'features {features.shape[1]}')
    return _Query(feature)


def _link_function(camera_links: TransitModel) -> Callable[[str, str, int], float]:
    method = getattr(camera_links, 'transit_log_likelihood', None)
    if callable(method):
        return method
    if callable(camera_links):
        return camera_links
    raise TypeError(f'camera_links must have transit_log_likelihood(from_camera, to_camera, '
                    f'gap_frames) or be such a function, got {type(camera_links).__name__}')


def _transit_log_likelihoods(camera_links: TransitModel, query: _Query, table: TrackletTable,
                            rows: np.ndarray, gaps: np.ndarray) -> np.ndarray:
    """The camera links' log-likelihood ratio of the walk between the query and each of
    ``rows`` (gaps as :class:`SearchHit` has them). Two tracks of one camera that overlap
    in time are two people (``-inf``, the links are not asked)."""
    link = _link_function(camera_links)
    out = np.empty(len(rows))
    first = np.asarray(table.first)[rows]
    for n, (row, gap, start) in enumerate(zip(rows.tolist(), gaps.tolist(), first.tolist())):
        camera = table.cameras[row]
        if camera == query.camera and gap <= 0:
            out[n] = -math.inf
            continue
        pair = (query.camera, camera) if query.first <= start else (camera, query.camera)
        value = link(pair[0], pair[1], int(gap))
        try:
            value = float(value)
        except (TypeError, ValueError):
            pass
        if not isinstance(value, float) or math.isnan(value) or value == math.inf:
            raise ValueError(f'camera links: transit_log_likelihood({pair[0]!r}, {pair[1]!r}, '
                             f'{int(gap)}) returned {value!r}; a log-likelihood ratio is a real '
                             'number or -inf')
        out[n] = value
    return out


def _best(rows: np.ndarray, score: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` rows of highest score, best first, ties in row order."""
    if k < len(rows):
        kth = np.partition(-score[rows], k - 1)[k - 1]
        rows = rows[-score[rows] <= kth]  # every row tied with the k-th stays a candidate
    return rows[np.lexsort((rows, -score[rows]))][:k]


def _searched(gallery_or_features, tracklets, global_ids) -> tuple[Tensor, TrackletTable, bool]:
    """The features, their table, and whether the features are known to be normalised."""
    if isinstance(gallery_or_features, Gallery):
        return gallery_or_features.features, gallery_or_features.table, True
    features = gallery_or_features
    if not isinstance(features, Tensor):
        features = torch.from_numpy(np.ascontiguousarray(features))
    if features.ndim != 2 or not features.is_floating_point():
        raise ValueError(f'features must be a 2-D float tensor, got {features.dtype} of shape '
                         f'{tuple(features.shape)}')
    if tracklets is None:
        raise ValueError('searching features needs their tracklets: a TrackletTable or the '
                         'FootageTracklets they were extracted from')
    table = tracklets if isinstance(tracklets, TrackletTable) else \
        TrackletTable.from_tracklets(tracklets, global_ids)
    if len(table) != len(features):
        raise ValueError(f'{len(features)} features for {len(table)} tracklets')
    return features.detach().float().cpu(), table, False


def search(gallery_or_features: Gallery | Tensor | np.ndarray, query,
           tracklets: TrackletTable | Sequence | None = None, global_ids: Sequence | None = None,
           top_k: int | None = None, camera_links: TransitModel | None = None,
           transit_weight: float = TRANSIT_WEIGHT,
           reachable_log_likelihood: float = REACHABLE_LOG_LIKELIHOOD) -> list[SearchHit]:
    """Every tracklet ranked by similarity to ``query``: other cameras first, the query left out.

    Args:
        gallery_or_features (Gallery, Tensor or np.ndarray): a gallery, or ``(N, D)``
            tracklet features (cosine similarity: they need not be normalised).
        query: a tracklet of the gallery, ``(camera, track)`` (or ``(session, camera,
            track)`` when several sessions hold one of that name); or query feature vectors,
            ``(D,)`` or ``(K, D)`` (crops of a person: their mean, L2-normalised).
        tracklets (TrackletTable or sequence, optional): with features, who each row is:
            a :class:`~dal_torchreid.footage.tracklet_table.TrackletTable` or the
            :class:`~dal_torchreid.footage.FootageTracklet` s of the rows.
        global_ids (sequence, optional): with a sequence of tracklets, their global ids.
        top_k (int, optional): hits returned; default every tracklet but the query.
        camera_links (CameraLinks, optional): a camera-link model (see :class:`CameraLinks`);
            used for hits of the query's session when the query is a tracklet. Without it,
            appearance only.
        transit_weight (float): weight of the links' log-likelihood ratio in the score.
        reachable_log_likelihood (float): least ratio for :attr:`SearchHit.reachable`.

    Returns:
        list: :class:`SearchHit` s, best first: tracklets of other cameras by decreasing
        score, then those of the query's camera; equal scores in row order.

    Examples::

        from dal_torchreid.footage.search import search
        hits = search(load_gallery('out/shop'), ('cam1', 7), top_k=20)
        hits = search(features, crop_features, tracklets=read_footage_tracklets('reid-data/shop'))
        for hit in hits[:5]:
            print(hit.rank, hit.camera, hit.track, hit.first, hit.last, f'{hit.similarity:.2f}')
    """
    features, table, normalised = _searched(gallery_or_features, tracklets, global_ids)
    if top_k is not None and top_k < 1:
        raise ValueError(f'top_k must be >= 1, got {top_k}')
    q = _resolve_query(query, features, table)
    similarity = features @ q.feature
    if not normalised:
        similarity /= torch.linalg.vector_norm(features, dim=1).clamp_min(1e-12)
    similarity = similarity.numpy().astype(np.float64)
    if np.isnan(similarity).any():
        row = int(np.flatnonzero(np.isnan(similarity))[0])
        raise ValueError(f'the features of tracklet {table.cameras[row]}:{table.tracks[row]} '
                         f'(row {row}) hold NaN or infinite values')
    n = len(table)
    keep = np.ones(n, dtype=bool)
    other = np.ones(n, dtype=bool)
    gaps = np.zeros(n, dtype=np.int64)
    timed = np.zeros(n, dtype=bool)  # a gap to the query is known
    log_ratio = np.full(n, np.nan)
    if q.row is not None:
        keep[q.row] = False
        other = np.fromiter((c != q.camera for c in table.cameras), dtype=bool, count=n)
        first, last = np.asarray(table.first), np.asarray(table.last)
        timed = (np.asarray(table.sessions) == q.session) & keep
        gaps = np.where(q.first <= first, first - q.last, q.first - last)
        if camera_links is not None:
            rows = np.flatnonzero(timed)
            log_ratio[rows] = _transit_log_likelihoods(camera_links, q, table, rows, gaps[rows])
    linked = ~np.isnan(log_ratio)
    score = similarity.copy()
    score[linked] = np.where(log_ratio[linked] == -np.inf, -np.inf,
                             similarity[linked] + transit_weight * log_ratio[linked])
    k = int(keep.sum()) if top_k is None else min(top_k, int(keep.sum()))
    chosen = _best(np.flatnonzero(keep & other), score, k)
    if len(chosen) < k:
        chosen = np.concatenate([chosen, _best(np.flatnonzero(keep & ~other), score,
                                               k - len(chosen))])
    return _hits(chosen, q, table, similarity, score, other, np.where(timed, gaps, 0),
                 timed, log_ratio, reachable_log_likelihood)


def _hits(rows: np.ndarray, q: _Query, table: TrackletTable, similarity: np.ndarray,
          score: np.ndarray, other: np.ndarray, gaps: np.ndarray, timed: np.ndarray,
          log_ratio: np.ndarray, reachable_log_likelihood: float) -> list[SearchHit]:
    """The :class:`SearchHit` s of ``rows``, in order (columns taken out as lists first: a
    ranking of every tracklet builds 100k hits)."""
    columns = zip(rows.tolist(), similarity[rows].tolist(), score[rows].tolist(),
                  other[rows].tolist(), gaps[rows].tolist(), timed[rows].tolist(),
                  log_ratio[rows].tolist())
    hits = []
    collecting = gc.isenabled()
    gc.disable()  # 100k new objects would run the cyclic collector over the whole heap often
    try:
        _append_hits(hits, columns, q, table, reachable_log_likelihood)
    finally:
        if collecting:
            gc.enable()
    return hits


def _append_hits(hits: list, columns, q: _Query, table: TrackletTable,
                 reachable_log_likelihood: float) -> None:
    for rank, (row, sim, total, in_other, gap, has_gap, ratio) in enumerate(columns, 1):
        start = table.first[row]
        direction = '' if not has_gap else 'overlap' if gap <= 0 else \
            'after' if q.first <= start else 'before'
        linked = ratio == ratio  # NaN: no ratio
        hits.append(SearchHit(rank, row, table.cameras[row], table.tracks[row], start,
                              table.last[row], table.sessions[row], sim, table.global_ids[row],
                              in_other, gap if has_gap else None, direction,
                              ratio if linked else None,
                              ratio >= reachable_log_likelihood if linked else None, total))

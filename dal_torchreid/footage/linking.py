"""Global ids of footage tracklets: appearance, time and cannot-links in one constrained clustering.

:func:`link_tracklets` goes from the tracklets (as arrays: :class:`TrackletTimes`) and
their L2-normalised features to one global id per tracklet, with a record of every
choice it made without labels (the threshold, whether camera links were used):

1. a k-nearest-neighbour graph of tracklets of different cameras
   (:func:`~dal_torchreid.cluster.agglomerative.knn_graph`);
2. its cosine similarities as z-scores against random pairs of the same two cameras
   (:func:`~dal_torchreid.footage.threshold.standardise`);
3. camera links (``camera_links`` ``auto|on|off``,
   :mod:`~dal_torchreid.footage.camera_links`): learned from mutual best matches,
   kept by ``auto`` only when sharper than chance; their log-likelihood ratio is
   added to the z-score;
4. the merge threshold: ``threshold`` when set, else found from the footage
   (:func:`~dal_torchreid.footage.threshold.best_match_threshold` of the appearance
   z-scores of each tracklet's best match in every camera: the links add
   log-likelihood ratios that are 0 where time says nothing, so such a pair merges
   exactly where appearance alone would have merged it);
5. average-linkage clustering over the graph with the same-camera time-overlap
   cannot-links at every merge and at least as many people as one camera sees at once
   (:func:`~dal_torchreid.cluster.agglomerative.average_linkage`);
6. with camera links, ``rounds`` times: the links learned again from the tracklets
   that follow one another in time within one global id (a person's walk from view
   to view, fragments and returns included, where mutual best matches also pair
   look-alikes), the pairs scored again, steps 4-5 again.

``method='dbscan'`` runs the earlier association instead
(:func:`~dal_torchreid.footage.global_ids.global_ids`) for comparison.

Examples::

    settings = AssociationSettings()  # agglomerative, threshold and links found
    result = link_tracklets(times, features, settings)
    result.ids, result.record['threshold'], result.record['camera_links']['used']

    scored = score_pairs(times, features, settings)  # or: score once, cut at several
    cluster_scores(times, scored, dataclasses.replace(settings, threshold=2.0))  # thresholds
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np
import torch
from torch.nn import functional as F

from dal_torchreid.cluster.agglomerative import (
    SimilarityGraph, average_linkage, feature_tensor, knn_graph
)
from dal_torchreid.footage.camera_links import (
    FLOOR, RESOLUTION, SCHEMA, CameraLinks, Chance, TrackletTimes, best_per_camera, chance_model,
    chance_pairs,
    check_floor, check_mode, estimate_camera_links, image_sides, links_sharper_than_chance,
    mutual_best_matches
)
from dal_torchreid.cluster import ClusteringSettings
from dal_torchreid.footage.global_ids import (
    EPS, K1, K2, MIN_SAMPLES, TOP_K, check_top_k, global_ids
)
from dal_torchreid.metrics import POOLING_METHOD, check_pooling_method
from dal_torchreid.footage.constraints import most_at_once, time_overlap_pairs
from dal_torchreid.footage.threshold import (
    THRESHOLD_RULES, best_match_threshold, pair_background, standardise
)

METHODS = ('agglomerative', 'dbscan')
LEAST = {'k': 1, 'k_within': 0, 'rounds': 0, 'min_people': 1, 'batch_size': 1}
"""The least value of each count setting."""
AUTO = float('nan')
"""``AssociationSettings.threshold`` that asks for the threshold found from the footage."""


@dataclass(frozen=True)
class AssociationSettings:
    """How ``dal-associate`` gives tracklets global ids: every ``associate.*`` key in one
    object (checked when made).

    Args:
        method (str): ``'agglomerative'`` (this module) or ``'dbscan'`` (the earlier one).
        threshold (float): least average linkage of a merge, in appearance z-score
            units plus the links' log-likelihood ratio; :data:`AUTO` (nan, the default)
            finds it from the footage.
        threshold_rule (str): how the threshold is found from the footage
            (:func:`~dal_torchreid.footage.threshold.best_match_threshold`).
        camera_links (str): ``'auto'`` (used when sharper than chance), ``'on'``, ``'off'``.
        k (int): neighbours in other cameras per tracklet in the graph.
        k_within (int): neighbours in its own camera per tracklet (0: pairs of one
            camera are neither compared nor counted in the linkage).
        rounds (int): re-estimations of the camera links from the global ids (step 6).
        floor (float): least likelihood ratio of a gap or side, as a fraction of chance.
        gap_resolution (float): gap histogram bin width in log-gap units (about the
            relative resolution of a transit time).
        link_weight (float): weight of the links' log-likelihood ratio beside the z-score.
        min_people (int): least number of global ids (at least as many as one camera
            holds tracks at once, whatever is set).
        seed (int): seed of the random pairs (background, chance, the auto test).
        k1, k2, eps, min_samples: ``method='dbscan'``'s settings
            (:func:`~dal_torchreid.footage.global_ids.global_ids`).
        top_k (int): best matches in other cameras listed per tracklet (``matches.csv``).
        pooling_method (str): frames to a tracklet feature: ``'avg'``, ``'max'``, ``'release'``.
        batch_size (int): frames per model call when extracting features.

    Examples::

        AssociationSettings(threshold=2.5, camera_links='off')
        AssociationSettings.from_config(cfg)  # associate.*, video.pooling_method
    """

    method: str = 'agglomerative'
    threshold: float = AUTO
    threshold_rule: str = 'stranger'
    camera_links: str = 'auto'
    k: int = 20
    k_within: int = 5
    rounds: int = 3
    floor: float = FLOOR
    gap_resolution: float = RESOLUTION
    link_weight: float = 1.0
    min_people: int = 1
    seed: int = 0
    k1: int = K1
    k2: int = K2
    eps: float = EPS
    min_samples: int = MIN_SAMPLES
    top_k: int = TOP_K
    pooling_method: str = POOLING_METHOD
    batch_size: int = 64

    def __post_init__(self):
        check_method(self.method)
        check_mode(self.camera_links)
        if self.threshold_rule not in THRESHOLD_RULES:
            raise ValueError(f'associate.threshold_rule must be one of '
                             f'{", ".join(THRESHOLD_RULES)}, got {self.threshold_rule!r}')
        check_floor(self.floor)
        for name in LEAST:
            check_least(name)(getattr(self, name))
        check_threshold(self.threshold)
        if not self.gap_resolution > 0:
            raise ValueError(f'associate.gap_resolution must be > 0, got {self.gap_resolution}')
        check_link_weight(self.link_weight)
        ClusteringSettings(k1=self.k1, k2=self.k2, eps=self.eps, min_samples=self.min_samples)
        check_top_k(self.top_k)
        check_pooling_method(self.pooling_method)

    @property
    def auto_threshold(self) -> bool:
        return math.isnan(self.threshold)

    @classmethod
    def from_config(cls, cfg) -> 'AssociationSettings':
        """The settings of a config: ``associate.*``, ``video.pooling_method`` and
        ``test.frame_batch_size`` (at least 1)."""
        a = cfg.associate
        return cls(method=a.method, threshold=threshold_setting(a.threshold),
                   camera_links=a.camera_links,
                   k=a.k, k_within=a.k_within, rounds=a.rounds, link_weight=a.link_weight,
                   min_people=a.min_people, k1=a.k1, k2=a.k2, eps=a.eps,
                   min_samples=a.min_samples, top_k=a.top_k,
                   pooling_method=cfg.video.pooling_method,
                   batch_size=max(cfg.test.frame_batch_size, 1))


def check_least(name: str) -> Callable[[int], None]:
    """The check of the count setting ``name`` of :data:`LEAST` (``associate.<name>``)."""
    low = LEAST[name]

    def check(value: int) -> None:
        if value < low:
            raise ValueError(f'associate.{name} must be >= {low}, got {value}')
    return check


def check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f'associate.method must be one of {", ".join(METHODS)}, got {method!r}')


def check_threshold(threshold: float) -> None:
    if math.isinf(threshold):
        raise ValueError(f'associate.threshold must be finite (nan: found from the footage), '
                         f'got {threshold}')


def threshold_setting(value) -> float:
    """``associate.threshold`` as the settings take it: ``auto`` is :data:`AUTO` (found from
    the footage), else the number. ``ValueError`` naming the key for anything else."""
    if isinstance(value, str) and value.strip().lower() in ('auto', 'nan'):
        return AUTO
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f'associate.threshold must be auto or a number, got {value!r}') from None
    check_threshold(number)
    return number


def check_link_weight(weight: float) -> None:
    if not weight >= 0:
        raise ValueError(f'associate.link_weight must be >= 0, got {weight}')


@dataclass
class Linking:
    """The outcome of :func:`link_tracklets`.

    Args:
        ids (np.ndarray): global id of each tracklet, ``0 .. P-1``.
        record (dict): what was chosen and how (JSON-ready): the threshold and how it was
            found, the camera links' decision, the clustering's counts.
        links (CameraLinks, optional): the camera links used (None when not used).
    """

    ids: np.ndarray
    record: dict
    links: CameraLinks | None = None


def tracklet_times(cameras, first, last, entry_x, exit_x) -> TrackletTimes:
    """:class:`TrackletTimes` from per-tracklet arrays: camera index, first and last
    frame, and the x centre of its first and last box over the frame width (0 .. 1)."""
    return TrackletTimes(np.asarray(cameras, np.int64), np.asarray(first, np.int64),
                         np.asarray(last, np.int64), image_sides(exit_x), image_sides(entry_x))


def footage_times(tracklets, widths: dict | None = None) -> TrackletTimes:
    """:class:`TrackletTimes` of :class:`~dal_torchreid.footage.FootageTracklet` s: the
    side each enters and leaves by from the centre of its first and last box over its
    camera's frame width (``widths[camera]``; where unknown, the right edge of the
    camera's widest-reaching box stands for it)."""
    widths = dict(widths or {})
    for t in tracklets:
        if not widths.get(t.camera):
            widths[t.camera] = max(
                (max(b[0] + b[2] for b in u.boxes) for u in tracklets if u.camera == t.camera),
                default=1.0) or 1.0
    centre = [((t.boxes[0][0] + t.boxes[0][2] / 2) / widths[t.camera],
               (t.boxes[-1][0] + t.boxes[-1][2] / 2) / widths[t.camera]) for t in tracklets]
    return tracklet_times([t.camid for t in tracklets], [t.first for t in tracklets],
                          [t.last for t in tracklets], [c[0] for c in centre],
                          [c[1] for c in centre])


def _dbscan(times: TrackletTimes, features, settings: AssociationSettings) -> Linking:
    pairs = time_overlap_pairs(times.cameras, times.first, times.last)
    s = settings
    ids = global_ids(features, times.cameras, set(map(tuple, pairs.tolist())), s.k1, s.k2,
                     s.eps, s.min_samples)
    return Linking(ids, {'method': 'dbscan', 'settings': _settings_record(s),
                         'cannot_link_pairs': int(len(pairs)),
                         'ids': int(len(np.unique(ids)))})


@dataclass
class PairScores:
    """The scored graph :func:`score_pairs` builds, which :func:`cluster_scores` cuts.

    Args:
        graph (SimilarityGraph): candidate pairs with their fused scores (appearance
            z-score plus the camera links' log-likelihood ratio when used).
        appearance (np.ndarray): the appearance z-score of each pair of ``graph``.
        links (CameraLinks, optional): the camera links used (None when not used).
        chance (Chance, optional): what chance looks like (None without links).
        record (dict): how the links were decided, JSON-ready.
    """

    graph: SimilarityGraph
    appearance: np.ndarray
    links: CameraLinks | None
    chance: Chance | None
    record: dict

    def with_links(self, times: TrackletTimes, links: CameraLinks, weight: float) -> 'PairScores':
        """The same pairs scored with other camera links."""
        g = self.graph
        fused = self.appearance + weight * links.log_ratio(times, g.rows, g.cols)
        return PairScores(SimilarityGraph(g.size, g.rows, g.cols, fused), self.appearance, links,
                          self.chance, self.record)


def _features(times: TrackletTimes, features) -> torch.Tensor:
    features = F.normalize(feature_tensor(features), dim=1)
    if features.size(0) != len(times.cameras):
        raise ValueError(f'{features.size(0)} features for {len(times.cameras)} tracklets')
    return features


def score_pairs(times: TrackletTimes, features, settings: AssociationSettings) -> PairScores:
    """Steps 1-3 of the module: the graph, its z-scores and the camera links fused in."""
    features = _features(times, features)
    cameras = np.asarray(times.cameras, np.int64)
    graph = knn_graph(features, settings.k, groups=cameras, k_within=settings.k_within)
    rows, cols = graph.rows, graph.cols
    pairs = chance_pairs(cameras, seed=settings.seed, same_camera=settings.k_within > 0)
    mean, std = pair_background(features, cameras, pairs)
    appearance = standardise(graph.weights, cameras[rows], cameras[cols], mean, std)
    chance = None if settings.camera_links == 'off' else \
        chance_model(times, pairs, settings.gap_resolution, settings.seed)
    links, record = _camera_links(times, rows, cols, appearance, chance, settings)
    scored = PairScores(SimilarityGraph(graph.size, rows, cols, appearance), appearance, None,
                        chance, {'camera_links': record, 'graph_edges': int(graph.num_edges)})
    return scored if links is None else scored.with_links(times, links, settings.link_weight)


def cluster_scores(times: TrackletTimes, scored: PairScores, settings: AssociationSettings
                   ) -> Linking:
    """Steps 4-5 of the module: the threshold (set, or found) and the clustering."""
    cameras = np.asarray(times.cameras, np.int64)
    graph, n = scored.graph, scored.graph.size
    if not settings.auto_threshold:
        threshold, how = float(settings.threshold), {'method': 'set (associate.threshold)'}
    elif graph.num_edges >= 4:
        # from appearance alone: the links add log-likelihood ratios that are 0 where
        # time says nothing, so such a pair merges exactly where appearance alone would
        threshold, how = best_match_threshold(
            best_per_camera(graph.rows, graph.cols, scored.appearance, cameras)[2],
            settings.threshold_rule, settings.seed)
        how = dict(how, scores='appearance z-scores of the best matches')
    else:
        threshold, how = math.inf, {'method': 'fewer than 4 candidate pairs: nothing merged'}
    cannot_link = time_overlap_pairs(cameras, times.first, times.last)
    min_people = max(settings.min_people, most_at_once(cameras, times.first, times.last))
    clustering = average_linkage(graph, threshold, cannot_link, min_clusters=min(min_people, n),
                                 groups=None if settings.k_within > 0 else cameras,
                                 missing=_missing(graph.weights))
    record = {
        'method': 'agglomerative', 'settings': _settings_record(settings),
        'threshold': round(threshold, 6) if math.isfinite(threshold) else None,
        'threshold_found': how, **scored.record, 'cannot_link_pairs': int(len(cannot_link)),
        'min_people': int(min_people), 'merges': int(len(clustering.merge_linkage)),
        'merges_refused_by_cannot_links': int(len(clustering.blocked_linkage)),
        'rounds': clustering.rounds, 'ids': clustering.num_clusters}
    return Linking(clustering.labels, record, scored.links)


def link_tracklets(times: TrackletTimes, features, settings: AssociationSettings | None = None
                   ) -> Linking:
    """One global id per tracklet (see the module).

    Args:
        times (TrackletTimes): camera, frames and sides of each tracklet.
        features (Tensor or np.ndarray): ``(N, D)`` tracklet features (L2-normalised here).
        settings (AssociationSettings, optional): the defaults otherwise.

    Examples::

        times = tracklet_times(cameras, first, last, entry_x, exit_x)
        result = link_tracklets(times, features)
    """
    settings = settings or AssociationSettings()
    if not len(times.cameras):
        raise ValueError('no tracklets to associate')
    if settings.method == 'dbscan':
        return _dbscan(times, _features(times, features), settings)
    return link_scored(times, score_pairs(times, features, settings), settings)


def link_scored(times: TrackletTimes, scored: PairScores, settings: AssociationSettings
                ) -> Linking:
    """Steps 4-6 of the module on pairs scored by :func:`score_pairs`."""
    result = cluster_scores(times, scored, settings)
    for _ in range(settings.rounds if scored.links is not None else 0):
        links = estimate_camera_links(times, consecutive_pairs(times, result.ids),
                                      settings.floor, scored.chance)
        scored = scored.with_links(times, links, settings.link_weight)
        result = cluster_scores(times, scored, settings)
    return result


def how_ids_were_found(record: dict) -> str:
    """One line from :func:`link_tracklets`' ``record``: the method, the threshold and how
    it was found, whether the camera links were used and why (printed by
    ``dal-associate``, shown in ``report.html``)."""
    if record.get('method') != 'agglomerative':
        return 'global ids by camera-aware DBSCAN (associate.method dbscan)'
    found = record.get('threshold_found') or {}
    links = record.get('camera_links') or {}
    threshold = record.get('threshold')
    said = 'nothing merged' if threshold is None else f'merge threshold {threshold:.3f}'
    return (f'global ids by constrained agglomerative clustering: {said} '
            f'({found.get("method", "")}); camera links '
            f'{"used" if links.get("used") else "not used"} ({links.get("reason", "")})')


def camera_links_json(result: Linking, cameras: list[str]) -> dict:
    """What ``OUT/camera_links.json`` holds for ``result`` (cameras named by index):
    the links (:meth:`~dal_torchreid.footage.camera_links.CameraLinks.to_dict`) after
    the record of the decision; when none were used, the record and no links."""
    record = result.record.get('camera_links', {'used': False, 'reason': result.record['method']})
    if result.links is None:
        return {'schema': SCHEMA, **record, 'cameras': list(cameras), 'links': []}
    return result.links.to_dict(list(cameras), **record)


def consecutive_pairs(times: TrackletTimes, ids) -> np.ndarray:
    """``(M, 2)`` pairs of tracklets that follow one another in time (by first frame)
    within one global id: the steps of each person's walk."""
    ids = np.asarray(ids)
    order = np.lexsort((np.arange(len(ids)), times.first, ids))
    same = ids[order][1:] == ids[order][:-1]
    return np.stack([order[:-1][same], order[1:][same]], 1)


def _missing(scores: np.ndarray) -> float:
    """The score a pair outside the graph counts as: below the least of the graph's
    (which are each tracklet's nearest neighbours), so it never merges alone."""
    return float(np.min(scores)) if len(scores) else 0.0


def _camera_links(times: TrackletTimes, rows, cols, appearance, chance: Chance | None,
                  settings: AssociationSettings) -> tuple[CameraLinks | None, dict]:
    """The camera links learned from the mutual best matches of appearance (None: not
    used) and the record of the decision."""
    record = {'mode': settings.camera_links}
    if settings.camera_links == 'off':
        return None, dict(record, used=False, reason='camera_links off')
    possible = _possible(times, rows, cols)
    matches = mutual_best_matches(rows[possible], cols[possible], appearance[possible],
                                  times.cameras, settings.k_within > 0)
    record['matches'] = int(len(matches))
    if settings.camera_links == 'auto':
        test = links_sharper_than_chance(times, matches, settings.floor, chance,
                                         seed=settings.seed)
        record['test'] = test
        if not test['sharper']:
            return None, dict(record, used=False,
                              reason='the mutual best matches\' transit times are no sharper '
                                     'than chance')
    reason = 'camera_links on' if settings.camera_links == 'on' else \
        'the mutual best matches\' transit times are sharper than chance'
    return (estimate_camera_links(times, matches, settings.floor, chance),
            dict(record, used=True, reason=reason, rounds=settings.rounds))


def _possible(times: TrackletTimes, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Edges that may be one person: all but pairs of one camera that overlap in time."""
    _, _, gap = times.ordered(rows, cols)
    return (times.cameras[rows] != times.cameras[cols]) | (gap > 0)


def _settings_record(settings: AssociationSettings) -> dict:
    out = asdict(settings)
    out['threshold'] = None if settings.auto_threshold else settings.threshold
    return out

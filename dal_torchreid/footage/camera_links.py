"""Camera links learned from the footage itself: transit times and image sides, no labels.

When people walk from camera to camera, the time from leaving one view to entering
the next, and the sides of the images they leave and enter by, tell as much as
their clothes (st-ReID, Wang et al. AAAI 2019, builds such a model from identity
labels; TFusion, CVPR 2018, from pseudo-labels). Here it comes from associations
taken as confident, without labels or calibration:

* :func:`mutual_best_matches`: pairs of tracklets each the other's best match in the
  other's camera (the confident associations of a first round);
* :func:`chance_model`: what chance looks like: the gaps and sides of random pairs
  of tracklets per ordered camera pair, on gap bins spaced by :func:`log_gap` (a
  bin is about the same fraction of a transit of seconds and of one of hours);
* :func:`estimate_camera_links`: per ordered camera pair ``a -> b`` the distribution
  of the gap (frames from the last frame in ``a`` to the first in ``b``, negative when
  the two overlap in time) among the matches, a histogram smoothed by a Gaussian
  kernel (Silverman's bandwidth), and of ``(exit side in a, entry side in b)``; a few
  rounds of EM weigh each match by how much more likely than chance the other
  matches make it, so that wrong matches fade; shrunk towards chance where a pair
  has few matches. A pair of one camera (``a -> a``) learns fragments and returns;
* :meth:`CameraLinks.log_ratio`: the log-likelihood ratio "same person" against
  "any pair" of a pair's gap and sides, with a ``floor``: ``log((1 - floor) *
  p_same / p_chance + floor)`` never falls below ``log(floor)``, so a transition never
  seen is unlikely, not impossible;
* :func:`links_sharper_than_chance`: whether the matches' gaps are more concentrated
  than gaps of random pairs would be (a permutation test), the ``auto`` decision.

A pair of tracklets ``i, j`` is ordered by first frame: the earlier one's camera is
``from``, its exit side counts; the later one's camera is ``to``, its entry side.

``camera_links.json`` (:meth:`CameraLinks.to_dict`, read back by
:meth:`CameraLinks.from_dict`)::

    {"schema": "dal-torchreid camera links 1",
     ...the caller's record (e.g. "used", "reason", "test")...,
     "cameras": ["cam1", ...],           # index -> name
     "floor": 0.05,
     "gap_edges_frames": [e1, ...],      # B - 1 inner edges; bins 0 and B - 1 open
     "sides": ["left", "middle", "right"],
     "links": [{"from": "cam1", "to": "cam2",   # every ordered pair, a camera to itself too
                "matches": 12, "effective_matches": 9.4, "bandwidth_log_gap": 0.21,
                "same": [B], "chance": [B],     # gap distributions (sum 1)
                "log_ratio": [B],               # per bin, floored
                "sides_same": [[3 x 3]], "sides_chance": [[3 x 3]]}, ...]}

Examples::

    times = TrackletTimes(cameras, first, last, image_sides(exit_x), image_sides(entry_x))
    pairs = mutual_best_matches(graph.rows, graph.cols, graph.weights, cameras)
    links = estimate_camera_links(times, pairs, chance=chance_model(times))
    fused = appearance + links.log_ratio(times, graph.rows, graph.cols)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d

SIDES = ('left', 'middle', 'right')
"""Image sides of an exit or entry: the third of the frame width the box centre is in."""
MODES = ('auto', 'on', 'off')
FLOOR = 0.05
RESOLUTION = 0.1  # gap bin width in log_gap units
MAX_BINS = 1000
PRIOR_MATCHES = 2.0  # pseudo-matches drawn from chance: shrink a pair with few matches
EM_ROUNDS = 10  # rounds separating a pair's matches of one person from chance ones
CHANCE_PAIRS = 20000  # random pairs per camera pair that estimate chance
NULL_ROUNDS = 19  # permutation rounds of the auto test (p < 0.05 when all are beaten)
SCHEMA = 'dal-torchreid camera links 1'


def check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f'camera_links must be one of {", ".join(MODES)}, got {mode!r}')


def check_floor(floor: float) -> None:
    if not 0 < floor < 1:
        raise ValueError(f'the camera-link floor must be in (0, 1), got {floor}')


def image_sides(x_centre) -> np.ndarray:
    """Index into :data:`SIDES` of each box centre ``x / frame width`` (0 .. 1)."""
    x = np.asarray(x_centre, np.float64)
    if not np.isfinite(x).all():
        raise ValueError(f'box centres must be finite, got {x[~np.isfinite(x)][0]}')
    return np.clip((x * 3).astype(np.int64), 0, 2)


@dataclass(frozen=True)
class TrackletTimes:
    """When and where each tracklet starts and ends.

    Args:
        cameras (np.ndarray): camera index ``0 .. C-1`` of each tracklet.
        first, last (np.ndarray): its first and last frame (one clock for all cameras).
        exit_side, entry_side (np.ndarray): index into :data:`SIDES` of the side of the
            image its last box leaves by and its first box enters by (:func:`image_sides`).
    """

    cameras: np.ndarray
    first: np.ndarray
    last: np.ndarray
    exit_side: np.ndarray
    entry_side: np.ndarray

    def __post_init__(self):
        n = len(self.cameras)
        for name in ('first', 'last', 'exit_side', 'entry_side'):
            if len(getattr(self, name)) != n:
                raise ValueError(f'TrackletTimes.{name} holds {len(getattr(self, name))} values '
                                 f'for {n} tracklets')
        if n and np.asarray(self.cameras).min() < 0:
            raise ValueError(f'camera indices must be >= 0, got {np.asarray(self.cameras).min()}')

    @property
    def num_cameras(self) -> int:
        return int(np.asarray(self.cameras).max(initial=-1) + 1)

    def ordered(self, i, j) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(earlier, later, gap)`` of pairs ``(i, j)``: ordered by first frame, and
        the frames from the earlier's last to the later's first."""
        i, j = np.asarray(i, np.int64), np.asarray(j, np.int64)
        swap = self.first[j] < self.first[i]
        earlier, later = np.where(swap, j, i), np.where(swap, i, j)
        return earlier, later, self.first[later] - self.last[earlier]


def best_per_camera(rows, cols, scores, cameras) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For every (tracklet, camera) with an edge of the graph ``rows[e], cols[e]``
    (scored ``scores[e]``) into that camera: ``(key, edge, score)`` of its best edge,
    ``key = tracklet * C + camera`` sorted (ties: the lower edge)."""
    rows, cols = np.asarray(rows, np.int64), np.asarray(cols, np.int64)
    scores, cameras = np.asarray(scores, np.float64), np.asarray(cameras, np.int64)
    edge = np.concatenate([np.arange(len(rows))] * 2)
    both = np.concatenate([scores, scores])
    key = np.concatenate([rows, cols]) * _cameras(cameras) + cameras[np.concatenate([cols, rows])]
    order = np.lexsort((edge, -both, key))
    first = np.ones(len(order), bool)
    first[1:] = key[order][1:] != key[order][:-1]
    best = order[first]
    return key[best], edge[best], both[best]


def _cameras(cameras: np.ndarray) -> int:
    return int(cameras.max(initial=0)) + 1


def mutual_best_matches(rows, cols, scores, cameras, same_camera: bool = False) -> np.ndarray:
    """``(M, 2)`` edges ``(i, j)`` of a graph (pairs ``rows[e], cols[e]`` scored ``scores[e]``)
    where ``j`` is ``i``'s best-scoring neighbour in ``j``'s camera and ``i`` is ``j``'s in
    ``i``'s camera. Edges within one camera are left out unless ``same_camera``."""
    rows, cols = np.asarray(rows, np.int64), np.asarray(cols, np.int64)
    scores, cameras = np.asarray(scores, np.float64), np.asarray(cameras, np.int64)
    keep = (rows != cols) if same_camera else cameras[rows] != cameras[cols]
    rows, cols, scores = rows[keep], cols[keep], scores[keep]
    best_key, best_edge, _ = best_per_camera(rows, cols, scores, cameras)
    edge, c = np.arange(len(rows)), _cameras(cameras)
    mine = best_edge[np.searchsorted(best_key, rows * c + cameras[cols])] == edge
    theirs = best_edge[np.searchsorted(best_key, cols * c + cameras[rows])] == edge
    keep = mine & theirs
    return np.stack([rows[keep], cols[keep]], 1) if keep.any() else np.zeros((0, 2), np.int64)


@dataclass
class CameraLinks:
    """Per ordered camera pair, the gap and side distributions of one person's walk
    against chance (see the module); built by :func:`estimate_camera_links`.

    Args:
        gap_edges (np.ndarray): ``B - 1`` increasing edges in frames: bin 0 holds gaps
            below the first, bin ``B - 1`` gaps at or above the last.
        same, chance (np.ndarray): ``(C, C, B)`` gap distributions of ``from -> to``:
            matches (smoothed and shrunk towards chance) and random pairs.
        side_same, side_chance (np.ndarray): ``(C, C, 3, 3)`` distributions of (exit
            side in ``from``, entry side in ``to``).
        matches (np.ndarray): ``(C, C)`` matches each pair's estimate comes from.
        floor (float): see :meth:`log_ratio`.
        bandwidth (np.ndarray): ``(C, C)`` kernel width of each pair's smoothing, in
            :func:`log_gap` units.
        effective (np.ndarray): ``(C, C)`` matches each pair's estimate takes as one
            person (the sum of their responsibilities).
    """

    gap_edges: np.ndarray
    same: np.ndarray
    chance: np.ndarray
    side_same: np.ndarray
    side_chance: np.ndarray
    matches: np.ndarray
    floor: float = FLOOR
    bandwidth: np.ndarray | None = None
    effective: np.ndarray | None = None

    @property
    def num_cameras(self) -> int:
        return self.same.shape[0]

    def gap_bin(self, gap) -> np.ndarray:
        return np.searchsorted(self.gap_edges, np.asarray(gap), side='right')

    def gap_log_ratio(self, a, b, gap) -> np.ndarray:
        """Log-likelihood ratio of gaps ``gap`` of pairs ``a -> b`` (camera indices)."""
        ratio = self.same[a, b, self.gap_bin(gap)] / self.chance[a, b, self.gap_bin(gap)]
        return np.log((1 - self.floor) * ratio + self.floor)

    def side_log_ratio(self, a, b, exit_side, entry_side) -> np.ndarray:
        """Log-likelihood ratio of leaving ``a`` by ``exit_side`` and entering ``b`` by
        ``entry_side``."""
        where = (a, b, exit_side, entry_side)
        ratio = self.side_same[where] / self.side_chance[where]
        return np.log((1 - self.floor) * ratio + self.floor)

    def log_ratio(self, times: TrackletTimes, i, j) -> np.ndarray:
        """Per pair ``(i[e], j[e])`` the log-likelihood ratio of its gap and sides (0
        where the links were estimated without any match of its camera pair)."""
        if times.num_cameras > self.num_cameras:
            raise ValueError(f'the links know {self.num_cameras} cameras, the tracklets '
                             f'{times.num_cameras}')
        earlier, later, gap = times.ordered(i, j)
        a, b = times.cameras[earlier], times.cameras[later]
        return self.gap_log_ratio(a, b, gap) + self.side_log_ratio(
            a, b, times.exit_side[earlier], times.entry_side[later])

    def to_dict(self, cameras: list[str], **record) -> dict:
        """The JSON form (``camera_links.json``, its schema in the module docstring):
        ``record`` (how and whether the links were used), then one entry per ordered
        pair of cameras, a camera with itself included."""
        if len(cameras) != self.num_cameras:
            raise ValueError(f'{len(cameras)} camera names for {self.num_cameras} cameras')
        links = []
        for a in range(self.num_cameras):
            for b in range(self.num_cameras):
                ratio = np.log((1 - self.floor) * self.same[a, b] / self.chance[a, b] + self.floor)
                links.append({
                    'from': cameras[a], 'to': cameras[b], 'matches': int(self.matches[a, b]),
                    'effective_matches': None if self.effective is None else
                    round(float(self.effective[a, b]), 3),
                    'bandwidth_log_gap': None if self.bandwidth is None else
                    round(float(self.bandwidth[a, b]), 3),
                    'same': _rounded(self.same[a, b]), 'chance': _rounded(self.chance[a, b]),
                    'log_ratio': _rounded(ratio),
                    'sides_same': _rounded(self.side_same[a, b]),
                    'sides_chance': _rounded(self.side_chance[a, b])})
        return {'schema': SCHEMA, **record, 'cameras': list(cameras), 'floor': self.floor,
                'gap_edges_frames': _rounded(self.gap_edges), 'sides': list(SIDES),
                'links': links}

    @classmethod
    def from_dict(cls, data: dict) -> 'CameraLinks':
        """The links of :meth:`to_dict`'s output. Raises ``ValueError`` naming a wrong
        schema or a pair that is missing."""
        if data.get('schema') != SCHEMA:
            raise ValueError(f'not camera links of schema "{SCHEMA}": '
                             f'schema {data.get("schema")!r}')
        names = list(data['cameras'])
        c, edges = len(names), np.asarray(data['gap_edges_frames'], np.float64)
        b = len(edges) + 1
        same, chance = np.ones((c, c, b)) / b, np.ones((c, c, b)) / b
        side_same, side_chance = np.ones((c, c, 3, 3)) / 9, np.ones((c, c, 3, 3)) / 9
        matches = np.zeros((c, c), np.int64)
        bandwidth, effective = np.zeros((c, c)), np.zeros((c, c))
        seen = set()
        for link in data['links']:
            i, j = names.index(link['from']), names.index(link['to'])
            seen.add((i, j))
            same[i, j], chance[i, j] = link['same'], link['chance']
            side_same[i, j], side_chance[i, j] = link['sides_same'], link['sides_chance']
            matches[i, j] = link['matches']
            bandwidth[i, j] = link.get('bandwidth_log_gap') or 0.0
            effective[i, j] = link.get('effective_matches') or 0.0
        missing = [(names[i], names[j]) for i in range(c) for j in range(c) if (i, j) not in seen]
        if missing:
            raise ValueError(f'camera links lack the pair {missing[0][0]} -> {missing[0][1]}')
        return cls(edges, same, chance, side_same, side_chance, matches, float(data['floor']),
                   bandwidth, effective)


def _distinct(pairs) -> np.ndarray:
    """``pairs`` as an ``(M, 2)`` int array, self pairs left out."""
    pairs = np.asarray(pairs, np.int64).reshape(-1, 2)
    return pairs[pairs[:, 0] != pairs[:, 1]]


def _rounded(values: np.ndarray) -> list:
    """Nested lists of ``values`` to 6 significant digits (small probabilities kept)."""
    values = np.asarray(values, np.float64)
    return np.vectorize(lambda v: float(f'{v:.6g}'), otypes=[float])(values).tolist() \
        if values.size else values.tolist()


def gap_scale(times: TrackletTimes) -> float:
    """The footage's own unit of time, a quarter of the median tracklet's frames: gaps
    much shorter are binned linearly, longer ones logarithmically (see :func:`log_gap`)."""
    frames = np.asarray(times.last) - np.asarray(times.first) + 1
    return max(1.0, 0.25 * float(np.median(frames))) if len(frames) else 1.0


def log_gap(gap, scale: float) -> np.ndarray:
    """``sign(gap) * log(1 + |gap| / scale)``: gaps on a scale where one bin is about
    the same fraction of a short transit and of a long one (seconds and hours)."""
    gap = np.asarray(gap, np.float64)
    return np.sign(gap) * np.log1p(np.abs(gap) / scale)


def _gap_grid(gaps: np.ndarray, scale: float, resolution: float) -> np.ndarray:
    """Inner bin edges in frames, ``resolution`` apart in :func:`log_gap` units, over
    ``gaps``; the outer bins are open."""
    u = log_gap(gaps, scale)
    lo = min(u.min(initial=0.0), -resolution)
    hi = max(u.max(initial=0.0), resolution)
    count = min(int(np.ceil((hi - lo) / resolution)), MAX_BINS)
    inner = np.linspace(lo, hi, count + 1)[1:-1]
    return np.sign(inner) * scale * np.expm1(np.abs(inner))


def _bandwidth(values: np.ndarray, least: float) -> float:
    """Silverman's rule on the robust spread of ``values``, at least ``least``."""
    if len(values) < 2:
        return 3 * least
    spread = np.std(values)
    iqr = np.subtract(*np.quantile(values, [0.75, 0.25])) / 1.34
    spread = min(spread, iqr) if iqr > 0 else spread
    return max(least, 1.06 * spread * len(values) ** -0.2)


def chance_pairs(cameras, per_pair: int = CHANCE_PAIRS, seed: int = 0,
                 same_camera: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Random pairs ``(i, j)`` of tracklets of two cameras (``cameras[i] <= cameras[j]``,
    ``i != j``; one camera's only with ``same_camera``), up to ``per_pair`` per camera
    pair (all of them where there are fewer): what chance looks like."""
    rng = np.random.default_rng(seed)
    cameras = np.asarray(cameras, np.int64)
    members = [np.flatnonzero(cameras == c) for c in range(int(cameras.max(initial=-1)) + 1)]
    out_i, out_j = [], []
    for a in range(len(members)):
        for b in range(a if same_camera else a + 1, len(members)):
            na, nb = len(members[a]), len(members[b])
            if na * nb <= per_pair:
                i, j = np.repeat(members[a], nb), np.tile(members[b], na)
            else:
                i = members[a][rng.integers(0, na, per_pair)]
                j = members[b][rng.integers(0, nb, per_pair)]
            out_i.append(i[i != j])
            out_j.append(j[i != j])
    if not out_i:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(out_i), np.concatenate(out_j)


@dataclass(frozen=True)
class Chance:
    """What chance looks like, the same for every estimate on one footage
    (:func:`chance_model`).

    Args:
        i, j (np.ndarray): the random pairs of tracklets.
        gap_edges (np.ndarray): inner gap bin edges in frames (:func:`log_gap` spaced).
        gaps (np.ndarray): ``(C, C, B)`` gap distribution of each ordered camera pair.
        sides (np.ndarray): ``(C, C, 3, 3)`` distribution of (exit side, entry side).
        scale (float): :func:`gap_scale` of the footage.
        resolution (float): bin width in :func:`log_gap` units.
    """

    i: np.ndarray
    j: np.ndarray
    gap_edges: np.ndarray
    gaps: np.ndarray
    sides: np.ndarray
    scale: float
    resolution: float


def chance_model(times: TrackletTimes, pairs: tuple | None = None,
                 resolution: float = RESOLUTION, seed: int = 0) -> Chance:
    """The gap and side distributions of random pairs (``pairs``, else
    :func:`chance_pairs` drawn with ``seed``) per ordered camera pair, on a gap grid
    spanning their gaps; lightly smoothed, one added to every count (no bin is
    impossible by chance)."""
    if not resolution > 0:
        raise ValueError(f'the gap resolution must be > 0, got {resolution}')
    i, j = pairs if pairs is not None else chance_pairs(times.cameras, seed=seed)
    earlier, later, gap = times.ordered(i, j)
    scale = gap_scale(times)
    edges = _gap_grid(gap, scale, resolution)
    c, b = times.num_cameras, len(edges) + 1
    a, z = times.cameras[earlier], times.cameras[later]
    gaps = np.zeros((c, c, b))
    np.add.at(gaps, (a, z, np.searchsorted(edges, gap, side='right')), 1)
    gaps[..., 1:-1] = gaussian_filter1d(gaps[..., 1:-1], 1.0, axis=-1, mode='nearest')
    sides = np.zeros((c, c, 3, 3))
    np.add.at(sides, (a, z, times.exit_side[earlier], times.entry_side[later]), 1)
    gaps += 1.0
    sides += 1.0
    return Chance(np.asarray(i), np.asarray(j), edges, gaps / gaps.sum(-1, keepdims=True),
                  sides / sides.sum((-1, -2), keepdims=True), scale, resolution)


def estimate_camera_links(times: TrackletTimes, pairs, floor: float = FLOOR,
                          chance: Chance | None = None) -> CameraLinks:
    """Camera links from pairs taken as one person (see the module).

    Args:
        times (TrackletTimes): the tracklets.
        pairs (array): ``(M, 2)`` tracklet pairs taken as one person, some wrongly (a
            pair of one camera estimates that camera's link to itself: fragments, returns).
        floor (float): in (0, 1): the least likelihood ratio of a gap or side, as a
            fraction of chance.
        chance (Chance, optional): :func:`chance_model` of ``times`` (made with its
            defaults when not given).

    Each camera pair's matches are a mixture of one person's walks and chance pairs;
    a few rounds of EM weigh each match by how much more likely the others make it
    than chance does, so wrong matches fade from the estimate (``effective``).

    Examples::

        links = estimate_camera_links(times, [(0, 5), (3, 9)])
    """
    check_floor(floor)
    return _estimate(Steps.of(times, pairs), floor, chance or chance_model(times))


@dataclass(frozen=True)
class Steps:
    """Pairs taken as one person's steps from camera ``a`` to camera ``z``: their gaps
    and the sides left and entered by (:meth:`of`)."""

    a: np.ndarray
    z: np.ndarray
    gap: np.ndarray
    exits: np.ndarray
    entries: np.ndarray

    @classmethod
    def of(cls, times: TrackletTimes, pairs) -> 'Steps':
        pairs = _distinct(pairs)
        earlier, later, gap = times.ordered(pairs[:, 0], pairs[:, 1])
        return cls(times.cameras[earlier], times.cameras[later], gap,
                   times.exit_side[earlier], times.entry_side[later])

    def log_likelihood(self, links: CameraLinks) -> float:
        """Sum of the gaps' log-likelihood ratio under ``links``."""
        return float(links.gap_log_ratio(self.a, self.z, self.gap).sum())


def _estimate(steps: Steps, floor: float, chance: Chance) -> CameraLinks:
    gap_bin = np.searchsorted(chance.gap_edges, steps.gap, side='right')
    c = chance.gaps.shape[:2]
    same, side_same = chance.gaps.copy(), chance.sides.copy()
    matches, effective, bandwidth = np.zeros(c, np.int64), np.zeros(c), np.zeros(c)
    key = steps.a * c[1] + steps.z
    order = np.argsort(key, kind='stable')
    keys, starts = np.unique(key[order], return_index=True)
    for k, mine in zip(keys.tolist(), np.split(order, starts[1:])):
        x, y = divmod(k, c[1])
        matches[x, y] = len(mine)
        fit = _fit_pair(log_gap(steps.gap[mine], chance.scale), gap_bin[mine],
                        steps.exits[mine], steps.entries[mine], chance.gaps[x, y],
                        chance.sides[x, y], chance.resolution)
        same[x, y], side_same[x, y], effective[x, y], bandwidth[x, y] = fit
    return CameraLinks(chance.gap_edges, same, chance.gaps, side_same, chance.sides, matches,
                       floor, bandwidth, effective)


def _fit_pair(u: np.ndarray, bins: np.ndarray, exits: np.ndarray, entries: np.ndarray,
              chance: np.ndarray, side_chance: np.ndarray, resolution: float):
    """One camera pair's ``(same, side_same, effective matches, bandwidth)`` from its
    matches (``u``: their :func:`log_gap`): EM of "one person or chance" over the
    matches (the mixture's share and each match's responsibility, judged leaving the
    match itself out), the smoothed weighted histogram shrunk towards chance by
    :data:`PRIOR_MATCHES`."""
    weight, share = np.ones(len(u)), 0.5
    for _ in range(EM_ROUNDS):
        sure = weight >= 0.5
        bandwidth = _bandwidth(u[sure] if sure.sum() >= 2 else u, resolution)
        sigma = bandwidth / resolution
        counts = _smoothed(np.bincount(bins, weights=weight, minlength=len(chance)), sigma)
        own = np.where((bins == 0) | (bins == len(chance) - 1), 1.0, _kernel_peak(sigma)) * weight
        sides = np.zeros((3, 3))
        np.add.at(sides, (exits, entries), weight)
        mass = weight.sum()
        same = _shrunk(counts / max(counts.sum(), 1e-12), mass, chance)
        side_same = _shrunk(sides / max(mass, 1e-12), mass, side_chance)
        # each match judged by the others: its own part of the counts taken out
        rest = np.maximum(mass - weight, 0)
        others = (counts[bins] - own) / np.maximum(counts.sum() - weight, 1e-12)
        other_sides = (sides[exits, entries] - weight) / np.maximum(rest, 1e-12)
        ratio = (_shrunk(others, rest, chance[bins]) / chance[bins]
                 * _shrunk(other_sides, rest, side_chance[exits, entries])
                 / side_chance[exits, entries])
        weight = share * ratio / (share * ratio + 1 - share)
        share = min(max(weight.mean(), 1e-3), 1 - 1e-3)
    return same, side_same, float(mass), float(bandwidth)


def _kernel_peak(sigma: float) -> float:
    """The centre value of a unit count smoothed by :func:`_smoothed` with ``sigma``."""
    impulse = np.zeros(int(8 * sigma) * 2 + 3)
    impulse[len(impulse) // 2] = 1.0
    return float(gaussian_filter1d(impulse, sigma, mode='constant')[len(impulse) // 2])


def _smoothed(counts: np.ndarray, sigma: float) -> np.ndarray:
    """``counts`` with the inner bins smoothed by a Gaussian of ``sigma`` bins (the open
    outer bins kept)."""
    out = np.asarray(counts, np.float64).copy()
    out[1:-1] = gaussian_filter1d(out[1:-1], sigma, mode='constant')
    return out


def _shrunk(share, mass, chance) -> np.ndarray:
    """A distribution ``share`` estimated from ``mass`` matches, shrunk towards
    ``chance`` by :data:`PRIOR_MATCHES` pseudo-matches."""
    share = np.clip(share, 0, None)
    return (mass * share + PRIOR_MATCHES * chance) / (mass + PRIOR_MATCHES)


def match_log_likelihood(links: CameraLinks, times: TrackletTimes, pairs) -> float:
    """Sum over ``pairs`` of the log-likelihood ratio of their gaps: how much more
    likely the links make them than chance does."""
    return Steps.of(times, pairs).log_likelihood(links)


def links_sharper_than_chance(times: TrackletTimes, pairs, floor: float = FLOOR,
                              chance: Chance | None = None, rounds: int = NULL_ROUNDS,
                              seed: int = 0) -> dict:
    """Whether the gaps of ``pairs`` are more concentrated than chance gaps.

    The statistic is the in-sample log-likelihood of the pairs' gaps under links
    estimated from them (:meth:`Steps.log_likelihood`). It is compared with the same
    statistic of ``rounds`` sets of as many random pairs of the same camera pairs
    (drawn with ``seed`` from ``chance``'s pairs; pairs of a camera pair it lacks are
    left out): the links are sharper than chance when they beat every random set
    (p < 1 / (rounds + 1)).

    Returns ``{'sharper': bool, 'statistic': float, 'chance_mean': float,
    'chance_max': float, 'pairs': int, 'rounds': int}``.
    """
    chance = chance or chance_model(times)
    c = times.num_cameras

    def camera_pair(i, j):
        a, b = times.cameras[i], times.cameras[j]
        return np.minimum(a, b) * c + np.maximum(a, b)

    pool_key = camera_pair(chance.i, chance.j)
    pairs = _distinct(pairs)
    want = camera_pair(pairs[:, 0], pairs[:, 1])
    pairs, want = pairs[np.isin(want, pool_key)], want[np.isin(want, pool_key)]

    def statistic(s: Steps) -> float:
        return s.log_likelihood(_estimate(s, floor, chance))

    rng = np.random.default_rng([seed, 1])
    pools = {key: np.flatnonzero(pool_key == key) for key in np.unique(want).tolist()}
    null = []
    for _ in range(rounds):
        drawn = np.empty((len(pairs), 2), np.int64)
        for key, pool in pools.items():
            slots = np.flatnonzero(want == key)
            pick = pool[rng.integers(0, len(pool), len(slots))]
            drawn[slots] = np.stack([chance.i[pick], chance.j[pick]], 1)
        null.append(statistic(Steps.of(times, drawn)))
    observed = statistic(Steps.of(times, pairs))
    null = np.asarray(null) if null else np.zeros(1)
    return {'sharper': bool(len(pairs) > 0 and observed > null.max()),
            'statistic': round(observed, 3), 'chance_mean': round(float(null.mean()), 3),
            'chance_max': round(float(null.max()), 3), 'pairs': int(len(pairs)),
            'rounds': int(rounds)}


class TransitTimes:
    """Camera links asked by camera name about a gap alone (the sides unknown): what
    ``dal-search`` asks of the links an association recorded
    (:func:`~dal_torchreid.footage.search.search`'s ``camera_links``).

    Args:
        links (CameraLinks): the learned links.
        cameras (list): camera name of each index of ``links``.

    Examples::

        transit = TransitTimes.from_dict(json.load(open('out/camera_links.json')))
        transit.transit_log_likelihood('cam1', 'cam2', 120)
    """

    def __init__(self, links: CameraLinks, cameras) -> None:
        self.links = links
        self.index = {name: i for i, name in enumerate(cameras)}

    @classmethod
    def from_dict(cls, data: dict) -> 'TransitTimes':
        """From :meth:`CameraLinks.to_dict`'s form; ``ValueError`` when it is another."""
        return cls(CameraLinks.from_dict(data), list(data['cameras']))

    def transit_log_likelihood(self, from_camera: str, to_camera: str, gap_frames: int) -> float:
        """Log-likelihood ratio "one person" against "any two" of a walk from
        ``from_camera`` to ``to_camera`` taking ``gap_frames``; 0 (no word) for a camera
        the links do not know."""
        a, b = self.index.get(from_camera), self.index.get(to_camera)
        if a is None or b is None:
            return 0.0
        return float(self.links.gap_log_ratio(a, b, gap_frames))

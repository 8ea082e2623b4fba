"""Global ids from tracklet arrays: constraints, the label-free threshold, the whole linking."""
import json

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from dal_torchreid.footage.global_ids import temporal_cannot_links
from dal_torchreid.footage.constraints import most_at_once, time_overlap_pairs
from dal_torchreid.footage.linking import (
    AssociationSettings, camera_links_json, link_tracklets, tracklet_times
)
from dal_torchreid.footage.camera_links import best_per_camera
from dal_torchreid.footage.threshold import best_match_threshold, pair_background, standardise
from dal_torchreid.footage.scores import pairwise_scores


def test_time_overlap_pairs_are_the_pairwise_definition():
    rng = np.random.default_rng(0)
    for _ in range(30):
        n = int(rng.integers(1, 40))
        cameras, first = rng.integers(0, 3, n), rng.integers(0, 100, n)
        last = first + rng.integers(0, 30, n)
        pairs = set(map(tuple, time_overlap_pairs(cameras, first, last).tolist()))
        assert pairs == {(i, j) for i in range(n) for j in range(i + 1, n)
                         if cameras[i] == cameras[j] and first[j] <= last[i]
                         and first[i] <= last[j]}
        assert temporal_cannot_links(cameras, first, last) == pairs
    assert most_at_once([0, 0, 0, 1], [1, 5, 11, 1], [10, 20, 12, 30]) == 2
    with pytest.raises(ValueError, match='tracklet 1 ends before it starts'):
        time_overlap_pairs([0, 0], [1, 9], [5, 3])


def test_the_threshold_falls_between_two_well_separated_modes():
    rng = np.random.default_rng(0)
    scores = np.r_[rng.normal(0.0, 1.0, 300), rng.normal(6.0, 1.0, 100)]
    threshold, record = best_match_threshold(scores, rule='crossing')
    assert 2.0 < threshold < 4.5
    assert record['threshold'] == pytest.approx(threshold, abs=1e-6)
    assert record['means'][0] == pytest.approx(0.0, abs=0.3)
    assert record['means'][1] == pytest.approx(6.0, abs=0.3)
    stranger, record = best_match_threshold(scores, rule='stranger')
    assert stranger == pytest.approx(record['means'][0], abs=1e-5) and record['crossing'] > stranger
    with pytest.raises(ValueError, match='at least 4'):
        best_match_threshold([1.0, 2.0])
    with pytest.raises(ValueError, match='rule'):
        best_match_threshold(scores, rule='median')


def test_standardise_per_camera_pair_and_best_per_camera():
    features = F.normalize(torch.randn(60, 8, generator=torch.Generator().manual_seed(0)), dim=1)
    cameras = np.repeat([0, 1, 2], 20)
    mean, std = pair_background(features, cameras)
    assert mean.shape == (3, 3) and np.allclose(mean, mean.T) and (std > 0).all()
    z = standardise([mean[0, 1] + 2 * std[0, 1]], [0], [1], mean, std)
    assert z[0] == pytest.approx(2.0)
    _, _, best = best_per_camera([0, 0, 1], [20, 40, 20], [0.5, 0.7, 0.9], cameras)
    # 0 -> cam1, 0 -> cam2, 1 -> cam1, 20 -> cam0 (the better of 0 and 1), 40 -> cam0
    assert sorted(best.tolist()) == [0.5, 0.7, 0.7, 0.9, 0.9]


def route(seed=0, people=60, twins=True):
    """People walking cam0 -> cam1 -> cam2 with fixed transits, dressed in pairs of
    look-alikes (features of two people nearly equal) when ``twins``."""
    rng = np.random.default_rng(seed)
    looks = F.normalize(torch.as_tensor(rng.normal(size=(people // 2 if twins else people, 32)),
                                        dtype=torch.float32), dim=1)
    rows, features = [], []
    for p in range(people):
        t = int(rng.integers(0, 4000))
        for camera, transit in ((0, 40), (1, 90), (2, None)):
            length = int(rng.integers(20, 40))
            rows.append((camera, t, t + length - 1, 0.05, 0.95, p))
            features.append(looks[p // 2 if twins else p] + 0.25 * torch.as_tensor(
                rng.normal(size=32), dtype=torch.float32) / np.sqrt(32))
            if transit:
                t += length - 1 + int(rng.normal(transit, 4))
    table = np.asarray(rows)
    times = tracklet_times(table[:, 0].astype(int), table[:, 1].astype(int),
                           table[:, 2].astype(int), table[:, 3], table[:, 4])
    return times, torch.stack(features), table[:, 5].astype(int)


def f1(times, ids, people):
    return pairwise_scores(ids, people.tolist(), times.cameras)['f1']


def test_camera_links_tell_look_alikes_apart():
    times, features, people = route()
    off = link_tracklets(times, features, AssociationSettings(camera_links='off'))
    auto = link_tracklets(times, features, AssociationSettings(camera_links='auto'))
    assert auto.record['camera_links']['used'] is True
    assert f1(times, auto.ids, people) > 0.9
    assert f1(times, auto.ids, people) > f1(times, off.ids, people) + 0.1
    json.dumps(auto.record)  # JSON-ready
    assert auto.record['threshold_found']['method'].startswith('two-component')
    links = json.loads(json.dumps(camera_links_json(auto, ['a', 'b', 'c'])))
    assert links['used'] is True and len(links['links']) == 9
    unused = camera_links_json(off, ['a', 'b', 'c'])
    assert unused['used'] is False and unused['links'] == [] and unused['reason']


def test_auto_refuses_camera_links_when_times_say_nothing():
    times, features, people = route(twins=False)
    rng = np.random.default_rng(1)
    first = rng.integers(0, 4000, len(people))
    shuffled = tracklet_times(times.cameras, first, first + 30, rng.random(len(people)),
                              rng.random(len(people)))
    result = link_tracklets(shuffled, features, AssociationSettings(camera_links='auto'))
    assert result.record['camera_links']['used'] is False
    assert f1(shuffled, result.ids, people) > 0.9  # appearance alone still links them


def test_a_set_threshold_and_the_cannot_links_are_kept():
    times, features, people = route(people=20)
    strict = link_tracklets(times, features, AssociationSettings(threshold=1e6))
    assert len(np.unique(strict.ids)) == len(people)
    assert strict.record['threshold_found']['method'].startswith('set')
    loose = link_tracklets(times, features, AssociationSettings(threshold=-1e6, camera_links='off'))
    pairs = time_overlap_pairs(times.cameras, times.first, times.last)
    assert all(loose.ids[i] != loose.ids[j] for i, j in pairs)
    assert len(np.unique(loose.ids)) >= most_at_once(times.cameras, times.first, times.last)


def test_dbscan_stays_available_and_settings_are_checked():
    times, features, people = route(people=20)
    result = link_tracklets(times, features, AssociationSettings(
        method='dbscan', eps=0.6))
    assert result.record['method'] == 'dbscan' and len(result.ids) == len(people)
    assert camera_links_json(result, ['a', 'b', 'c'])['used'] is False
    for bad, match in (({'method': 'kmeans'}, 'associate.method'),
                       ({'camera_links': 'maybe'}, 'camera_links'),
                       ({'k': 0}, 'associate.k'), ({'threshold': float('inf')}, 'finite'),
                       ({'floor': 1.5}, 'floor'), ({'eps': 0.0}, 'eps'),
                       ({'top_k': 0}, 'top_k'), ({'pooling_method': 'median'}, 'pooling')):
        with pytest.raises(ValueError, match=match):
            AssociationSettings(**bad)
    with pytest.raises(ValueError, match='19 features for 60 tracklets'):
        link_tracklets(times, features[:19])
    with pytest.raises(ValueError, match='no tracklets to associate'):
        link_tracklets(tracklet_times([], [], [], [], []), features[:0])

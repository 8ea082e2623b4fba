"""Camera links learned without labels: a known transit time recovered, chance refused, JSON."""
import json

import numpy as np
import pytest

from dal_torchreid.footage.camera_links import (
    CameraLinks, TrackletTimes, chance_pairs, estimate_camera_links, image_sides,
    links_sharper_than_chance, mutual_best_matches
)

TRANSIT = {(0, 1): (40.0, 4.0), (1, 2): (90.0, 6.0)}  # frames, mean and std


def walks(seed=0, people=120, span=3000, transit=True):
    """Tracklets of people walking cam0 -> cam1 -> cam2 (leaving right, entering left)
    with the TRANSIT gaps, or seen by each camera at a random time and side; and the
    true pairs."""
    rng = np.random.default_rng(seed)
    cameras, first, last, exits, entries, pairs = [], [], [], [], [], []
    for _ in range(people):
        t = int(rng.integers(0, span))
        previous = None
        for camera in range(3):
            length = int(rng.integers(20, 40))
            i = len(cameras)
            cameras.append(camera), first.append(t), last.append(t + length - 1)
            exits.append(2 if transit else int(rng.integers(0, 3)))
            entries.append(0 if transit else int(rng.integers(0, 3)))
            if previous is not None:
                pairs.append((previous, i))
            previous = i
            if camera < 2 and transit:
                mean, std = TRANSIT[(camera, camera + 1)]
                t = t + length - 1 + int(round(rng.normal(mean, std)))
            elif camera < 2:  # the next camera at a time of its own
                t = int(rng.integers(0, span))
    times = TrackletTimes(*(np.asarray(x) for x in (cameras, first, last, exits, entries)))
    return times, np.asarray(pairs)


def with_wrong_matches(times, pairs, share, seed=0):
    """``pairs`` with a ``share`` of them replaced by random pairs of the same cameras."""
    rng = np.random.default_rng(seed)
    pairs = pairs.copy()
    for k in np.flatnonzero(rng.random(len(pairs)) < share):
        a, b = times.cameras[pairs[k]]
        pairs[k] = (rng.choice(np.flatnonzero(times.cameras == a)),
                    rng.choice(np.flatnonzero(times.cameras == b)))
    return pairs


def peak_gap(links, a, b):
    edges = links.gap_edges
    centres = np.r_[edges[0], (edges[1:] + edges[:-1]) / 2, edges[-1]]
    return centres[np.argmax(links.same[a, b] / links.chance[a, b])]


def test_a_known_transit_time_is_recovered_from_matches_a_third_of_them_wrong():
    times, pairs = walks()
    links = estimate_camera_links(times, with_wrong_matches(times, pairs, 0.33))
    for (a, b), (mean, std) in TRANSIT.items():
        assert abs(peak_gap(links, a, b) - mean) <= 2 * std, (a, b, peak_gap(links, a, b))
        at_mean = links.gap_log_ratio(np.array([a]), np.array([b]), np.array([mean]))[0]
        far = links.gap_log_ratio(np.array([a]), np.array([b]), np.array([mean + 400]))[0]
        assert at_mean > 1.0 and far < 0
        assert far >= np.log(links.floor) - 1e-9  # unlikely, not impossible
    # the sides: leaving cam0 on the right and entering cam1 on the left is the likely way
    assert links.side_log_ratio(0, 1, 2, 0) > 0 > links.side_log_ratio(0, 1, 0, 2)


def test_a_pair_never_matched_says_nothing():
    times, pairs = walks()
    links = estimate_camera_links(times, pairs[times.cameras[pairs[:, 0]] == 0])
    assert links.matches[1, 2] == 0
    np.testing.assert_allclose(links.log_ratio(times, [3], [4]) * 0, 0)
    assert abs(links.gap_log_ratio(np.array([1]), np.array([2]), np.array([90]))[0]) < 1e-9


def test_auto_keeps_links_sharper_than_chance_and_refuses_random_times():
    times, pairs = walks()
    kept = links_sharper_than_chance(times, with_wrong_matches(times, pairs, 0.33))
    assert kept['sharper'] and kept['statistic'] > kept['chance_max']
    random_times, random_pairs = walks(transit=False)
    refused = links_sharper_than_chance(random_times, random_pairs)
    assert not refused['sharper'], refused


def test_json_round_trip_keeps_the_log_ratios():
    times, pairs = walks()
    links = estimate_camera_links(times, pairs)
    data = json.loads(json.dumps(links.to_dict(['a', 'b', 'c'], used=True)))
    assert data['used'] is True and data['cameras'] == ['a', 'b', 'c']
    again = CameraLinks.from_dict(data)
    i, j = np.arange(0, 30), np.arange(1, 31)
    np.testing.assert_allclose(again.log_ratio(times, i, j), links.log_ratio(times, i, j),
                               atol=1e-4)
    data['links'].pop()
    with pytest.raises(ValueError, match='lack the pair'):
        CameraLinks.from_dict(data)
    with pytest.raises(ValueError, match='schema'):
        CameraLinks.from_dict({'schema': 'other'})


def test_mutual_best_matches_per_camera():
    cameras = np.array([0, 1, 1, 2])
    rows, cols, scores = [0, 0, 0, 1, 2], [1, 2, 3, 3, 3], [0.9, 0.5, 0.7, 0.2, 0.8]
    # 0-1: best of 0 in cam1 and of 1 in cam0; 0-3: 3's best in cam0 is 0, 0's in cam2 is 3
    # 2-3: 2's best in cam2 is 3 but 3's best in cam1 is 2 (0.8 > 0.2): mutual too
    assert sorted(map(tuple, mutual_best_matches(rows, cols, scores, cameras).tolist())) == \
        [(0, 1), (0, 3), (2, 3)]


def test_sides_and_input_checks():
    np.testing.assert_array_equal(image_sides([0.0, 0.2, 0.5, 0.9, 1.0]), [0, 0, 1, 2, 2])
    with pytest.raises(ValueError, match='finite'):
        image_sides([np.nan])
    with pytest.raises(ValueError, match='last holds 1 values for 2'):
        TrackletTimes(np.array([0, 1]), np.array([1, 2]), np.array([3]), np.array([0, 0]),
                      np.array([0, 0]))
    times, pairs = walks(people=5)
    with pytest.raises(ValueError, match='floor'):
        estimate_camera_links(times, pairs, floor=0.0)
    i, j = chance_pairs(times.cameras, per_pair=10)
    assert len(i) == 30 and np.all(times.cameras[i] < times.cameras[j])

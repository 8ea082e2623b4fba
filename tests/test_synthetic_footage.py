"""Synthetic footage: videos OpenCV reads, global-id ground truth, a simulated tracker."""
import dataclasses
import json
import os.path as osp

import cv2
import numpy as np
import pytest

from dal_torchreid.footage import read_mot_file
from dal_torchreid.data.synthetic.footage import (
    FootageConfig, footage_person, make_synthetic_footage, plan_walks, route_links, route_sides
)
from dal_torchreid.data.synthetic.people import sample_person
from footage_fixtures import (  # noqa: F401  (fixtures)
    TINY_FOOTAGE, tiny_footage, forget_footage_datasets
)


def iou(a, b):
    ax1, ay1, bx1, by1 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    w = max(0.0, min(ax1, bx1) - max(a[0], b[0]))
    h = max(0.0, min(ay1, by1) - max(a[1], b[1]))
    return w * h / (a[2] * a[3] + b[2] * b[3] - w * h)


def test_videos_hold_every_frame_at_the_configured_size(tiny_footage):
    footage, _, _ = tiny_footage
    for c in range(TINY_FOOTAGE.cameras):
        capture = cv2.VideoCapture(osp.join(footage, f'cam{c + 1}', f'cam{c + 1}.avi'))
        frames = 0
        while True:
            ok, image = capture.read()
            if not ok:
                break
            assert image.shape == (TINY_FOOTAGE.height, TINY_FOOTAGE.width, 3)
            frames += 1
        assert frames == TINY_FOOTAGE.frames


def test_ground_truth_ids_are_global_and_people_come_back(tiny_footage):
    footage, _, _ = tiny_footage
    ids = [set(read_mot_file(osp.join(footage, f'cam{c + 1}', 'gt', 'gt.txt'))[:, 1].astype(int))
           for c in range(TINY_FOOTAGE.cameras)]
    in_several = [p for p in set().union(*ids) if sum(p in cam for cam in ids) >= 2]
    assert in_several, 'no person walks through two cameras'
    walks = [(w.person, w.camera) for w in plan_walks(TINY_FOOTAGE)]
    assert len(walks) > len(set(walks)), 'nobody walks through one camera twice'
    assert len(set().union(*ids)) < sum(len(cam) for cam in ids)


def test_tracker_output_jitters_misses_fragments_and_adds_false_tracks(tiny_footage):
    footage, tracks, _ = tiny_footage
    walks = plan_walks(TINY_FOOTAGE)
    tracks_of_walk, false_tracks = {}, 0
    for c in range(TINY_FOOTAGE.cameras):
        gt = read_mot_file(osp.join(footage, f'cam{c + 1}', 'gt', 'gt.txt'))
        rows = read_mot_file(osp.join(tracks, f'cam{c + 1}.txt'))
        assert len(rows) < len(gt)  # missed boxes
        false_tracks += len(set(rows[rows[:, 6] < 0.5, 1]))
        votes = {}
        for row in rows[rows[:, 6] >= 0.5]:
            same_frame = gt[gt[:, 0] == row[0]]
            overlaps = [iou(row[2:6], g[2:6]) for g in same_frame]
            best = int(np.argmax(overlaps))
            assert 0.5 < overlaps[best] < 1.0  # jittered, still on the person
            votes.setdefault(int(row[1]), []).append((int(same_frame[best, 1]), row[0]))
        for track, pairs in votes.items():  # a track is the person most of its boxes cover
            pids = [pid for pid, _ in pairs]
            pid = max(set(pids), key=pids.count)
            frame = np.median([f for p, f in pairs if p == pid])
            walk = next(w for w in walks if w.camera == c and w.person == pid - 1
                        and w.start < frame <= w.start + w.length)
            tracks_of_walk.setdefault(walk, set()).add((c, track))
    assert any(len(t) >= 2 for t in tracks_of_walk.values()), 'no walk is fragmented'
    assert false_tracks == TINY_FOOTAGE.cameras * TINY_FOOTAGE.false_tracks


def test_same_seed_same_annotations(tiny_footage, tmp_path):
    footage, tracks, _ = tiny_footage
    make_synthetic_footage(str(tmp_path / 'f'), str(tmp_path / 't'), TINY_FOOTAGE)
    assert open(tmp_path / 't' / 'cam1.txt').read() == open(osp.join(tracks, 'cam1.txt')).read()
    assert (open(tmp_path / 'f' / 'cam1' / 'gt' / 'gt.txt').read()
            == open(osp.join(footage, 'cam1', 'gt', 'gt.txt')).read())


def test_bad_config_names_the_field():
    with pytest.raises(ValueError, match='FootageConfig.crossing_frames'):
        FootageConfig(frames=10, crossing_frames=(5, 20))


ROUTE = FootageConfig(people=30, cameras=3, frames=400, height=96, width=128, layout='route',
                      outfits=3, visits=(1, 3), revisit=0.3, crossing_frames=(20, 36), seed=2)


def test_route_walks_leave_towards_the_next_camera_and_enter_from_the_previous():
    sides, links = route_sides(ROUTE), route_links(ROUTE)
    walks = plan_walks(ROUTE)
    by_person = {}
    for walk in walks:
        by_person.setdefault(walk.person, []).append(walk)
    steps = 0
    for mine in by_person.values():
        for a, b in zip(mine, mine[1:]):
            assert abs(a.camera - b.camera) <= 1  # adjacent cameras, or back to the same
            gap = b.start - (a.start + a.length - 1)
            mean, std = links[(a.camera, b.camera)]
            assert abs(gap - mean) <= 5 * std + 1
            if a.camera != b.camera:
                way = 1 if b.camera > a.camera else -1
                assert a.direction == sides[a.camera] * way  # leaves by the side facing b
                assert b.direction == sides[b.camera] * way  # enters from the side facing a
                steps += 1
            else:  # back after a pause beyond the view: in by the side it left
                assert b.direction == -a.direction
    assert steps > 10
    counts = [len({w.camera for w in mine}) for mine in by_person.values()]
    assert 1 in counts and max(counts) == 3  # some seen by one camera only, some by all
    assert any(len(mine) > len({w.camera for w in mine}) for mine in by_person.values())
    assert len({(a, b) for (a, b) in links if a != b}) == 4
    assert len({round(links[p][0], 3) for p in links}) == len(links)  # each pair its own


def test_route_footage_records_its_true_links_and_dresses_a_crowd_alike(tmp_path):
    info = make_synthetic_footage(str(tmp_path / 'f'), str(tmp_path / 't'), ROUTE)
    written = json.loads((tmp_path / 'f' / 'footage.json').read_text())
    assert written['route'] == ['cam1', 'cam2', 'cam3'] == info['route']
    link = next(x for x in written['camera_links'] if (x['from'], x['to']) == ('cam1', 'cam2'))
    assert link['exit_side'] in ('left', 'right') and link['entry_side'] in ('left', 'right')
    assert link['gaps']
    assert abs(np.mean(link['gaps']) - link['mean_frames']) < 3 * link['std_frames']
    clothes = {footage_person(ROUTE, p).top for p in range(ROUTE.people)}
    assert len(clothes) <= ROUTE.outfits
    bodies = {footage_person(ROUTE, p).hair for p in range(ROUTE.people)}
    assert len(bodies) > ROUTE.outfits  # dressed alike, still themselves
    assert footage_person(TINY_FOOTAGE, 0) == sample_person(np.random.default_rng([1, 11, 0]))
    assert plan_walks(ROUTE) == plan_walks(dataclasses.replace(ROUTE))


def test_random_footage_has_no_route_record(tiny_footage):
    _, _, info = tiny_footage
    assert 'camera_links' not in info and info['config']['layout'] == 'random'
    with pytest.raises(ValueError, match='FootageConfig.layout'):
        FootageConfig(layout='ring')
    with pytest.raises(ValueError, match='FootageConfig.outfits'):
        FootageConfig(outfits=-1)

"""dal-associate: global ids under same-camera cannot-links, matches, tracker files, report."""
import csv
import json
import os
import os.path as osp
import shutil
import subprocess

import numpy as np
import pytest
import torch

from dal_torchreid.cli.associate import main
from dal_torchreid.footage.global_ids import (
    global_ids, split_cannot_links, temporal_cannot_links, top_matches
)
from dal_torchreid.footage import read_mot_file
from footage_fixtures import (  # noqa: F401  (fixtures)
    tiny_footage, tiny_tracklets, forget_footage_datasets
)

TINY_MODEL = ['model.name', 'resnet18', 'model.pretrained', 'False', 'use_gpu', 'False',
              'data.height', '32', 'data.width', '16', 'train.seed', '3']


def test_temporal_cannot_links_are_same_camera_overlaps():
    cameras, first, last = [0, 0, 0, 1], [1, 5, 11, 1], [10, 12, 20, 30]
    assert temporal_cannot_links(cameras, first, last) == {(0, 1), (1, 2)}


def test_split_keeps_cannot_linked_tracklets_apart():
    similarity = np.array([[1, .9, .8, .1], [.9, 1, .85, .1], [.8, .85, 1, .1], [.1, .1, .1, 1]])
    labels = split_cannot_links(np.array([0, 0, 0, 1]), similarity, {(0, 1)})
    assert labels[0] != labels[1] and labels[3] not in labels[:3]
    assert sorted(set(labels.tolist())) == list(range(len(set(labels.tolist()))))
    assert labels[2] == labels[1]  # more similar to 1 (0.85) than to 0 (0.8)


def test_global_ids_join_people_across_cameras_and_respect_cannot_links():
    rng = np.random.default_rng(0)
    people = torch.nn.functional.normalize(torch.randn(4, 32, generator=torch.Generator().manual_seed(0)), dim=1)
    pid = np.array([0, 1, 2, 3, 0, 1, 2, 3])
    cameras = [0, 0, 0, 0, 1, 1, 1, 1]
    features = people[pid] + 0.05 * torch.from_numpy(rng.normal(size=(8, 32))).float()
    ids = global_ids(features, cameras, k1=3, k2=1, eps=0.6, min_samples=1)
    for p in range(4):
        assert ids[pid == p][0] == ids[pid == p][1]
    assert len(set(ids.tolist())) == 4
    # a third camera with two overlapping tracks of person 0: never one identity
    features = torch.cat([features, people[[0, 0]]])
    ids = global_ids(features, cameras + [2, 2], {(8, 9)}, k1=3, k2=1)
    assert ids[8] != ids[9]


def test_top_matches_come_from_other_cameras_best_first():
    features = torch.eye(4)[[0, 0, 1, 0]] + torch.tensor([[0, 0, 0, 0], [0, .1, 0, 0],
                                                           [0, 0, 0, 0], [0, 0, .5, 0]])
    index, similarity = top_matches(features, [0, 0, 1, 1], top_k=3)
    assert index[0].tolist() == [3, 2, -1] and np.isnan(similarity[0, 2])
    assert similarity[0, 0] > similarity[0, 1]


@pytest.fixture(scope='module')
def association(tiny_footage, tiny_tracklets, tmp_path_factory):
    root, name = tiny_tracklets
    footage, tracks, _ = tiny_footage
    out = tmp_path_factory.mktemp('association')
    code = main(['--root', root, '-s', name, '--out', str(out), '--footage', footage,
                 *TINY_MODEL, 'associate.top_k', '3'])
    assert code == 0
    return out, root, name, footage, tracks


def read_csv(path):
    with open(path, newline='') as f:
        return list(csv.DictReader(f))


def test_tracker_files_keep_frames_and_boxes_with_global_ids(association):
    out, root, name, footage, tracks = association
    identities = read_csv(out / 'identities.csv')
    global_of = {(r['camera'], int(r['track'])): int(r['global_id']) for r in identities}
    for camera in ('cam1', 'cam2', 'cam3'):
        tracker = read_mot_file(osp.join(tracks, camera + '.txt'))
        written = read_mot_file(str(out / f'{camera}.txt'))
        kept = np.array([(camera, int(t)) in global_of for t in tracker[:, 1]])
        np.testing.assert_allclose(written[:, [0, 2, 3, 4, 5]], tracker[kept][:, [0, 2, 3, 4, 5]],
                                   atol=0.006)
        assert written[:, 1].tolist() == [global_of[(camera, int(t))] for t in tracker[kept, 1]]
        assert not kept.all()  # the low-confidence false tracks were dropped


def test_no_identity_holds_two_tracks_overlapping_in_one_camera(association):
    out = association[0]
    rows = read_csv(out / 'identities.csv')
    for a in rows:
        for b in rows:
            if a is not b and a['camera'] == b['camera'] and a['global_id'] == b['global_id']:
                assert (int(a['last_frame']) < int(b['first_frame'])
                        or int(b['last_frame']) < int(a['first_frame']))


def test_matches_and_scores(association):
    out = association[0]
    matches = read_csv(out / 'matches.csv')
    by_tracklet = {}
    for row in matches:
        assert row['camera'] != row['match_camera']
        by_tracklet.setdefault((row['camera'], row['track']), []).append(float(row['similarity']))
    assert len(by_tracklet) == len(read_csv(out / 'identities.csv'))
    assert all(len(s) == 3 and s == sorted(s, reverse=True) for s in by_tracklet.values())
    scores = json.load(open(out / 'scores.json'))
    assert 0 <= scores['pairwise']['f1'] <= 1 and 0 <= scores['idf1']['IDF1'] <= 1
    assert scores['pairwise']['true_pairs'] > 0


def test_report_shows_every_tracklet_in_a_browser(association, tmp_path):
    out = association[0]
    text = open(out / 'report.html').read()
    rows = read_csv(out / 'identities.csv')
    for row in rows:
        assert f'thumbs/{row["camera"]}_{row["track"]}.jpg' in text
        assert osp.isfile(out / 'thumbs' / f'{row["camera"]}_{row["track"]}.jpg')
    chromium = shutil.which('chromium') or shutil.which('chromium-browser')
    if chromium is None:
        if os.environ.get('DAL_REQUIRE_CHROMIUM'):  # CI installed it (.ci/run): never skip
            pytest.fail('DAL_REQUIRE_CHROMIUM is set but Chromium is not on PATH')
        pytest.skip('Chromium is not installed: the screenshot check needs it '
                    '(.ci/install-chromium installs it)')
    shot = tmp_path / 'report.png'
    subprocess.run([chromium, '--headless', '--no-sandbox', '--disable-gpu',
                    f'--screenshot={shot}', '--window-size=1000,800',
                    (out / 'report.html').as_uri()], check=True, capture_output=True, timeout=120)
    import cv2
    image = cv2.imread(str(shot))
    assert image.shape[:2] == (800, 1000)
    # thumbnails rendered: many colours, not a blank page of text
    assert len(np.unique(image.reshape(-1, 3) // 16, axis=0)) > 200


@pytest.mark.parametrize('args, expected', [
    (['-s', 'prid2011'], 'name one tracklet data set'),
    (['-s', 'tinyfoot', '--footage', 'nowhere'], 'nowhere'),
])
def test_bad_input_is_one_line(tiny_tracklets, tmp_path, capsys, args, expected):
    root, _ = tiny_tracklets
    code = main(['--root', root, '--out', str(tmp_path / 'out'), *TINY_MODEL, *args])
    err = capsys.readouterr().err
    assert code == 2 and expected in err and len(err.strip().splitlines()) == 1

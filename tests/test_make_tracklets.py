"""dal-make-tracklets: tracker output and footage to crops with a manifest."""
import csv
import json
import os
import os.path as osp
import shutil

import cv2
import numpy as np
import pytest

from dal_torchreid.cli.make_tracklets import main
from dal_torchreid.footage import read_manifest, read_mot_file
from footage_fixtures import (  # noqa: F401  (fixtures)
    TINY_FOOTAGE, tiny_footage, forget_footage_datasets
)

FILTERS = ['--min-conf', '0.5', '--min-length', '4', '--max-frames', '6', '--min-width', '6']


def run(capsys, footage, tracks, root, *extra):
    code = main(['--footage', footage, '--tracks', tracks, '--root', str(root), '--name', 'shop',
                 *FILTERS, *extra])
    out, err = capsys.readouterr()
    return code, out, err


def video_frames(path):
    capture, frames = cv2.VideoCapture(path), []
    while True:
        ok, image = capture.read()
        if not ok:
            return frames
        frames.append(image)


def test_crops_match_the_footage_and_the_manifest_maps_back(tiny_footage, tmp_path, capsys):
    footage, tracks, _ = tiny_footage
    code, out, err = run(capsys, footage, tracks, tmp_path)
    assert code == 0, err
    rows = read_manifest(str(tmp_path / 'shop' / 'manifest.csv'))
    assert {r['camera'] for r in rows} == {f'cam{c + 1}' for c in range(TINY_FOOTAGE.cameras)}
    frames = {c: video_frames(osp.join(footage, c, f'{c}.avi')) for c in ('cam1', 'cam2', 'cam3')}
    for row in rows:
        crop = cv2.imread(str(tmp_path / 'shop' / row['crop']))
        assert crop.shape[:2] == (row['height'], row['width'])
        assert row['source'] == osp.join(footage, row['camera'], f'{row["camera"]}.avi')
        frame = frames[row['camera']][row['frame'] - 1]
        region = frame[row['top']:row['top'] + row['height'], row['left']:row['left'] + row['width']]
        assert np.abs(crop.astype(int) - region.astype(int)).mean() < 8  # JPEG only
    per_track = {}
    for row in rows:
        per_track.setdefault((row['camera'], row['track']), []).append(row['frame'])
    assert max(len(f) for f in per_track.values()) == 6  # max_frames
    assert min(len(f) for f in per_track.values()) >= 1
    for (camera, track), kept in per_track.items():  # spread over the track: its ends kept
        tracker = read_mot_file(osp.join(tracks, camera + '.txt'))
        frames_of = tracker[(tracker[:, 1] == track) & (tracker[:, 6] >= 0.5), 0]
        assert min(kept) == frames_of.min() and max(kept) == frames_of.max()
    assert 'frames/s' in out and 'ETA' in out


def test_filters_drop_and_count(tiny_footage, tmp_path, capsys):
    footage, tracks, _ = tiny_footage
    assert run(capsys, footage, tracks, tmp_path)[0] == 0
    info = json.load(open(tmp_path / 'shop' / 'tracklets.json'))
    counts = info['cameras']['cam1']['counts']
    tracker = read_mot_file(osp.join(tracks, 'cam1.txt'))
    assert counts['boxes_low_conf'] == int((tracker[:, 6] < 0.5).sum()) > 0
    assert counts['tracks'] == len(set(tracker[:, 1]))
    assert counts['tracks_kept'] == counts['tracks'] - counts['tracks_dropped']
    rows = read_manifest(str(tmp_path / 'shop' / 'manifest.csv'))
    assert all(r['width'] >= 6 and r['height'] >= 16 for r in rows)
    kept_tracks = {r['track'] for r in rows if r['camera'] == 'cam1'}
    assert len(kept_tracks) == counts['tracks_kept']


def test_a_camera_already_done_is_kept(tiny_footage, tmp_path, capsys):
    footage, tracks, _ = tiny_footage
    assert run(capsys, footage, tracks, tmp_path)[0] == 0
    crop = next((tmp_path / 'shop' / 'cam2').rglob('*.jpg'))
    before = crop.stat().st_mtime_ns
    shutil.rmtree(tmp_path / 'shop' / 'cam1')
    code, out, _ = run(capsys, footage, tracks, tmp_path)
    assert code == 0 and 'cam2: already done' in out and 'cam1: already done' not in out
    assert crop.stat().st_mtime_ns == before
    assert (tmp_path / 'shop' / 'cam1' / 'manifest.csv').is_file()
    code, _, err = run(capsys, footage, tracks, tmp_path, '--max-frames', '3')
    assert code == 2 and 'other settings' in err and len(err.strip().splitlines()) == 1


def test_image_folder_footage(tiny_footage, tmp_path, capsys):
    footage, tracks, _ = tiny_footage
    own, own_tracks = tmp_path / 'footage', tmp_path / 'tracks'
    os.makedirs(own_tracks)
    for number, image in enumerate(video_frames(osp.join(footage, 'cam1', 'cam1.avi')), 1):
        os.makedirs(own / 'cam1' / 'img1', exist_ok=True)
        cv2.imwrite(str(own / 'cam1' / 'img1' / f'{number:06d}.jpg'), image)
    shutil.copy(osp.join(tracks, 'cam1.txt'), own_tracks)
    code, _, err = run(capsys, str(own), str(own_tracks), tmp_path / 'data')
    assert code == 0, err
    rows = read_manifest(str(tmp_path / 'data' / 'shop' / 'manifest.csv'))
    assert rows and rows[0]['source'] == str(own / 'cam1' / 'img1' / f'{rows[0]["frame"]:06d}.jpg')


def test_a_torchreid_name_is_refused(tiny_footage, tmp_path, capsys):
    footage, tracks, _ = tiny_footage
    code = main(['--footage', footage, '--tracks', tracks, '--root', str(tmp_path), '--name',
                 'prid2011'])
    err = capsys.readouterr().err
    assert code == 2 and 'torchreid data set' in err and not (tmp_path / 'prid2011').exists()


def broken_copy(tiny_footage, tmp_path):
    footage, tracks, _ = tiny_footage
    shutil.copytree(footage, tmp_path / 'footage')
    shutil.copytree(tracks, tmp_path / 'tracks')
    return tmp_path / 'footage', tmp_path / 'tracks'


@pytest.mark.parametrize('damage, expected', [
    (lambda f, t: open(t / 'cam2.txt', 'a').write('12,3,10,10\n'), 'cam2.txt" line'),
    (lambda f, t: open(t / 'cam2.txt', 'a').write('12,3,10,x,5,5,1\n'), 'not a number'),
    (lambda f, t: open(t / 'cam2.txt', 'a').write('0,3,10,10,5,5,1\n'), 'frame 0'),
    (lambda f, t: shutil.rmtree(f / 'cam3'), 'has no footage folder'),
    (lambda f, t: os.remove(t / 'cam3.txt'), 'has no tracks file'),
    (lambda f, t: open(t / 'cam2.txt', 'a').write(''.join(
        f'{n},99,10,10,30,40,1\n' for n in range(500, 504))), 'cam2.avi" ends after frame 90'),
    (lambda f, t: open(f / 'cam2' / 'cam2.avi', 'r+b').truncate(100), 'cam2.avi'),
])
def test_bad_input_is_one_line_and_exit_2(tiny_footage, tmp_path, capsys, damage, expected):
    footage, tracks = broken_copy(tiny_footage, tmp_path)
    damage(footage, tracks)
    code, _, err = run(capsys, str(footage), str(tracks), tmp_path / 'data')
    assert code == 2
    assert expected in err, err
    assert len(err.strip().splitlines()) == 1
    assert '.partial' not in ' '.join(os.listdir(tmp_path / 'data' / 'shop')) \
        if osp.isdir(tmp_path / 'data' / 'shop') else True

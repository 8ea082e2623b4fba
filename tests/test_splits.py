"""PRID2011 and iLIDS-VID split files on hand-made folder trees of empty .png frames."""
import json
import os
import os.path as osp
import runpy
import sys

import numpy as np
import pytest
from scipy.io import savemat

import torchreid

from dal_torchreid.cli.prepare_splits import main
from dal_torchreid.data.splits import (
    MIN_FRAMES, make_person_splits, official_ilidsvid_splits, prid2011_people,
    release_person_splits, release_splits, write_random_prid2011_splits, write_release_splits
)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
# the people of 1..200 the release left out of its PRID2011 splits
PRID_EXCLUDED = [6, 19, 31, 52, 57, 62, 71, 94, 106, 120, 136, 138, 139, 142, 145, 158, 159,
                 166, 183, 190, 199, 200]
PRID_CAMERAS = ('cam_a', 'cam_b')


def touch_frames(folder, count):
    os.makedirs(folder)
    for i in range(count):
        open(osp.join(folder, f'{i + 1:04d}.png'), 'w').close()
    open(osp.join(folder, 'notes.txt'), 'w').close()  # not a frame


def make_prid(root, frames=lambda camera, n: 28):
    """person_0001..0240 under both cameras; ``frames(camera, n)`` (None: absent)."""
    for camera in PRID_CAMERAS:
        for n in range(1, 241):
            count = frames(camera, n)
            if count is not None:
                touch_frames(osp.join(root, 'prid2011', 'prid_2011', 'multi_shot', camera,
                                      f'person_{n:04d}'), count)
    return str(root)


@pytest.fixture(scope='module')
def prid_root(tmp_path_factory):
    # everyone has 28 frames, except: person 6 only 10 in cam_b, person 19 not in cam_b;
    # 201..240 (different people in the two cameras) have 40 frames in both
    def frames(camera, n):
        if n > 200:
            return 40
        if camera == 'cam_b' and n == 6:
            return 10
        if camera == 'cam_b' and n == 19:
            return None
        return 28
    return make_prid(tmp_path_factory.mktemp('prid'), frames)


def test_release_splits_ship_with_the_package():
    prid, ilids = release_person_splits('prid2011'), release_person_splits('ilidsvid')
    assert len(prid) == len(ilids) == 10
    prid_people = set(range(1, 201)) - set(PRID_EXCLUDED)
    for split in prid:
        assert len(split['train']) == len(split['test']) == 89
        assert set(split['train']) | set(split['test']) == prid_people
    ilids_people = set(ilids[0]['train']) | set(ilids[0]['test'])
    assert len(ilids_people) == 300 and max(ilids_people) == 319
    for split in ilids:
        assert len(split['train']) == len(split['test']) == 150
        assert set(split['train']) | set(split['test']) == ilids_people
    # the release's split1, first people (its evaluation/datasplits/*/split1)
    assert release_splits('prid2011')[0]['test'][:4] == [
        'person_0001', 'person_0002', 'person_0004', 'person_0005']
    assert release_splits('ilidsvid')[0]['test'][:4] == [
        'person003', 'person006', 'person007', 'person012']


def test_release_mode_writes_exactly_the_release_lists(prid_root):
    path = write_release_splits(prid_root, 'prid2011')  # default min frames 28: all pass
    assert path == osp.join(prid_root, 'prid2011', 'splits_prid2011.json')
    with open(path) as f:
        written = json.load(f)
    expected = [{part: [f'person_{n:04d}' for n in split[part]] for part in ('train', 'test')}
                for split in release_person_splits('prid2011')]
    assert written == expected
    dataset = torchreid.data.datasets.init_video_dataset(
        'prid2011', root=prid_root, split_id=9, transform=str, verbose=False)
    query_dirs = {osp.basename(osp.dirname(item[0][0])) for item in dataset.query}
    assert query_dirs == set(expected[9]['test'])
    os.remove(path)


def test_random_mode_never_pairs_people_above_200(prid_root):
    people = prid2011_people(prid_root)
    # 1..200 without person 6 (10 frames in cam_b) and person 19 (absent from cam_b)
    assert people == [f'person_{n:04d}' for n in range(1, 201) if n not in (6, 19)]
    path = write_random_prid2011_splits(prid_root, seed=3, num_splits=4)
    with open(path) as f:
        splits = json.load(f)
    os.remove(path)
    assert len(splits) == 4 and splits == make_person_splits(people, 4, seed=3)
    for split in splits:
        assert len(split['train']) == len(split['test']) == 99
        assert sorted(split['train'] + split['test']) == people
    assert splits != make_person_splits(people, 4, seed=4)
    with pytest.raises(ValueError, match='min_frames: only 0 of person_0001..person_0200'):
        write_random_prid2011_splits(prid_root, min_frames=29)


def test_missing_person_is_an_error_naming_the_folder(tmp_path):
    root = make_prid(tmp_path, lambda camera, n: None if (camera, n) == ('cam_b', 3) else 1)
    with pytest.raises(FileNotFoundError, match=r'multi_shot/cam_b/person_0003"'):
        write_release_splits(root, 'prid2011', min_frames=1)
    assert not osp.exists(osp.join(root, 'prid2011', 'splits_prid2011.json'))


def test_short_person_is_an_error_naming_the_folder(tmp_path, capsys):
    root = make_prid(tmp_path, lambda camera, n: 1 if (camera, n) == ('cam_a', 173) else 2)
    with pytest.raises(ValueError, match=r'cam_a/person_0173" has 1 \.png frames.*>= 2'):
        write_release_splits(root, 'prid2011', min_frames=2)
    # the command line defaults to the release's shortest tracklet, 28 frames
    assert main(['--dataset', 'prid2011', '--root', root]) == 2
    assert f'>= {MIN_FRAMES["prid2011"]}' in capsys.readouterr().err
    assert main(['--dataset', 'prid2011', '--root', root, '--min-frames', '1']) == 0
    assert 'release\'s 10 splits of prid2011, 89 train / 89 test' in capsys.readouterr().out


def test_existing_file_is_kept_unless_overwrite(tmp_path, capsys):
    root = make_prid(tmp_path, lambda camera, n: 1)
    path = osp.join(root, 'prid2011', 'splits_prid2011.json')
    with open(path, 'w') as f:
        f.write('mine')
    args = ['--dataset', 'prid2011', '--root', root, '--min-frames', '1']
    assert main(args + ['--random', '--seed', '1']) == 2
    assert 'already exists' in capsys.readouterr().err
    with open(path) as f:
        assert f.read() == 'mine'
    assert main(args + ['--random', '--seed', '1', '--overwrite']) == 0
    with open(path) as f:
        assert len(json.load(f)) == 10
    assert sorted(os.listdir(osp.dirname(path))) == ['prid_2011', 'splits_prid2011.json']


def test_command_line_refuses_options_of_the_other_mode(tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        main(['--dataset', 'ilidsvid', '--root', str(tmp_path), '--random'])
    assert exit_info.value.code == 2
    with pytest.raises(SystemExit):
        main(['--dataset', 'prid2011', '--root', str(tmp_path), '--seed', '3'])


def make_ilidsvid(root):
    """The 300 release people under both cameras, one empty frame each."""
    people = release_splits('ilidsvid')[0]
    for camera in ('cam1', 'cam2'):
        for name in people['train'] + people['test']:
            touch_frames(osp.join(root, 'ilids-vid', 'i-LIDS-VID', 'sequences', camera, name), 1)
    os.makedirs(osp.join(root, 'ilids-vid', 'train-test people splits'))
    return str(root)


def write_official_mat(root, splits):
    """A ``train_test_splits_ilidsvid.mat`` whose rows give ``splits``: test first, shuffled."""
    people = sorted(splits[0]['train'] + splits[0]['test'])
    index = {name: i + 1 for i, name in enumerate(people)}
    rng = np.random.default_rng(0)
    ls_set = np.array([rng.permutation([index[n] for n in split['test']]).tolist()
                       + rng.permutation([index[n] for n in split['train']]).tolist()
                       for split in splits], dtype=np.float64)
    savemat(osp.join(root, 'ilids-vid', 'train-test people splits',
                     'train_test_splits_ilidsvid.mat'), {'ls_set': ls_set})


def test_ilidsvid_splits_load_in_torchreid_and_compare_with_the_mat(tmp_path, capsys):
    root = make_ilidsvid(tmp_path)
    release = release_splits('ilidsvid')
    other = [dict(split) for split in release]
    other[4] = {'train': release[4]['test'], 'test': release[4]['train']}
    write_official_mat(root, other)
    assert official_ilidsvid_splits(root) == other
    assert main(['--dataset', 'ilidsvid', '--root', root, '--min-frames', '1']) == 0
    out = capsys.readouterr().out
    assert "the release's 10 splits of ilidsvid, 150 train / 150 test" in out
    assert "differ from the data set's own splits (train_test_splits_ilidsvid.mat) in split " \
           "ids [4]" in out
    write_official_mat(root, release)
    assert main(['--dataset', 'ilidsvid', '--root', root, '--min-frames', '1',
                 '--overwrite']) == 0
    assert "they equal the data set's own splits" in capsys.readouterr().out
    # torchreid reads the file (and no longer derives one from the .mat)
    dataset = torchreid.data.datasets.init_video_dataset(
        'ilidsvid', root=root, split_id=7, transform=str, verbose=False)
    train_dirs = {osp.basename(osp.dirname(item[0][0])) for item in dataset.train}
    query_dirs = {osp.basename(osp.dirname(item[0][0])) for item in dataset.query}
    gallery_cams = {item[2] for item in dataset.gallery}
    assert train_dirs == set(release[7]['train']) and query_dirs == set(release[7]['test'])
    assert len(dataset.query) == len(dataset.gallery) == 150 and gallery_cams == {1}


def test_tools_script_wraps_the_command(tmp_path, monkeypatch):
    root = make_prid(tmp_path, lambda camera, n: 1)
    tool = osp.join(ROOT, 'tools', 'prepare_splits.py')
    monkeypatch.setattr(sys, 'argv', [tool, '--dataset', 'prid2011', '--root', root,
                                      '--min-frames', '1'])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_path(tool, run_name='__main__')
    assert exit_info.value.code == 0
    with open(osp.join(root, 'prid2011', 'splits_prid2011.json')) as f:
        assert json.load(f) == release_splits('prid2011')

"""PRID2011 split preparation on a hand-made folder tree."""
import json
import os
import os.path as osp

import pytest

from dal_torchreid.data.splits import (
    make_person_splits, qualifying_people, write_prid2011_splits
)

from dal_torchreid.cli import prepare_splits as prepare_prid2011_splits



# person -> (frames in cam_a, frames in cam_b); None = absent from that camera
PEOPLE = {
    'person_0001': (21, 30),   # keeps
    'person_0002': (25, 21),   # keeps
    'person_0003': (40, 20),   # too few in cam_b
    'person_0004': (20, 40),   # too few in cam_a
    'person_0005': (50, None),  # cam_a only
    'person_0006': (None, 50),  # cam_b only
    'person_0007': (22, 23),   # keeps
    'person_0008': (30, 30),   # keeps
    'person_0009': (21, 21),   # keeps
}
KEPT = ['person_0001', 'person_0002', 'person_0007', 'person_0008', 'person_0009']


def make_prid(tmp_path, people=PEOPLE):
    prid_dir = tmp_path / 'prid2011'
    for camera, col in (('cam_a', 0), ('cam_b', 1)):
        cam_dir = prid_dir / 'prid_2011' / 'multi_shot' / camera
        cam_dir.mkdir(parents=True)
        for name, frames in people.items():
            if frames[col] is None:
                continue
            (cam_dir / name).mkdir()
            for i in range(frames[col]):
                (cam_dir / name / '{:04d}.png'.format(i + 1)).touch()
            (cam_dir / name / 'notes.txt').touch()  # not a frame
    return str(prid_dir)


def test_qualifying_people_needs_both_cameras_and_min_frames(tmp_path):
    prid_dir = make_prid(tmp_path)
    assert qualifying_people(prid_dir, min_frames=21) == KEPT
    assert qualifying_people(prid_dir, min_frames=30) == ['person_0008']


def test_splits_are_seeded_disjoint_and_train_gets_the_odd_person():
    splits = make_person_splits(KEPT, num_splits=10, seed=3)
    assert len(splits) == 10
    for split in splits:
        assert len(split['train']) == 3 and len(split['test']) == 2
        assert sorted(split['train'] + split['test']) == KEPT
        assert split['train'] == sorted(split['train'])
    assert splits == make_person_splits(list(reversed(KEPT)), num_splits=10, seed=3)
    assert splits != make_person_splits(KEPT, num_splits=10, seed=4)
    assert len({tuple(s['train']) for s in splits}) > 1


def test_write_splits_file_and_overwrite_guard(tmp_path):
    prid_dir = make_prid(tmp_path)
    path = write_prid2011_splits(prid_dir, seed=0, num_splits=4)
    assert path == osp.join(prid_dir, 'splits_prid2011.json')
    with open(path) as f:
        splits = json.load(f)
    assert splits == make_person_splits(KEPT, num_splits=4, seed=0)
    with pytest.raises(FileExistsError, match='splits_prid2011.json'):
        write_prid2011_splits(prid_dir, seed=1)
    write_prid2011_splits(prid_dir, seed=1, num_splits=2, overwrite=True)
    with open(path) as f:
        assert len(json.load(f)) == 2


def test_errors_name_the_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match='cam_a'):
        qualifying_people(str(tmp_path / 'nowhere'))
    prid_dir = make_prid(tmp_path, {'person_0001': (30, 30), 'person_0002': (30, 5)})
    with pytest.raises(ValueError, match='only 1 people in "{}"'.format(prid_dir)):
        write_prid2011_splits(prid_dir)
    assert not os.path.exists(osp.join(prid_dir, 'splits_prid2011.json'))


def test_tool_writes_splits_and_refuses_to_overwrite(tmp_path, capsys):
    prid_dir = make_prid(tmp_path)
    args = ['--prid-dir', prid_dir, '--seed', '5', '--num-splits', '3']
    assert prepare_prid2011_splits.main(args) == 0
    out = capsys.readouterr().out
    assert '5 people' in out and '3 train / 2 test' in out
    with open(osp.join(prid_dir, 'splits_prid2011.json')) as f:
        assert json.load(f) == make_person_splits(KEPT, num_splits=3, seed=5)
    assert prepare_prid2011_splits.main(args) == 2
    assert 'already exists' in capsys.readouterr().err
    assert prepare_prid2011_splits.main(args + ['--overwrite']) == 0
    assert prepare_prid2011_splits.main(['--prid-dir', str(tmp_path / 'none')]) == 2
    assert 'cam_a' in capsys.readouterr().err

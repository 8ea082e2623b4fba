"""The synthetic generator writes layouts torchreid's own PRID2011, iLIDSVID and Mars classes load."""
import filecmp
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.io import loadmat

import torchreid

from dal_torchreid.data.synthetic import INFO_FILE, SyntheticConfig, make_synthetic_dataset
from conftest import TINY_ILIDSVID, TINY_MARS, TINY_PRID2011

TOOL = Path(__file__).resolve().parents[1] / 'tools' / 'make_synthetic_data.py'
TINY = dict(min_frames=2, max_frames=3, height=16, width=8)


def load(root, layout):
    """Return torchreid's (train, query, gallery) lists for ``layout`` under ``root``."""
    dm = torchreid.data.VideoDataManager(
        root=root, sources=layout, height=32, width=16, workers=0, use_gpu=False,
        batch_size_train=2, batch_size_test=2, seq_len=4)
    test = dm.test_dataset[layout]
    return dm.train_loader.dataset.train, test['query'], test['gallery']


def stats(items):
    return len({i[1] for i in items}), len(items), {i[2] for i in items}


def files_of(folder):
    return sorted(str(p.relative_to(folder)) for p in Path(folder).rglob('*') if p.is_file())


def same_files(a, b):
    names = files_of(a)
    return names == files_of(b) and all(
        filecmp.cmp(Path(a, n), Path(b, n), shallow=False) for n in names)


@pytest.mark.parametrize('fixture, layout, config', [
    ('tiny_prid2011_root', 'prid2011', TINY_PRID2011),
    ('tiny_ilidsvid_root', 'ilidsvid', TINY_ILIDSVID),
])
def test_two_camera_layouts_load_with_query_cam0_gallery_cam1(request, fixture, layout, config):
    train, query, gallery = load(request.getfixturevalue(fixture), layout)
    half = config.ids // 2
    assert stats(train) == (config.ids - half, 2 * (config.ids - half), {0, 1})
    assert stats(query) == (half, half, {0})
    assert stats(gallery) == (half, half, {1})
    for paths, _, _, _ in train + query + gallery:
        assert config.min_frames <= len(paths) <= config.max_frames
    image = Image.open(query[0][0][0])
    assert image.size == (config.width, config.height) and image.mode == 'RGB'


def test_prid2011_splits_are_ten_seeded_halves(tiny_prid2011_root):
    splits = json.loads(Path(tiny_prid2011_root, 'prid2011', 'splits_prid2011.json').read_text())
    assert len(splits) == 10
    everyone = {f'person_{i:04d}' for i in range(1, 9)}
    for split in splits:
        assert len(split['test']) == len(split['train']) == 4
        assert set(split['test']) | set(split['train']) == everyone
    assert len({tuple(s['test']) for s in splits}) > 1


def test_ilidsvid_mat_and_splits_json_agree(tiny_ilidsvid_root):
    folder = Path(tiny_ilidsvid_root, 'ilids-vid')
    ls_set = loadmat(folder / 'train-test people splits' / 'train_test_splits_ilidsvid.mat')['ls_set']
    assert ls_set.shape == (10, 8)
    splits = json.loads((folder / 'splits.json').read_text())
    for row, split in zip(ls_set, splits):
        assert sorted(row) == list(range(1, 9))  # 1-based person indices
        assert split['test'] == [f'person{int(i):03d}' for i in sorted(row[:4])]
        assert split['train'] == [f'person{int(i):03d}' for i in sorted(row[4:])]


def test_ilidsvid_with_300_ids_leaves_the_split_to_torchreid(tmp_path):
    config = SyntheticConfig(ids=300, min_frames=1, max_frames=1, height=16, width=8)
    make_synthetic_dataset('ilidsvid', str(tmp_path), config)
    assert not (tmp_path / 'ilids-vid' / 'splits.json').exists()
    train, query, gallery = load(str(tmp_path), 'ilidsvid')  # torchreid builds splits.json from the .mat
    assert stats(train)[:2] == (150, 300) and stats(query)[:2] == stats(gallery)[:2] == (150, 150)


def test_mars_loads_with_distractors_kept_and_junk_dropped(tiny_mars_root):
    train, query, gallery = load(tiny_mars_root, 'mars')
    c, k = TINY_MARS.cameras, TINY_MARS.tracklets_per_camera
    assert stats(train) == (3, 3 * c * k, set(range(c)))
    assert stats(query) == (3, 3 * c, set(range(c)))  # one query per test identity and camera
    gallery_ids = {g[1] for g in gallery}
    assert 0 in gallery_ids and -1 not in gallery_ids
    assert sum(g[1] == 0 for g in gallery) == TINY_MARS.distractors
    assert len(gallery) == 3 * c * (k - 1) + TINY_MARS.distractors
    track_test = loadmat(Path(tiny_mars_root, 'mars', 'info', 'tracks_test_info.mat'))['track_test_info']
    assert (track_test[:, 2] == -1).sum() == TINY_MARS.junk
    assert set(track_test[:, 3]) == set(range(1, c + 1))
    for paths, pid, camid, _ in query:
        assert any(g[1] == pid and g[2] != camid for g in gallery)
        name = os.path.basename(paths[0])
        assert int(name[:4]) == pid and int(name[5]) == camid + 1 and name.endswith('.jpg')


def test_mars_one_tracklet_per_camera_holds_one_camera_out_of_query(tmp_path):
    config = SyntheticConfig(ids=4, cameras=3, **TINY)
    make_synthetic_dataset('mars', str(tmp_path), config)
    _, query, gallery = load(str(tmp_path), 'mars')
    assert len(query) == 2 * (3 - 1) and len(gallery) == 2
    for _, pid, camid, _ in query:
        assert any(g[1] == pid and g[2] != camid for g in gallery)


@pytest.mark.parametrize('layout, config', [
    ('prid2011', SyntheticConfig(ids=3, **TINY)),
    ('mars', SyntheticConfig(ids=4, cameras=2, tracklets_per_camera=2, distractors=1, junk=1, **TINY)),
])
def test_seed_reproduces_files_byte_for_byte(tmp_path, layout, config):
    a = make_synthetic_dataset(layout, str(tmp_path / 'a'), config)
    b = make_synthetic_dataset(layout, str(tmp_path / 'b'), config)
    c = make_synthetic_dataset(layout, str(tmp_path / 'c'), config.replace(seed=1))
    assert same_files(a, b)
    assert files_of(a) != files_of(c) or not same_files(a, c)


def test_an_identity_does_not_depend_on_how_many_are_generated(tmp_path):
    small = make_synthetic_dataset('prid2011', str(tmp_path / 's'), SyntheticConfig(ids=2, **TINY))
    large = make_synthetic_dataset('prid2011', str(tmp_path / 'l'), SyntheticConfig(ids=4, **TINY))
    person = Path('prid_2011', 'multi_shot', 'cam_b', 'person_0002')
    assert same_files(Path(small, person), Path(large, person))


@pytest.mark.parametrize('options, name', [
    (dict(ids=0), 'ids'),
    (dict(ids=-3), 'ids'),
    (dict(cameras=1), 'cameras'),
    (dict(min_frames=5, max_frames=4), 'min_frames'),
    (dict(min_frames=0), 'min_frames'),
    (dict(height=4), 'height'),
])
def test_bad_config_raises_naming_the_option(options, name):
    with pytest.raises(ValueError, match=name):
        SyntheticConfig(**options)


@pytest.mark.parametrize('layout, options, name', [
    ('mars', dict(cameras=7), 'cameras'),
    ('prid2011', dict(cameras=3), 'cameras'),
    ('ilidsvid', dict(tracklets_per_camera=2), 'tracklets_per_camera'),
    ('prid2011', dict(junk=1), 'junk'),
    ('mars', dict(ids=3, cameras=2), 'query'),  # a single query would break torchreid's squeeze
    ('market1501', dict(), 'layout'),
])
def test_bad_options_for_a_layout_raise_naming_the_option(tmp_path, layout, options, name):
    with pytest.raises(ValueError, match=name):
        make_synthetic_dataset(layout, str(tmp_path), SyntheticConfig(**TINY, **options))
    assert not any(tmp_path.iterdir())


def test_existing_folder_is_kept_unless_overwrite(tmp_path):
    config = SyntheticConfig(ids=2, **TINY)
    folder = make_synthetic_dataset('prid2011', str(tmp_path), config)
    with pytest.raises(FileExistsError, match='overwrite'):
        make_synthetic_dataset('prid2011', str(tmp_path), config.replace(seed=5))
    assert json.loads(Path(folder, INFO_FILE).read_text())['config']['seed'] == 0
    make_synthetic_dataset('prid2011', str(tmp_path), config.replace(seed=5), overwrite=True)
    assert json.loads(Path(folder, INFO_FILE).read_text())['config']['seed'] == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ['prid2011']


def test_cli_writes_the_layout(tmp_path):
    args = ['--layout', 'mars', '--root', str(tmp_path), '--ids', '4', '--cameras', '3',
            '--tracklets-per-camera', '2', '--junk', '1', '--distractors', '1', '--min-frames', '2',
            '--max-frames', '3', '--height', '16', '--width', '8', '--seed', '3']
    done = subprocess.run([sys.executable, str(TOOL), *args], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert 'mars' in done.stdout
    info = json.loads((tmp_path / 'mars' / INFO_FILE).read_text())
    assert info['config']['cameras'] == 3 and info['config']['seed'] == 3
    assert (tmp_path / 'mars' / 'info' / 'query_IDX.mat').exists()


def test_cli_refuses_bad_options_and_existing_folders(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location('make_synthetic_data', TOOL)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    assert tool.main(['--layout', 'mars', '--root', str(tmp_path), '--cameras', '7']) == 2
    assert 'cameras=7' in capsys.readouterr().err
    tiny = ['--ids', '2', '--min-frames', '1', '--max-frames', '1', '--height', '16', '--width', '8']
    assert tool.main(['--layout', 'prid2011', '--root', str(tmp_path), *tiny]) == 0
    assert tool.main(['--layout', 'prid2011', '--root', str(tmp_path), *tiny]) == 2
    assert 'overwrite' in capsys.readouterr().err
    assert tool.main(['--layout', 'prid2011', '--root', str(tmp_path), '--overwrite', *tiny]) == 0


def test_cameras_change_how_a_person_looks(tmp_path):
    folder = make_synthetic_dataset('prid2011', str(tmp_path), SyntheticConfig(ids=2, **TINY))
    cams = [np.asarray(Image.open(Path(folder, 'prid_2011', 'multi_shot', c, 'person_0001', '0001.png')))
            for c in ('cam_a', 'cam_b')]
    assert np.abs(cams[0].astype(int) - cams[1]).mean() > 5

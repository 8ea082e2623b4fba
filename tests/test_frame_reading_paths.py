"""Every loader dal-train builds reads a frame once: torchreid's own items, no endless retry."""
import json
import os
import os.path as osp
import shutil

import numpy as np
import pytest
import torch

import torchreid

from dal_torchreid.data.datamanager import (
    DataLayoutError, FrameReadingVideoDataset, build_video_datamanager, registered_video_datasets
)
from dal_torchreid.data.frame_reading import BadFrameError

from cli_helpers import deadline, error_lines, log_text, run_train, tiny_options

KWARGS = dict(sources='prid2011', height=32, width=16, workers=0, use_gpu=False,
              transforms=[], batch_size_train=2, batch_size_test=1, seq_len=4)


@pytest.fixture
def prid_copy(tiny_prid2011_root, tmp_path):
    root = tmp_path / 'data'
    shutil.copytree(tiny_prid2011_root, root)
    return root


@pytest.mark.parametrize('sample_method', ['evenly', 'random', 'all'])
def test_loaders_return_torchreids_items(tiny_prid2011_root, sample_method):
    ours = build_video_datamanager(root=tiny_prid2011_root, sample_method=sample_method, **KWARGS)
    theirs = torchreid.data.VideoDataManager(root=tiny_prid2011_root,
                                             sample_method=sample_method, **KWARGS)
    pairs = [(ours.train_loader, theirs.train_loader)] + [
        (ours.test_loader['prid2011'][s], theirs.test_loader['prid2011'][s])
        for s in ('query', 'gallery')]
    for mine, torchreids in pairs:
        assert isinstance(mine.dataset, FrameReadingVideoDataset)
        assert type(mine.sampler) is type(torchreids.sampler)
        assert (mine.batch_size, mine.drop_last) == (torchreids.batch_size, torchreids.drop_last)
        assert len(mine.dataset) == len(torchreids.dataset)
        for i in range(len(mine.dataset)):
            np.random.seed(i)
            a = mine.dataset[i]
            np.random.seed(i)
            b = torchreids.dataset[i]
            assert torch.equal(a['img'], b['img'])
            assert (a['pid'], a['camid'], a['dsetid']) == (b['pid'], b['camid'], b['dsetid'])


def split_people(root):
    """(a training person, a test person) of split 0."""
    with open(osp.join(str(root), 'prid2011', 'splits_prid2011.json')) as f:
        split = json.load(f)[0]
    return split['train'][0], split['test'][0]


def test_supervised_training_with_a_text_file_frame_stops_naming_it(prid_copy, tmp_path, capsys):
    trainset = torchreid.data.VideoDataManager(root=prid_copy, **KWARGS).train_loader.dataset
    bad = trainset.train[0][0][0]  # every epoch samples the first frame ('evenly')
    with open(bad, 'w') as f:
        f.write('not an image\n')
    save_dir = tmp_path / 'log'
    code, out, err = run_train(tiny_options(
        prid_copy, save_dir, 'train.batch_size', '4', 'video.train_sample_method', 'evenly',
        'video.seq_len', '4', 'train.max_epoch', '1', options=('--engine', 'softmax')),
        capsys, seconds=30)
    assert code == 2
    assert error_lines(err) == [f'error: frame "{bad}" cannot be read: '
                                f'cannot identify image file \'{bad}\'']
    assert 'Will redo' not in out + err
    log = log_text(save_dir)
    assert error_lines(log) == error_lines(err)  # the error reaches train.log
    assert len(log) < 20000


@pytest.mark.parametrize('skip', [False, True])
def test_torchreids_test_path_reads_a_zero_byte_frame_once(prid_copy, tmp_path, capsys, skip):
    _, tested = split_people(prid_copy)
    bad = osp.join(str(prid_copy), 'prid2011', 'prid_2011', 'multi_shot', 'cam_b', tested,
                   '0002.png')
    open(bad, 'w').close()
    save_dir = tmp_path / 'log'
    with pytest.warns(UserWarning, match='skipping bad frame') if skip else _no_check():
        code, out, err = run_train(tiny_options(
            prid_copy, save_dir, 'test.evaluate', 'True', 'test.frame_batch_size', '0',
            'data.skip_bad_frames', str(skip)), capsys, seconds=30)
    assert 'Will redo' not in out + err
    if skip:  # the next frame of the tracklet stands in for it
        assert code == 0 and osp.isfile(save_dir / 'results.json')
    else:
        assert code == 2
        assert error_lines(err) == [f'error: frame "{bad}" cannot be read: '
                                    f'cannot identify image file \'{bad}\'']
        assert error_lines(log_text(save_dir, 'test')) == error_lines(err)


class _no_check:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_fast_test_path_follows_skip_bad_frames(prid_copy):
    dm = build_video_datamanager(root=prid_copy, sample_method='all', skip_bad_frames=True,
                                 **dict(KWARGS, seq_len=15))
    from engine_helpers import tiny_engine
    bad = dm.test_loader['prid2011']['query'].dataset.data[0][0][0]
    open(bad, 'w').close()
    engine = tiny_engine(dm, eval_frame_batch_size=16)
    with deadline(60), pytest.warns(UserWarning, match=f'skipping bad frame: frame "{bad}"'):
        engine.test(ranks=[1])
    assert 0 <= engine.test_results['prid2011']['cmc'][0] <= 1


def test_strict_reading_raises_bad_frame_error_in_the_training_loader(prid_copy):
    dm = build_video_datamanager(root=prid_copy, sample_method='evenly', **KWARGS)
    paths = dm.train_loader.dataset.data[0][0]
    for path in paths:
        open(path, 'w').close()
    with deadline(30), pytest.raises(BadFrameError, match=paths[0]):
        dm.train_loader.dataset[0]


def test_empty_tracklet_folder_is_named(prid_copy):
    trained, _ = split_people(prid_copy)
    folder = osp.join(str(prid_copy), 'prid2011', 'prid_2011', 'multi_shot', 'cam_b', trained)
    for name in os.listdir(folder):
        os.remove(osp.join(folder, name))
    with pytest.raises(DataLayoutError) as caught:
        build_video_datamanager(root=prid_copy, **KWARGS)
    first = str(caught.value).splitlines()[0]
    assert first == f'tracklet folder "{folder}" holds no frames'


def test_unknown_data_set_is_refused_before_any_data_is_read(tmp_path, capsys):
    assert 'prid2011' in registered_video_datasets()
    save_dir = tmp_path / 'log'
    code, _, err = run_train(tiny_options(tmp_path / 'no-data', save_dir, 'data.sources',
                                          "['nosuchset']"), capsys)
    assert code == 2
    assert error_lines(err) == [
        f'error: command line: data.sources must be among torchreid\'s video data sets '
        f'{registered_video_datasets()}, got \'nosuchset\', nor is it a tracklet data set '
        f'under data.root "{tmp_path / "no-data"}": "{tmp_path / "no-data" / "nosuchset" / "manifest.csv"}" '
        'does not exist (dal-make-tracklets --root ROOT --name NAME writes one)']
    assert not osp.exists(save_dir)  # refused before the run started

"""Runs that must do what the user asked or stop with one line: test-only resumes, resumes
past the last epoch, duplicate YAML keys, 16-bit frames, split files and data set names
that do not hold, warnings about runs that cannot mean what they say, progress lines."""
import json
import os
import re
import warnings

import numpy as np
import pytest
from PIL import Image

from dal_torchreid.cli import run_splits
from dal_torchreid.data.frame_reading import BadFrameError, read_frame

from cli_helpers import one_error, run_train, tiny_options


@pytest.fixture(scope='module')
def trained(tiny_prid2011_root, tmp_path_factory):
    """Two DAL epochs on split 0 of the tiny PRID2011 set: (save_dir, results record)."""
    from dal_torchreid.cli import train as train_tool
    save_dir = tmp_path_factory.mktemp('trained')
    assert train_tool.main(tiny_options(tiny_prid2011_root, save_dir, 'train.max_epoch', '2')) == 0
    with open(save_dir / 'results.json') as f:
        return save_dir, json.load(f)



def splits_file(root):
    return root / 'prid2011' / 'splits_prid2011.json'


def edit_splits(root, edit):
    path = splits_file(root)
    splits = json.loads(path.read_text())
    edit(splits)
    path.write_text(json.dumps(splits))



def test_test_only_with_resume_scores_the_checkpoint(trained, tiny_prid2011_root, tmp_path,
                                                     capsys):
    save_dir, record = trained
    checkpoint = save_dir / 'model' / 'checkpoint-latest.pth.tar'
    code, out, err = run_train(tiny_options(tiny_prid2011_root, tmp_path / 'test',
                                            'test.evaluate', 'True', 'model.resume', checkpoint),
                               capsys)
    assert code == 0, err
    with open(tmp_path / 'test' / 'results.json') as f:
        tested = json.load(f)
    assert f'Loaded "{checkpoint}" (epoch 2)' in out
    assert tested['targets']['prid2011']['cmc'] == record['targets']['prid2011']['cmc']
    assert tested['targets']['prid2011']['mAP'] == record['targets']['prid2011']['mAP']
    assert tested['init_weights'] == str(checkpoint) and tested['epochs'] == 0


@pytest.mark.parametrize('max_epoch', ['1', '2'])
def test_resume_at_or_past_max_epoch_is_refused(trained, tiny_prid2011_root, tmp_path, capsys,
                                                max_epoch):
    checkpoint = trained[0] / 'model' / 'checkpoint-latest.pth.tar'
    save_dir = tmp_path / 'resumed'
    code, out, err = run_train(tiny_options(tiny_prid2011_root, save_dir, 'train.max_epoch',
                                            max_epoch, 'model.resume', checkpoint), capsys)
    line = one_error(code, err)
    assert line == (f'error: model.resume: checkpoint "{checkpoint}" was written after epoch 2; '
                    f'train.max_epoch {max_epoch} leaves nothing to train (raise '
                    'train.max_epoch, or evaluate it with test.evaluate True)')
    assert not (save_dir / 'results.json').exists()
    assert not (save_dir / 'model').exists()


def test_resume_records_the_epochs_and_weights_it_trained(trained, tiny_prid2011_root,
                                                          tmp_path, capsys):
    checkpoint = trained[0] / 'model' / 'checkpoint-latest.pth.tar'
    save_dir = tmp_path / 'resumed'
    code, _, err = run_train(tiny_options(tiny_prid2011_root, save_dir, 'train.max_epoch', '3',
                                          'model.resume', checkpoint), capsys)
    assert code == 0, err
    record = json.loads((save_dir / 'results.json').read_text())
    # every segment counts: 2 epochs before the checkpoint, 1 after
    assert record['epochs'] == 3 and record['resumed_from_epoch'] == 2
    assert record['frames_seen'] == trained[1]['frames_seen'] * 3 // 2 > 0
    assert record['init_weights'] == str(checkpoint)
    assert sorted(os.listdir(save_dir / 'model')) == ['checkpoint-latest.pth.tar',
                                                      'model.pth.tar-3']


def test_duplicate_yaml_key_is_named_with_its_file(tiny_prid2011_root, tmp_path, capsys):
    config = tmp_path / 'twice.yaml'
    config.write_text('train:\n  stepsize: [5]\n  print_freq: 3\nmodel:\n  name: resnet18\n'
                      'train:\n  lr: 0.01\n')
    code, _, err = run_train(['--config-file', config] + tiny_options(tiny_prid2011_root,
                                                                      tmp_path / 'log'), capsys)
    line = one_error(code, err)
    assert line.startswith(f'error: config file "{config}": key "train" appears twice')
    assert 'line 6' in line


def test_duplicate_nested_yaml_key_is_named(tmp_path):
    from dal_torchreid.experiment.config import ConfigError, load_config
    config = tmp_path / 'twice.yaml'
    config.write_text('train:\n  lr: 0.1\n  lr: 0.2\n')
    with pytest.raises(ConfigError, match=r'key "train.lr" appears twice'):
        load_config(str(config))


def test_16_bit_frames_are_scaled_to_8_bits(tmp_path):
    values = np.array([[0, 0x00ff, 0x0100, 0x8000], [0x80ff, 0xfeff, 0xff00, 0xffff]],
                      dtype=np.uint16)
    path = tmp_path / 'frame16.png'
    Image.fromarray(values).save(path)
    assert Image.open(path).mode == 'I;16'
    img = np.asarray(read_frame(str(path)))
    assert img.shape == (2, 4, 3)
    assert img[..., 0].tolist() == [[0, 0, 1, 128], [128, 254, 255, 255]]
    assert (img[..., 0] == img[..., 1]).all() and (img[..., 1] == img[..., 2]).all()


def test_frames_of_other_depths_are_refused_naming_the_file(tmp_path):
    path = tmp_path / 'frame32.tif'
    Image.fromarray(np.full((4, 4), 1.5, dtype=np.float32)).save(path)
    with pytest.raises(BadFrameError, match=rf'frame "{path}" has PIL mode "F"'):
        read_frame(str(path))


def test_overlapping_train_and_test_people_are_refused(prid_copy, tmp_path, capsys):
    def overlap(splits):
        splits[0]['train'].append(splits[0]['test'][0])
    edit_splits(prid_copy, overlap)
    person = json.loads(splits_file(prid_copy).read_text())[0]['test'][0]
    code, _, err = run_train(tiny_options(prid_copy, tmp_path / 'log'), capsys)
    line = one_error(code, err)
    assert f'split 0 of "{splits_file(prid_copy)}"' in line
    assert f"trains and tests the same people: ['{person}']" in line


def test_run_splits_refuses_more_splits_than_a_data_set_has(tiny_mars_root, tmp_path, capsys):
    code = run_splits.main(['--splits', '2'] + tiny_options(
        tiny_mars_root, tmp_path / 'log', 'data.sources', "['mars']", 'data.targets', "['mars']"))
    line = one_error(code, capsys.readouterr().err)
    assert line == 'error: --splits 2: mars has 1 split'
    assert not (tmp_path / 'log' / 'split0').exists()


def test_a_data_set_named_twice_is_refused(tiny_prid2011_root, tmp_path, capsys):
    code, _, err = run_train(tiny_options(tiny_prid2011_root, tmp_path / 'log') +
                             ['-s', 'prid2011', 'prid2011'], capsys)
    line = one_error(code, err)
    assert line == "error: command line: data.sources names 'prid2011' twice"


@pytest.mark.parametrize('split_id', ['-1', '10'])
def test_split_id_is_range_checked_against_the_split_file(tiny_prid2011_root, tmp_path, capsys,
                                                          split_id):
    code, _, err = run_train(tiny_options(tiny_prid2011_root, tmp_path / 'log',
                                          'data.split_id', split_id), capsys)
    line = one_error(code, err)
    path = os.path.join(tiny_prid2011_root, 'prid2011', 'splits_prid2011.json')
    assert line == (f'error: data.split_id {split_id}: "{path}" holds 10 splits, '
                    'so it must be in [0, 9]')


def test_warmup_past_the_last_epoch_warns(tiny_prid2011_root, tmp_path, capsys):
    with warnings.catch_warnings():
        warnings.filterwarnings('error', message='dal.warmup_epochs')  # stop before training
        with pytest.raises(UserWarning, match=r'dal.warmup_epochs 5 >= train.max_epoch 1: '
                                              'cross-camera association never starts'):
            run_train(tiny_options(tiny_prid2011_root, tmp_path / 'log', 'dal.warmup_epochs', '5',
                                   'train.max_epoch', '1'), capsys)


def test_a_small_gallery_warns_and_sizes_are_recorded(prid_copy, tmp_path, capsys):
    def one_test_person(splits):
        splits[0]['test'] = splits[0]['test'][:1]
    edit_splits(prid_copy, one_test_person)
    with pytest.warns(UserWarning, match=r'prid2011: the gallery holds 1 tracklet of 1 person; '
                                         r'rank-1, rank-5, rank-10 and rank-20 rank the whole'):
        code, _, err = run_train(tiny_options(prid_copy, tmp_path / 'log', 'test.evaluate',
                                              'True', 'test.ranks', '[1, 5, 10, 20]'), capsys)
    assert code == 0, err
    target = json.loads((tmp_path / 'log' / 'results.json').read_text())['targets']['prid2011']
    assert (target['num_query'], target['num_gallery']) == (1, 1)
    assert target['num_gallery_people'] == 1


@pytest.mark.parametrize('engine', ['dal', 'softmax'])
def test_progress_lines_every_epoch_whatever_print_freq(tiny_prid2011_root, tmp_path, capsys,
                                                        engine):
    one_epoch = ['train.supervised_epochs', '1'] if engine == 'softmax' else []
    code, out, err = run_train(tiny_options(
        tiny_prid2011_root, tmp_path / 'log', 'train.print_freq', '1000', 'train.max_epoch', '1',
        'video.train_sample_method', 'evenly', 'video.seq_len', '4', *one_epoch,
        options=('--engine', engine)), capsys)
    assert code == 0, err
    assert len(re.findall(r'^epoch: \[1/1\]', out, re.M)) >= 1

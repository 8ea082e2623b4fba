"""Every user error of the tools is one line naming the file, key or value, exit code 2,
no traceback: split files, config files, save_dir, impossible settings, data sets,
a full disk, directories given for files."""
import json
import os
import resource
import shutil
import subprocess
import sys

import pytest

import torchreid

from dal_torchreid.cli import make_synthetic_data
from dal_torchreid.experiment.config import ConfigError, load_config
from dal_torchreid.engine import VideoDALEngine

from cli_helpers import TRAIN, error_lines, one_error, run_train, subprocess_env, tiny_options




@pytest.mark.parametrize('text, expected', [
    ('[{"train": ["person_0001"], "te', 'is not valid JSON'),
    ('', 'is not valid JSON'),
    ('{"0": {"train": [], "test": []}}', 'must hold a list of {"train": [...], "test": [...]}'),
    ('[{"train": ["person_0001"]}]', 'must hold a list of {"train": [...], "test": [...]}'),
], ids=['truncated', 'empty', 'dict', 'no-test'])
def test_a_broken_split_file_is_named(prid_copy, tmp_path, capsys, text, expected):
    path = prid_copy / 'prid2011' / 'splits_prid2011.json'
    path.write_text(text)
    code, _, err = run_train(tiny_options(prid_copy, tmp_path / 'log'), capsys)
    line = one_error(code, err)
    assert line.startswith(f'error: split file "{path}"') and expected in line, line


def test_a_split_naming_an_absent_person_is_named(prid_copy, tmp_path, capsys):
    path = prid_copy / 'prid2011' / 'splits_prid2011.json'
    splits = json.loads(path.read_text())
    splits[0]['test'].append('person_0099')
    path.write_text(json.dumps(splits))
    code, _, err = run_train(tiny_options(prid_copy, tmp_path / 'log'), capsys)
    line = one_error(code, err)
    folder = prid_copy / 'prid2011' / 'prid_2011' / 'multi_shot' / 'cam_a' / 'person_0099'
    assert line == (f'error: split 0 of "{path}" names person "person_0099", but folder '
                    f'"{folder}" does not exist')


def test_an_ilidsvid_root_without_a_camera_is_named(tiny_ilidsvid_root, tmp_path, capsys):
    root = tmp_path / 'data'
    shutil.copytree(tiny_ilidsvid_root, root)
    cam2 = root / 'ilids-vid' / 'i-LIDS-VID' / 'sequences' / 'cam2'
    shutil.rmtree(cam2)
    code, _, err = run_train(tiny_options(root, tmp_path / 'log', 'data.sources', "['ilidsvid']",
                                          'data.targets', "['ilidsvid']"), capsys)
    line = one_error(code, err)
    assert f'camera folder "{cam2}" does not exist' in line


def test_a_config_file_holding_a_list_is_refused(tmp_path):
    config = tmp_path / 'list.yaml'
    config.write_text('- model\n- data\n')
    with pytest.raises(ConfigError, match=rf'^config file "{config}": must hold a mapping of '
                                          r'sections \(model:, data:, \.\.\.\), got a list$'):
        load_config(str(config))


def test_a_binary_config_file_is_refused(tmp_path, capsys):
    config = tmp_path / 'weights.yaml'
    config.write_bytes(bytes(range(256)))
    code, _, err = run_train(['--config-file', config, 'data.save_dir', tmp_path / 'log'], capsys)
    line = one_error(code, err)
    assert line == f'error: config file "{config}": not a UTF-8 text (YAML) file'


def test_a_directory_given_for_a_file_is_named(tiny_prid2011_root, tmp_path, capsys):
    folder = tmp_path / 'folder'
    folder.mkdir()
    code, _, err = run_train(['--config-file', folder, 'data.save_dir', tmp_path / 'l1'], capsys)
    assert one_error(code, err) == f'error: config file "{folder}" is a directory, not a file'
    for key in ('model.load_weights', 'model.resume'):
        code, _, err = run_train(tiny_options(tiny_prid2011_root, tmp_path / key, key, folder),
                                 capsys)
        line = one_error(code, err)
        assert line.startswith(f'error: {key}: ') and line.endswith(
            f' "{folder}" is a directory, not a file'), line


def _a_file(tmp_path):
    path = tmp_path / 'taken'
    path.write_text('a file')
    return path, 'is a file, not a folder'


def _under_a_file(tmp_path):
    path, _ = _a_file(tmp_path)
    return path / 'log', 'cannot be created'


@pytest.mark.parametrize('case', [_a_file, _under_a_file])
def test_an_unusable_save_dir_is_one_line(tiny_prid2011_root, tmp_path, capsys, case):
    save_dir, expected = case(tmp_path)
    code, _, err = run_train(tiny_options(tiny_prid2011_root, save_dir), capsys)
    line = one_error(code, err)
    assert line.startswith(f'error: data.save_dir "{save_dir}" {expected}'), line


def test_an_empty_save_dir_is_refused():
    with pytest.raises(ConfigError, match=r'data.save_dir must name a folder, got \'\''):
        load_config(None, ['data.save_dir', ''])


@pytest.mark.skipif(os.geteuid() == 0, reason='root writes into read-only folders')
def test_a_read_only_save_dir_is_one_line(tiny_prid2011_root, tmp_path, capsys):
    save_dir = tmp_path / 'ro'
    save_dir.mkdir()
    save_dir.chmod(0o555)
    code, _, err = run_train(tiny_options(tiny_prid2011_root, save_dir), capsys)
    assert one_error(code, err).startswith(f'error: data.save_dir "{save_dir}" cannot be')


@pytest.mark.parametrize('opts, expected', [
    (['train.amp', 'fp16', 'use_gpu', 'False'],
     'command line: train.amp "fp16" needs CUDA; use "bf16" on the CPU'),
    (['train.fixbase_epoch', '1'],
     "command line: train.fixbase_epoch 1 would train nothing: train.open_layers "
     "['classifier'] names only the classifier, which the label-free engines never train "
     '(name backbone layers in train.open_layers, or set train.fixbase_epoch 0)'),
], ids=['fp16-cpu', 'fixbase'])
def test_settings_the_engine_cannot_run_are_refused_at_validation(opts, expected):
    with pytest.raises(ConfigError) as caught:
        load_config(None, opts)
    assert str(caught.value) == expected


def test_a_batch_larger_than_the_training_set_is_one_line(tiny_prid2011_root, tmp_path, capsys):
    code, _, err = run_train(tiny_options(tiny_prid2011_root, tmp_path / 'log',
                                          'train.batch_size', '100000'), capsys)
    line = one_error(code, err)
    assert line.startswith('error: an epoch of the dal engine forms no batch of 100000 frames')


def test_the_dal_engine_refuses_an_image_data_manager():
    datamanager = object.__new__(torchreid.data.ImageDataManager)
    with pytest.raises(ValueError, match=r'VideoDALEngine trains on video data: got an '
                                         r'ImageDataManager'):
        VideoDALEngine(datamanager, None, None)


def test_a_truncated_mars_mat_file_is_named(tiny_mars_root, tmp_path, capsys):
    root = tmp_path / 'data'
    shutil.copytree(tiny_mars_root, root)
    mat = root / 'mars' / 'info' / 'tracks_train_info.mat'
    mat.write_bytes(mat.read_bytes()[:100])
    code, _, err = run_train(tiny_options(root, tmp_path / 'log', 'data.sources', "['mars']",
                                          'data.targets', "['mars']"), capsys)
    line = one_error(code, err)
    assert line.startswith(f'error: mars file "{mat}" cannot be read: '), line


def test_an_input_too_small_for_the_backbone_is_refused(tiny_prid2011_root, tmp_path, capsys):
    code, _, err = run_train(tiny_options(tiny_prid2011_root, tmp_path / 'log', 'data.height', '1',
                                          'data.width', '1', 'model.name', 'osnet_x0_25'), capsys)
    line = one_error(code, err)
    assert line.startswith('error: data.height 1, data.width 1: too small for model.name '
                           'osnet_x0_25 ('), line


def test_a_full_disk_is_one_line(tiny_prid2011_root, tmp_path):
    # a checkpoint of resnet18 is ~45 MB: a 1 MB file size limit stops the first one
    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (2 ** 20, 2 ** 20))
    save_dir = tmp_path / 'log'
    done = subprocess.run([sys.executable, TRAIN, *tiny_options(tiny_prid2011_root, save_dir,
                                                                'train.max_epoch', '1')],
                          env=subprocess_env(), preexec_fn=limit, capture_output=True,
                          text=True, timeout=300)
    line = one_error(done.returncode, done.stderr)
    assert line.startswith(f'error: cannot write "{save_dir / "model"}'), line
    assert 'File too large' in line
    assert not (save_dir / 'results.json').exists()


def test_a_default_key_is_not_blamed_on_the_config_file(tmp_path):
    config = tmp_path / 'triplet.yaml'
    config.write_text('train:\n  batch_size: 8\nvideo:\n  seq_len: 8\n')
    with pytest.raises(ConfigError) as caught:
        load_config(str(config), ['loss.name', 'triplet'])
    assert str(caught.value).startswith('default config: sampler.num_instances must be in '
                                        '[1, 1]')


def test_make_synthetic_exits_2_on_a_user_error(tmp_path, capsys):
    assert make_synthetic_data.main(['--layout', 'prid2011', '--root', str(tmp_path),
                                     '--ids', '1']) == 2
    [line] = error_lines(capsys.readouterr().err)
    assert 'ids' in line


def test_the_demo_exits_2_on_a_user_error(tmp_path, capsys):
    from dal_torchreid.cli import demo
    missing = tmp_path / 'missing.yaml'
    assert demo.main(['--root', str(tmp_path), '--save-dir', str(tmp_path / 'log'),
                      '--config-file', str(missing)]) == 2
    assert error_lines(capsys.readouterr().err) == [f'error: config file "{missing}" does not exist']

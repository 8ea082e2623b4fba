"""A run does what its settings say or refuses them: the supervised budget counts the
frames it trains, unknown transforms and settings the engine would ignore are refused
(or, from a config file written for another engine, reset with a warning), and
Cluster Contrast refuses cross-camera clustering of a one-camera training set."""
import re

import pytest
import torchreid

from dal_torchreid.experiment.budget import BudgetError, dal_frames_per_epoch
from dal_torchreid.experiment.builder import build_datamanager
from dal_torchreid.cli.console import INPUT_ERRORS
from dal_torchreid.cluster import CrossCameraError
from dal_torchreid.experiment.config import ConfigError, load_config
from dal_torchreid.engine import VideoClusterContrastEngine
from dal_torchreid.experiment.run import run_experiment

from cli_helpers import one_error, run_train, tiny_options
from engine_helpers import tiny_datamanager, tiny_model


def tiny_config(root, save_dir, *extra):
    return load_config(None, tiny_options(root, save_dir, *extra)[2:] + ['data.root', str(root)])


def test_whole_tracklet_clips_count_their_frames_in_the_budget(tiny_prid2011_root, tmp_path,
                                                                capsys):
    cfg = tiny_config(tiny_prid2011_root, tmp_path, 'loss.name', 'softmax', 'video.seq_len', 8,
                      'video.train_sample_method', 'all', 'train.max_epoch', 2)
    datamanager = build_datamanager(cfg)
    tracklets = [paths for paths, *_ in datamanager.train_loader.dataset.data]
    per_epoch = sum(len(paths) for paths in tracklets)  # one whole tracklet a batch
    budget = dal_frames_per_epoch(cfg, datamanager) * 2
    capsys.readouterr()
    record = run_experiment(cfg)
    assert re.findall(r'=> (\d+) training frames per epoch', capsys.readouterr().out) == [
        str(per_epoch)]
    assert record['frames_seen'] == record['epochs'] * per_epoch
    assert abs(record['frames_seen'] - budget) <= per_epoch / 2  # the nearest whole epochs


def test_a_budget_no_supervised_epoch_comes_near_is_refused(tiny_prid2011_root, tmp_path):
    # 128 frames a step: a DAL epoch of the tiny set (48-80 frames) forms no batch, one
    # softmax epoch is a batch of 8 clips of 16 frames
    cfg = tiny_config(tiny_prid2011_root, tmp_path, 'loss.name', 'softmax', 'train.batch_size',
                      128, 'video.seq_len', 16, 'video.train_sample_method', 'evenly',
                      'train.max_epoch', 1)
    with pytest.raises(BudgetError) as caught:
        run_experiment(cfg)
    assert str(caught.value).startswith("DAL's frame budget is 0 frames (train.max_epoch 1 DAL "
                                        'epochs of 0 frames in whole batches of '
                                        'train.batch_size 128), less than half of one softmax '
                                        'epoch (128 frames)')
    assert BudgetError in INPUT_ERRORS
    assert not (tmp_path / 'results.json').exists()


def test_an_unknown_transform_is_refused():
    with pytest.raises(ConfigError) as caught:
        load_config(None, ['data.transforms', ['random_flip', 'ranodm_flip']])
    assert str(caught.value) == (
        "command line: data.transforms must name torchreid transforms among ['random_flip', "
        "'random_crop', 'random_patch', 'color_jitter', 'random_erase'] (torchreid skips any "
        "other), got ['random_flip', 'ranodm_flip']")
    assert load_config(None, ['data.transforms', ['Random_Flip']]).data.transforms == [
        'Random_Flip']  # torchreid lower-cases the names


@pytest.mark.parametrize('engine, key, value, readers', [
    ('softmax', 'train.amp', 'fp16', 'dal and cc'), ('softmax', 'train.ema', True, 'dal and cc'),
    ('dal', 'train.supervised_epochs', 3, 'softmax and triplet'),
])
def test_a_setting_the_engine_ignores_is_refused_on_the_command_line(engine, key, value, readers):
    with pytest.raises(ConfigError) as caught:
        load_config(None, ['loss.name', engine, key, value])
    assert str(caught.value) == (f'command line: {key} {value!r}: only the {readers} engines read '
                                 f'it, the {engine} engine would run without it; remove it or '
                                 'choose another engine')


def test_a_config_files_setting_another_engine_ignores_is_reset_with_a_warning(tmp_path):
    path = tmp_path / 'dal.yaml'
    path.write_text('train:\n  ema: true\n  amp: bf16\n')
    with pytest.warns(UserWarning) as caught:
        cfg = load_config(str(path), ['loss.name', 'softmax'])
    said = [str(w.message) for w in caught if 'engines read it' in str(w.message)]
    assert said == [f'config file "{path}": train.amp \'bf16\': only the dal and cc engines read '
                    'it, the softmax engine would run without it; it is reset to \'\' for this run',
                    f'config file "{path}": train.ema True: only the dal and cc engines read it, '
                    'the softmax engine would run without it; it is reset to False for this run']
    assert cfg.train.ema is False and cfg.train.amp == ''  # as the run records it
    assert load_config(str(path)).train.ema is True  # the DAL engine reads it


def test_load_weights_beside_resume_is_refused(tiny_prid2011_root, tmp_path, capsys):
    code, _, err = run_train(tiny_options(tiny_prid2011_root, tmp_path, 'model.load_weights',
                                          'w.pth', 'model.resume', 'c.pth'), capsys)
    assert one_error(code, err) == (
        'error: command line: model.load_weights must be empty when model.resume is set (the '
        "checkpoint's weights replace it); set one of the two, got 'w.pth'")


def test_cross_camera_clustering_of_one_camera_is_refused(tiny_prid2011_root):
    dm = tiny_datamanager(tiny_prid2011_root)
    trainset = dm.train_loader.dataset
    trainset.train = [item for item in trainset.train if item[2] == 0]
    model = tiny_model()
    optimizer = torchreid.optim.build_optimizer(model, optim='adam', lr=3e-4)
    with pytest.raises(CrossCameraError) as caught:
        VideoClusterContrastEngine(dm, model, optimizer, use_gpu=False, batch_size=16, seq_len=2,
                                   clips_per_identity=2, cross_camera=True)
    assert str(caught.value) == (
        'cc.cross_camera True: the training set has 1 camera, so no tracklet has a neighbour in '
        'another camera and every tracklet would be an outlier; set cc.cross_camera False')
    assert CrossCameraError in INPUT_ERRORS  # dal-train: one line, exit code 2
    VideoClusterContrastEngine(dm, model, optimizer, use_gpu=False, batch_size=16, seq_len=2,
                               clips_per_identity=2, cross_camera=False)

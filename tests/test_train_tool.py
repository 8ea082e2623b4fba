"""tools/train.py and dal_torchreid.experiment.builder end to end on a tiny synthetic PRID2011 set."""
import json
import os
import os.path as osp
import subprocess
import sys
import urllib.error

import pytest
import torch

from dal_torchreid.experiment.builder import PretrainedWeightsError, build_model
from dal_torchreid.experiment.run import run_experiment
from dal_torchreid.experiment.config import load_config
from dal_torchreid.data.synthetic import SyntheticConfig, make_synthetic_dataset
from dal_torchreid.experiment.results import read_results

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
RESULT_FIELDS = ('engine', 'backbone', 'epochs', 'seed', 'wall_time_s', 'frames_seen', 'targets')
METRICS = ('rank1', 'rank5', 'rank10', 'rank20', 'mAP')


@pytest.fixture(scope='module')
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp('reid-data')
    make_synthetic_dataset('prid2011', str(root), SyntheticConfig(
        ids=8, min_frames=4, max_frames=6, height=32, width=16))
    return str(root)


def tiny_opts(root, save_dir, *extra):
    return ['data.root', root, 'data.save_dir', str(save_dir), 'data.workers', 0,
            'data.height', 32, 'data.width', 16, 'data.transforms', [],
            'model.name', 'resnet18', 'model.pretrained', False, 'use_gpu', False,
            'video.sample_method', 'all', 'video.seq_len', 4, 'video.train_sample_method', 'random',
            'test.batch_size', 1, 'train.max_epoch', 1, 'train.batch_size', 8,
            'train.print_freq', 100, 'dal.warmup_epochs', 0, *extra]


def check_record(record, engine, epochs):
    for field in RESULT_FIELDS:
        assert field in record, field
    assert record['engine'] == engine and record['backbone'] == 'resnet18'
    assert record['epochs'] == epochs and record['seed'] == 1 and record['wall_time_s'] > 0
    metrics = record['targets']['prid2011']
    for name in METRICS:
        assert 0.0 <= metrics[name] <= 1.0, name
    assert len(metrics['cmc']) >= 1 and metrics['rank1'] == metrics['cmc'][0]
    assert metrics['rank1'] <= metrics['rank5'] <= metrics['rank10'] <= metrics['rank20']


def test_cli_trains_dal_and_writes_results(root, tmp_path):
    save_dir = tmp_path / 'dal'
    env = dict(os.environ, OMP_NUM_THREADS='2')
    proc = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools', 'train.py'), '--root', root, '--engine', 'dal',
         *map(str, tiny_opts(root, save_dir)[2:])],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = read_results(str(save_dir))
    check_record(record, 'dal', epochs=1)
    assert record['frames_seen'] > 0 and record['frames_seen'] % 8 == 0  # whole frame batches
    assert any(name.startswith('train.log') for name in os.listdir(save_dir))
    assert osp.isfile(save_dir / 'model' / 'model.pth.tar-1')


@pytest.mark.parametrize('engine, extra', [
    ('softmax', []), ('triplet', ['sampler.num_instances', 2, 'train.batch_size', 16])])
def test_supervised_engines_train_on_dals_frame_budget(root, tmp_path, engine, extra):
    dal = run_experiment(load_config(None, tiny_opts(root, tmp_path / 'dal', 'train.max_epoch', 2)))
    cfg = load_config(None, tiny_opts(root, tmp_path / engine, 'train.max_epoch', 2,
                                      'loss.name', engine, *extra))
    record = run_experiment(cfg)
    # train.batch_size 8 (16) frames = 2 (4) tracklets of video.seq_len 4 frames per step
    tracklets = sum(1 for name in os.listdir(osp.join(root, 'prid2011', 'prid_2011', 'multi_shot',
                                                      'cam_a')))  # 8 people, 4 train, 2 cameras
    per_epoch = (2 * tracklets // 2) // 2 * 8 if engine == 'softmax' else None
    assert record['frames_seen'] > 0 and record['frames_seen'] % cfg.train.batch_size == 0
    check_record(record, engine, epochs=record['epochs'])
    if per_epoch:  # RandomSampler: whole epochs of 4 batches of 8 frames
        assert record['frames_seen'] == record['epochs'] * per_epoch
        assert abs(record['frames_seen'] - dal['frames_seen']) <= per_epoch / 2
    else:  # RandomIdentitySampler's epochs vary in length
        assert record['config']['sampler']['train_sampler'] == ''
        assert 0.5 * dal['frames_seen'] <= record['frames_seen'] <= 1.5 * dal['frames_seen']
    assert json.load(open(tmp_path / engine / 'results.json'))['engine'] == engine


def test_supervised_epochs_can_be_set(root, tmp_path):
    cfg = load_config(None, tiny_opts(root, tmp_path, 'loss.name', 'softmax',
                                      'train.supervised_epochs', 3))
    assert run_experiment(cfg)['epochs'] == 3


@pytest.mark.parametrize('engine', ['softmax', 'triplet', 'dal'])
def test_an_epoch_without_a_batch_is_refused_before_training(root, tmp_path, engine):
    batch = 64 if engine != 'dal' else 4096
    cfg = load_config(None, tiny_opts(root, tmp_path, 'loss.name', engine, 'train.batch_size', batch,
                                      'sampler.num_instances', 2))
    with pytest.raises(ValueError, match=r'forms no batch|exceeds') as info:
        run_experiment(cfg)
    if engine == 'softmax':
        assert 'train.batch_size 64' in str(info.value) and '8 training tracklets' in str(info.value)
        assert 'RandomSampler' in str(info.value)
    if engine == 'triplet':  # torchreid's sampler needs 8 identities, the set has 4
        assert 'train.batch_size 64' in str(info.value) and 'RandomIdentitySampler' in str(info.value)
    assert not osp.exists(tmp_path / 'results.json')


def test_test_only_untrained_backbone_writes_results(root, tmp_path):
    cfg = load_config(None, tiny_opts(root, tmp_path, 'test.evaluate', True, 'test.visrank', True,
                                      'test.visrank_topk', 3))
    record = run_experiment(cfg)
    check_record(record, 'dal', epochs=0)
    assert record['frames_seen'] == 0 and record['test_only'] and record['init_weights'] == 'random'
    assert osp.isfile(tmp_path / 'results.json')
    assert osp.isdir(tmp_path / 'visrank_prid2011')


def test_test_only_loads_trained_weights(root, tmp_path):
    cfg = load_config(None, tiny_opts(root, tmp_path / 'train', 'train.max_epoch', 1))
    run_experiment(cfg)
    weights = str(tmp_path / 'train' / 'model' / 'model.pth.tar-1')
    cfg = load_config(None, tiny_opts(root, tmp_path / 'test', 'test.evaluate', True,
                                      'model.load_weights', weights, 'test.frame_batch_size', 16))
    record = run_experiment(cfg)
    assert record['init_weights'] == weights and record['epochs'] == 0
    assert 0.0 <= record['targets']['prid2011']['rank1'] <= 1.0


def test_missing_weights_file_names_the_key(tmp_path):
    cfg = load_config(None, ['model.name', 'resnet18', 'model.load_weights', str(tmp_path / 'x.pth')])
    with pytest.raises(FileNotFoundError, match='model.load_weights'):
        build_model(cfg, num_classes=1)


def test_pretrained_download_failure_says_how_to_proceed_offline(monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError('no network')

    monkeypatch.setattr(torch.utils.model_zoo, 'load_url', offline)
    cfg = load_config(None, ['model.name', 'resnet18', 'model.pretrained', True])
    with pytest.raises(PretrainedWeightsError) as info:
        build_model(cfg, num_classes=1)
    message = str(info.value)
    assert 'resnet18-5c106cde.pth' in message and 'checkpoints' in message
    assert 'model.pretrained False' in message and 'model.load_weights' in message


def test_pretrained_weights_torchreid_does_not_download_are_an_error():
    cfg = load_config(None, ['model.name', 'mobilenetv2_x1_4', 'model.pretrained', True])
    with pytest.raises(PretrainedWeightsError, match='model.load_weights'):
        build_model(cfg, num_classes=1)


def test_supervised_learning_rate_steps_scale_with_its_epochs(root, tmp_path):
    from dal_torchreid.experiment.budget import with_supervised_budget
    from dal_torchreid.experiment.builder import build_datamanager
    cfg = load_config(None, tiny_opts(root, tmp_path, 'loss.name', 'softmax', 'train.max_epoch', 4,
                                      'train.stepsize', [2]))
    budget = with_supervised_budget(cfg, build_datamanager(cfg))
    # DAL: 40 frames an epoch (5 batches of 8); softmax: 4 batches of 2 x 4 frames = 32
    assert budget.train.max_epoch == 5 and budget.train.stepsize == [2]
    cfg = load_config(None, tiny_opts(root, tmp_path, 'loss.name', 'softmax', 'train.max_epoch', 8,
                                      'train.stepsize', [4]))
    budget = with_supervised_budget(cfg, build_datamanager(cfg))
    assert budget.train.max_epoch == 10 and budget.train.stepsize == [5]
    fixed = load_config(None, tiny_opts(root, tmp_path, 'loss.name', 'softmax',
                                        'train.supervised_epochs', 3, 'train.stepsize', [4]))
    budget = with_supervised_budget(fixed, build_datamanager(fixed))
    assert budget.train.max_epoch == 3 and budget.train.stepsize == [4]


def test_test_only_evaluates_the_ema_weights_training_evaluated(root, tmp_path, capsys):
    ema = ('train.ema', True, 'train.ema_decay', 0.5)  # an EMA well apart from the weights
    trained = run_experiment(load_config(None, tiny_opts(root, tmp_path / 'train',
                                                         'train.max_epoch', 2, *ema)))
    weights = str(tmp_path / 'train' / 'model' / 'model.pth.tar-2')
    capsys.readouterr()
    tested = run_experiment(load_config(None, tiny_opts(root, tmp_path / 'test', 'test.evaluate',
                                                        True, 'model.load_weights', weights)))
    assert tested['targets'] == trained['targets']
    assert 'its EMA weights, which its evaluation used' in capsys.readouterr().out
    # a per-epoch file (weights only) evaluates through model.resume too
    resumed = run_experiment(load_config(None, tiny_opts(root, tmp_path / 'resumed',
                                                         'test.evaluate', True,
                                                         'model.resume', weights, *ema)))
    assert resumed['targets'] == trained['targets']
    run_experiment(load_config(None, tiny_opts(root, tmp_path / 'live', 'test.evaluate', True,
                                               'model.load_weights', weights,
                                               'model.load_ema', False)))
    assert 'its trained weights' in capsys.readouterr().out

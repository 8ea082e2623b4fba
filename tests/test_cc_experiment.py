"""dal-train --engine cc: config keys, checks and a run end to end on a tiny PRID2011 set."""
import os
import os.path as osp
import subprocess
import sys

import pytest

from dal_torchreid.experiment.builder import cc_engine_kwargs
from dal_torchreid.experiment.config import ConfigError, load_config
from dal_torchreid.data.synthetic import SyntheticConfig, make_synthetic_dataset
from dal_torchreid.experiment.results import read_results

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


@pytest.mark.parametrize('opts, key', [
    (['cc.k1', '1'], 'cc.k1'), (['cc.k2', '0'], 'cc.k2'), (['cc.eps', '1.0'], 'cc.eps'),
    (['cc.min_samples', '0'], 'cc.min_samples'), (['cc.outliers', 'keep'], 'cc.outliers'),
    (['cc.temperature', '0.0'], 'cc.temperature'), (['cc.momentum', '1.0'], 'cc.momentum'),
    (['cc.memory_update', 'median'], 'cc.memory_update'),
    (['cc.clips_per_identity', '0'], 'cc.clips_per_identity'),
    (['cc.steps_per_epoch', '-1'], 'cc.steps_per_epoch'),
    (['cc.mutual_neighbors', '-1'], 'cc.mutual_neighbors'),
    (['cc.pseudo_labels', 'hungarian'], 'cc.pseudo_labels'),
    (['cc.assignment_min_similarity', '1.5'], 'cc.assignment_min_similarity'),
    (['cc.assignment_min_margin', '3.0'], 'cc.assignment_min_margin'),
    (['cc.clusterings_per_epoch', '0'], 'cc.clusterings_per_epoch'),
    (['cc.feature_frames', '-1'], 'cc.feature_frames'),
    (['cc.cross_camera_weight', '-0.5'], 'cc.cross_camera_weight'),
    (['video.seq_len', '5'], 'train.batch_size'),  # 64 frames are not clips of 5 x 4
])
def test_bad_cc_values_are_refused_naming_the_key(opts, key):
    where = r'(command line|default config): ' + key.replace('.', r'\.') + ' must'
    with pytest.raises(ConfigError, match=where):
        load_config(None, ['loss.name', 'cc'] + opts)
    load_config(None, opts)  # other engines do not read cc.*


def test_cc_keys_reach_the_engine():
    cfg = load_config(None, ['loss.name', 'cc', 'cc.k1', '12', 'cc.camera_centred', 'True',
                             'cc.outliers', 'own_class', 'video.seq_len', '4'])
    kwargs = cc_engine_kwargs(cfg)
    assert kwargs['mutual_neighbors'] == 0
    assert kwargs['k1'] == 12 and kwargs['camera_centred'] and kwargs['outliers'] == 'own_class'
    assert kwargs['seq_len'] == 4 and kwargs['clip_grad_value'] is None
    assert (kwargs['k2'], kwargs['eps'], kwargs['min_samples']) == (6, 0.6, 4)  # the reference's
    assert (kwargs['pseudo_labels'], kwargs['clusterings_per_epoch'], kwargs['feature_frames'],
            kwargs['cross_camera_weight']) == ('dbscan', 1, 0, 0.0)  # the reference's
    cfg = load_config(None, ['loss.name', 'cc', 'cc.pseudo_labels', 'assignment',
                             'cc.assignment_min_margin', '0.05', 'cc.clusterings_per_epoch', '2',
                             'cc.feature_frames', '8', 'cc.cross_camera_weight', '0.5',
                             'video.seq_len', '4'])
    kwargs = cc_engine_kwargs(cfg)
    assert (kwargs['pseudo_labels'], kwargs['assignment_min_margin'],
            kwargs['clusterings_per_epoch'], kwargs['feature_frames'],
            kwargs['cross_camera_weight']) == ('assignment', 0.05, 2, 8, 0.5)


@pytest.fixture(scope='module')
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp('cc-data')
    make_synthetic_dataset('prid2011', str(root), SyntheticConfig(
        ids=8, min_frames=4, max_frames=6, height=32, width=16))
    return root


def tiny_opts(save_dir):
    return ['data.save_dir', save_dir, 'data.workers', 0, 'data.height', 32, 'data.width', 16,
            'data.transforms', [], 'model.name', 'resnet18', 'model.pretrained', False,
            'use_gpu', False, 'video.sample_method', 'all', 'video.seq_len', 2,
            'test.batch_size', 1, 'train.max_epoch', 2, 'train.batch_size', 8,
            'train.print_freq', 100, 'cc.clips_per_identity', 2, 'cc.k1', 4, 'cc.k2', 2,
            'cc.min_samples', 2, 'cc.camera_centred', True, 'cc.cross_camera', True,
            'cc.outliers', 'own_class']


def test_cli_trains_cc_without_labels_and_writes_diagnostics(root, tmp_path):
    save_dir = tmp_path / 'cc'
    opts = tiny_opts(save_dir)
    proc = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools', 'train.py'), '--root', str(root),
         '--engine', 'cc', *map(str, opts)],
        cwd=REPO, env=dict(os.environ, OMP_NUM_THREADS='1'), capture_output=True, text=True,
        timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = read_results(str(save_dir))
    assert record['engine'] == 'cc' and record['epochs'] == 2
    assert 0 <= record['targets']['prid2011']['rank1'] <= 1
    assert [c['epoch'] for c in record['clusters']] == [1, 2]
    assert {'num_clusters', 'outlier_fraction', 'precision', 'recall'} <= set(record['clusters'][0])
    assert (save_dir / 'clusters.png').is_file()
    assert 'clusters:' in proc.stdout and 'pair precision' in proc.stdout
    # one DAL epoch's frames: 4 training people x 2 tracklets x 4-6 frames, 8 a step
    assert record['frames_seen'] > 0 and record['frames_seen'] % 8 == 0


def test_an_epoch_without_a_batch_is_refused_before_training(root, tmp_path):
    from dal_torchreid.experiment.budget import EmptyEpochError
    from dal_torchreid.experiment.run import run_experiment
    cfg = load_config(None, ['data.root', str(root), 'loss.name', 'cc'] +
                      [str(v) for v in tiny_opts(tmp_path / 'cc')] + ['train.batch_size', 4096])
    with pytest.raises(EmptyEpochError, match='PseudoIdentityClipSampler'):
        run_experiment(cfg)


def test_cc_config_error_exits_2(tmp_path):
    proc = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools', 'train.py'), '--engine', 'cc', 'cc.eps', '2.0'],
        cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith('error: command line: cc.eps must')


def test_cc_configs_are_shipped_with_the_reference_settings_where_they_apply():
    for dataset in ('prid2011', 'ilidsvid', 'mars'):
        cfg = load_config(osp.join(REPO, 'configs', f'cc_resnet50_{dataset}.yaml'))
        dal = load_config(osp.join(REPO, 'configs', f'dal_resnet50_{dataset}.yaml'))
        assert cfg.loss.name == 'cc' and cfg.model.name == 'resnet50'
        assert (cfg.train.optim, cfg.train.lr, cfg.cc.temperature) == ('adam', 0.00035, 0.05)
        assert cfg.train.max_epoch == dal.train.max_epoch  # DAL's training frames
        assert cfg.train.batch_size == dal.train.batch_size == 64
        camera_aware = dataset != 'mars'
        assert cfg.cc.camera_centred == cfg.cc.cross_camera == camera_aware
        assert (cfg.cc.k1, cfg.cc.min_samples) == ((10, 2) if camera_aware else (30, 4))


def test_demo_config_trains_cc_on_dals_frames():
    cfg = load_config(osp.join(REPO, 'configs', 'synthetic_pretrained.yaml'), ['loss.name', 'cc'])
    assert cfg.train.batch_size == 16 and cfg.video.seq_len == 2
    assert cfg.cc.clips_per_identity == 2 and cfg.cc.steps_per_epoch == 0  # DAL's steps
    assert cfg.cc.camera_centred and cfg.cc.cross_camera and cfg.cc.mutual_neighbors == 1
    assert cfg.cc.outliers == 'own_class'

"""The experiment config: torchreid's keys plus DAL's, merging, validation, converters."""
import glob
import os.path as osp

import pytest
import torch

import torchreid

import dal_torchreid.optim

from dal_torchreid.experiment.builder import (
    build_model, build_optimizer, build_scheduler, dal_engine_kwargs, engine_run_kwargs,
    lr_scheduler_kwargs, optimizer_kwargs, videodata_kwargs
)
from dal_torchreid.cli.train import main as train_main
from dal_torchreid.experiment.config import ConfigError, get_default_config, load_config

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = sorted(glob.glob(osp.join(REPO, 'configs', '*.yaml')))


def test_default_config_has_torchreid_sections_and_dal():
    cfg = get_default_config()
    for section in ('model', 'data', 'sampler', 'video', 'train', 'sgd', 'rmsprop', 'adam',
                    'loss', 'test', 'dal'):
        assert section in cfg
    assert cfg.dal.margin == 0.5 and cfg.dal.eta == 0.5 and cfg.dal.warmup_epochs == 2
    assert cfg.dal.anchor_init == 'zeros' and cfg.dal.sampling == 'frame'
    assert cfg.dal.clip_grad_value == 2.0 and cfg.test.frame_batch_size == 0
    assert cfg.loss.softmax.label_smooth and cfg.loss.triplet.margin == 0.3


def test_load_config_merges_file_and_overrides(tmp_path):
    path = tmp_path / 'c.yaml'
    path.write_text('model: {name: resnet18}\ndal: {margin: 0.3}\ntrain: {lr: 1.0e-3}\n')
    cfg = load_config(str(path), ['dal.eta', '0.25', 'data.sources', "['mars']",
                                  'test.evaluate', 'True'])
    assert cfg.model.name == 'resnet18' and cfg.dal.margin == 0.3 and cfg.train.lr == 1e-3
    assert cfg.dal.eta == 0.25 and cfg.data.sources == ['mars'] and cfg.test.evaluate is True
    assert cfg.is_frozen()


@pytest.mark.parametrize('opts, key', [
    (['train.lr', '1'], 'train.lr'),  # yacs: an int is not a float
    (['data.sources', 'mars'], 'data.sources'),  # nor a string a list
    (['test.evaluate', 'yes'], 'test.evaluate'),
])
def test_yacs_refuses_a_wrong_type_naming_the_key(opts, key):
    with pytest.raises(ConfigError, match=r'command line: .*' + key.replace('.', r'\.')):
        load_config(None, opts)


@pytest.mark.parametrize('opts, key', [
    (['dal.marginn', '0.5'], 'dal.marginn'),
    (['nosection.key', '1'], 'nosection.key'),
])
def test_unknown_override_key_is_refused(opts, key):
    with pytest.raises(ConfigError, match=r'command line: unknown config key.*' + key.replace('.', r'\.')):
        load_config(None, opts)


def test_unknown_key_in_file_names_key_and_file(tmp_path):
    path = tmp_path / 'bad.yaml'
    path.write_text('dal:\n  margn: 0.5\n')
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    assert 'dal.margn' in str(info.value) and 'bad.yaml' in str(info.value)


@pytest.mark.parametrize('opts, key', [
    (['dal.margin', '0'], 'dal.margin'),
    (['dal.margin', '-0.5'], 'dal.margin'),
    (['dal.eta', '0'], 'dal.eta'),
    (['dal.eta', '1.5'], 'dal.eta'),
    (['dal.intra_mutual_neighbors', '-1'], 'dal.intra_mutual_neighbors'),
    (['dal.warmup_epochs', '-1'], 'dal.warmup_epochs'),
    (['dal.anchor_init', 'random'], 'dal.anchor_init'),
    (['dal.sampling', 'person'], 'dal.sampling'),
    (['train.batch_size', '1'], 'train.batch_size'),
    (['train.optim', 'lbfgs'], 'train.optim'),
    (['train.lr_scheduler', 'poly'], 'train.lr_scheduler'),
    (['model.name', 'resnet5000'], 'model.name'),
    (['loss.name', 'arcface'], 'loss.name'),
    (['dal.margin', 'wide'], 'dal.margin'),
    (['train.max_epoch', '2.5'], 'train.max_epoch'),
    (['video.sample_method', 'all', 'test.batch_size', '8'], 'test.batch_size'),
    (['test.visrank', 'True'], 'test.visrank'),
    (['loss.name', 'softmax', 'video.sample_method', 'all', 'test.batch_size', '1'],
     'video.train_sample_method'),
])
def test_bad_values_are_refused_naming_the_key(opts, key):
    with pytest.raises(ConfigError, match=r'(command line|default config): ' + key.replace('.', r'\.')):
        load_config(None, opts)


@pytest.mark.parametrize('value', ['1e999', '-1e999'])
def test_values_must_be_finite(value):
    with pytest.raises(ConfigError, match='train.lr must be finite'):
        load_config(None, ['train.lr', value])


def test_nan_in_a_file_is_refused(tmp_path):
    path = tmp_path / 'c.yaml'
    path.write_text('dal: {margin: .nan}\n')
    with pytest.raises(ConfigError, match='dal.margin must be finite'):
        load_config(str(path))


def test_error_names_the_file_or_the_command_line(tmp_path):
    path = tmp_path / 'c.yaml'
    path.write_text('dal: {margin: -1.0}\n')
    with pytest.raises(ConfigError, match=r'config file ".*c\.yaml": dal\.margin must be a finite number > 0'):
        load_config(str(path))
    path.write_text('dal: {eta: 0.3}\n')
    with pytest.raises(ConfigError, match=r'^command line: dal\.margin must be a finite number > 0'):
        load_config(str(path), ['dal.margin', '0.0'])


def test_bad_value_is_refused_before_any_data_is_read(tmp_path, capsys):
    main = train_main
    missing = str(tmp_path / 'no-data-here')
    assert main(['--root', missing, 'dal.margin', '-1']) == 2
    assert not osp.exists(missing)
    assert 'dal.margin' in capsys.readouterr().err


def test_converters_build_torchreid_objects():
    cfg = load_config(None, ['model.name', 'resnet18', 'model.pretrained', 'False',
                             'train.optim', 'rmsprop', 'rmsprop.eps', '1.0'])
    assert set(videodata_kwargs(cfg)) >= {'root', 'sources', 'height', 'seq_len', 'sample_method'}
    model = build_model(cfg, num_classes=1)
    optimizer = build_optimizer(cfg, model)
    assert isinstance(optimizer, torch.optim.RMSprop)
    assert all(group['eps'] == 1.0 for group in optimizer.param_groups)
    scheduler = build_scheduler(cfg, optimizer)
    assert scheduler is not None
    assert dal_torchreid.optim.build_optimizer(model, **optimizer_kwargs(cfg)) is not None
    assert torchreid.optim.build_lr_scheduler(optimizer, **lr_scheduler_kwargs(cfg)) is not None
    assert engine_run_kwargs(cfg)['max_epoch'] == cfg.train.max_epoch
    kwargs = dal_engine_kwargs(cfg)
    assert kwargs['batch_size'] == cfg.train.batch_size and kwargs['clip_grad_value'] == 2.0
    assert dal_engine_kwargs(load_config(None, ['dal.clip_grad_value', '0.0']))['clip_grad_value'] is None


def test_configs_are_shipped():
    names = {osp.basename(p) for p in CONFIGS}
    for backbone in ('resnet50', 'mobilenetv2'):
        for dataset in ('prid2011', 'ilidsvid', 'mars'):
            assert f'dal_{backbone}_{dataset}.yaml' in names
    assert 'synthetic_demo.yaml' in names


@pytest.mark.parametrize('path', CONFIGS, ids=[osp.basename(p) for p in CONFIGS])
def test_every_shipped_config_loads_and_builds_its_model(path):
    cfg = load_config(path, ['model.pretrained', 'False'])
    model = build_model(cfg, num_classes=1)
    optimizer = build_optimizer(cfg, model)
    build_scheduler(cfg, optimizer)
    assert cfg.data.type == 'video'
    if osp.basename(path).startswith('dal_'):
        assert cfg.train.batch_size == 64 and cfg.data.transforms == []
        assert (cfg.data.height, cfg.data.width) == (224, 112)
        assert cfg.data.norm_mean == [0.5] * 3 and cfg.data.norm_std == [0.5] * 3
        assert cfg.train.weight_decay == pytest.approx(4e-5)
        assert cfg.dal.clip_grad_value == 2.0 and cfg.dal.margin == 0.5 and cfg.dal.eta == 0.5
        assert cfg.video.sample_method == 'all' and cfg.video.pooling_method == 'release'
        assert cfg.test.protocol == 'release' and cfg.test.both_directions == ('ilidsvid' in path)
        assert cfg.train.weight_decay_scope == 'conv_linear' and cfg.train.ema
        assert cfg.model.bn_momentum == (0.0003 if 'mobilenet' in path else 0.003)
        assert cfg.dal.warmup_epochs == (1 if 'mars' in path else 2)
        assert cfg.train.optim == ('sgd' if 'mars' in path else 'rmsprop_tf')


def test_options_may_follow_key_value_pairs():
    from dal_torchreid.cli.args import build_parser, config_from_command_line, parse_args
    args = parse_args(build_parser('dal-train'), [
        '--root', 'r', 'dal.margin', '0.3', '--engine', 'softmax', 'test.eval_freq', '-1',
        '--targets', 'prid2011'])
    cfg = config_from_command_line(args)
    assert cfg.loss.name == 'softmax' and cfg.dal.margin == 0.3 and cfg.test.eval_freq == -1
    assert cfg.data.root == 'r' and cfg.data.targets == ['prid2011']


def test_overrides_after_several_source_names_are_overrides():
    from dal_torchreid.cli.args import build_parser, config_from_command_line, parse_args
    parser = build_parser('dal-train')
    args = parse_args(parser, ['--root', 'r', '-s', 'prid2011', 'ilidsvid', 'train.max_epoch',
                               '3', '-t', 'mars', 'dal.margin', '0.3'])
    assert args.sources == ['prid2011', 'ilidsvid'] and args.targets == ['mars']
    cfg = config_from_command_line(args)
    assert cfg.data.sources == ['prid2011', 'ilidsvid'] and cfg.data.targets == ['mars']
    assert cfg.train.max_epoch == 3 and cfg.dal.margin == 0.3
    with pytest.raises(SystemExit):
        parse_args(parser, ['-s', 'train.max_epoch', '3'])

"""Experiment configuration: torchreid's video defaults plus DAL's keys, merged by yacs.

:func:`get_default_config` mirrors torchreid's ``scripts/default_config.py``
and adds ``dal.*``, ``loss.name`` (which engine trains), ``rmsprop.eps``,
``video.train_sample_method``, ``test.frame_batch_size`` and ``train.amp`` /
``train.ema``. A plugin setting's default and check live beside the code that
interprets it and are imported here. :func:`load_config` merges a YAML file and
``KEY VALUE`` overrides with yacs, validates and freezes; every error is a
:class:`ConfigError` naming the key and where its value came from.

Examples::

    cfg = load_config('configs/dal_resnet50_prid2011.yaml', ['data.root', 'reid-data'])
"""
from __future__ import annotations

import math
import os.path as osp
import re
from typing import Any, Callable, Sequence

import yaml
from yacs.config import CfgNode as CN

from dal_torchreid.budget import budget_rules
from dal_torchreid.data.tracklet_frames import (
    BATCH_SIZE, NUM_INSTANCES, SAMPLING, check_batch_size, check_num_instances, check_sampling
)
from dal_torchreid.data.datamanager import check_sources, check_targets
from dal_torchreid.data.frame_reading import SKIP_BAD_FRAMES
from dal_torchreid.engine.distributed import DIST_TIMEOUT, check_dist_timeout
from dal_torchreid.engine.ema import EMA_DECAY, check_ema_decay
from dal_torchreid.engine.evaluation import EVAL_FRAME_BATCH_SIZE, check_eval_frame_batch_size
from dal_torchreid.engine.optimization import CLIP_GRAD_VALUE, check_amp, check_clip_grad_value
from dal_torchreid.engine.video_dal import (
    ANCHOR_INIT, WARMUP_EPOCHS, check_anchor_init, check_warmup_epochs
)
from dal_torchreid.losses import ETA, MARGIN, check_eta, check_margin
from dal_torchreid.models import ALLOW_PARTIAL_WEIGHTS
from dal_torchreid.metrics import (
    POOLING_METHOD, PROTOCOL, RELEASE_EVALUATIONS, check_pooling_method, check_protocol
)
from dal_torchreid.models import available_models
from dal_torchreid.optim import (
    BN_MOMENTUM, WEIGHT_DECAY_SCOPE, check_bn_momentum, check_optim, check_weight_decay_scope
)

ENGINES = ('dal', 'softmax', 'triplet')
VIDEO_SAMPLE_METHODS = ('evenly', 'random', 'all')
LR_SCHEDULERS = ('single_step', 'multi_step', 'cosine')
TRAIN_SAMPLERS = ('RandomSampler', 'SequentialSampler', 'RandomIdentitySampler',
                  'RandomDomainSampler', 'RandomDatasetSampler')
DIST_METRICS = ('euclidean', 'cosine')


class ConfigError(ValueError):
    """A config value no engine can run with; the message names the key and its source."""


def get_default_config() -> CN:
    """torchreid's default configuration for video re-id, plus DAL's keys.

    Examples::

        cfg = get_default_config()
        cfg.merge_from_list(['dal.margin', 0.3])
    """
    cfg = CN()
    cfg.use_gpu = True  # use a GPU when one is available
    cfg.model = CN(dict(
        name='resnet50', pretrained=True,  # ImageNet weights
        bn_momentum=BN_MOMENTUM,  # BatchNorm momentum; 0 keeps the model's own (0.1)
        load_weights='',  # a weights file (replaces model.pretrained)
        allow_partial_weights=ALLOW_PARTIAL_WEIGHTS,  # accept load_weights missing backbone tensors
        resume=''))  # a checkpoint to resume training from
    cfg.data = CN(dict(
        type='video', root='reid-data', sources=['prid2011'], targets=['prid2011'], workers=4,
        split_id=0, height=256, width=128, combineall=False, transforms=['random_flip'],
        norm_mean=[0.485, 0.456, 0.406], norm_std=[0.229, 0.224, 0.225], save_dir='log',
        skip_bad_frames=SKIP_BAD_FRAMES))  # skip unreadable frames, one warning per file
    cfg.sampler = CN(dict(
        train_sampler='',  # supervised engines; '': RandomIdentitySampler (triplet), RandomSampler
        num_instances=4, num_cams=1, num_datasets=1))
    cfg.video = CN(dict(
        seq_len=15, sample_method='evenly',
        train_sample_method='',  # the supervised engines' training clips; '': sample_method
        pooling_method=POOLING_METHOD))  # 'avg', 'max' or 'release': frames to a tracklet
    cfg.train = CN(dict(
        optim='adam', lr=0.0003, weight_decay=5e-4, max_epoch=60, start_epoch=0,
        weight_decay_scope=WEIGHT_DECAY_SCOPE,  # 'all' (torchreid) or 'conv_linear' (release)
        batch_size=BATCH_SIZE,  # frames per step; supervised: batch_size // seq_len tracklets
        supervised_epochs=0,  # 0: as many as see DAL's frames (max_epoch DAL epochs)
        fixbase_epoch=0, open_layers=['classifier'], staged_lr=False,
        new_layers=['classifier'], base_lr_mult=0.1, lr_scheduler='single_step',
        stepsize=[20], gamma=0.1, print_freq=20, seed=1,
        amp='',  # DAL: '' (float32), 'bf16' or 'fp16' (CUDA) autocast of the backbone
        ema=False, ema_decay=EMA_DECAY,  # DAL: evaluate a moving average of the weights
        dist_timeout=DIST_TIMEOUT))  # torchrun: seconds a rank waits for the others; 0: torch's
    cfg.sgd = CN(dict(momentum=0.9, dampening=0., nesterov=False))  # momentum: rmsprop's too
    cfg.rmsprop = CN(dict(alpha=0.99, eps=1e-8))  # rmsprop and rmsprop_tf (torchreid: no eps)
    cfg.adam = CN(dict(beta1=0.9, beta2=0.999))
    cfg.loss = CN(dict(
        name='dal',  # 'dal' (no labels), 'softmax' or 'triplet' (identity labels)
        softmax=CN(dict(label_smooth=True)),
        triplet=CN(dict(margin=0.3, weight_t=1., weight_x=0.))))
    cfg.dal = CN(dict(
        margin=MARGIN, eta=ETA, warmup_epochs=WARMUP_EPOCHS, anchor_init=ANCHOR_INIT,
        sampling=SAMPLING, num_instances=NUM_INSTANCES, clip_grad_value=CLIP_GRAD_VALUE,
        diagnostics=True))  # score associations against identities, for reporting only
    cfg.test = CN(dict(
        batch_size=100,
        frame_batch_size=EVAL_FRAME_BATCH_SIZE,  # > 0: all frames, this many per model call
        protocol=PROTOCOL,  # 'torchreid' or 'release' (the DAL release's, per data set)
        both_directions=False,  # two cameras: also rank the query camera by the gallery's
        dist_metric='euclidean', normalize_feature=False, ranks=[1, 5, 10, 20],
        evaluate=False, eval_freq=-1, start_eval=0, rerank=False, visrank=False,
        visrank_topk=10))
    return cfg


# The checks of settings the plugin interprets, beside the code that interprets them.
PLUGIN_CHECKS: dict[str, Callable[[Any], None]] = {
    'video.pooling_method': check_pooling_method,
    'test.frame_batch_size': check_eval_frame_batch_size, 'test.protocol': check_protocol,
    'train.optim': check_optim, 'train.weight_decay_scope': check_weight_decay_scope,
    'model.bn_momentum': check_bn_momentum, 'train.dist_timeout': check_dist_timeout,
    'data.sources': check_sources, 'data.targets': check_targets,
}
DAL_CHECKS: dict[str, Callable[[Any], None]] = {
    'train.batch_size': check_batch_size, 'dal.margin': check_margin, 'dal.eta': check_eta,
    'dal.warmup_epochs': check_warmup_epochs, 'dal.anchor_init': check_anchor_init,
    'dal.sampling': check_sampling, 'dal.num_instances': check_num_instances,
    'dal.clip_grad_value': check_clip_grad_value, 'train.amp': check_amp,
    'train.ema_decay': check_ema_decay,
}


# The settings torchreid interprets: allowed values, lower bounds, further rules.
CHOICES = {'loss.name': ENGINES, 'data.type': ('video',), 'test.dist_metric': DIST_METRICS,
           'video.sample_method': VIDEO_SAMPLE_METHODS, 'train.lr_scheduler': LR_SCHEDULERS,
           'video.train_sample_method': ('',) + VIDEO_SAMPLE_METHODS,
           'sampler.train_sampler': ('',) + TRAIN_SAMPLERS}
AT_LEAST = {'data.height': 1, 'data.width': 1, 'data.workers': 0, 'video.seq_len': 1,
            'test.batch_size': 1, 'train.max_epoch': 0, 'train.print_freq': 1, 'train.seed': 0,
            'train.weight_decay': 0, 'sgd.momentum': 0, 'train.batch_size': 1,
            'train.supervised_epochs': 0}
POSITIVE = ('train.lr', 'train.gamma', 'rmsprop.eps', 'loss.triplet.margin')


def _torchreid_rules(cfg: CN) -> list[tuple[str, bool, str]]:
    """(key, holds, what it must be) for the settings torchreid interprets."""
    rules = [(key, _value(cfg, key) in allowed, f'must be one of {list(allowed)}')
             for key, allowed in CHOICES.items()]
    rules += [(key, _value(cfg, key) >= low, f'must be >= {low}') for key, low in AT_LEAST.items()]
    rules += [(key, _value(cfg, key) > 0, 'must be > 0') for key in POSITIVE]
    return rules + [
        ('data.sources', len(cfg.data.sources) > 0, 'must name at least one data set'),
        ('data.norm_mean', len(cfg.data.norm_mean) == 3, 'must hold 3 values'),
        ('data.norm_std', len(cfg.data.norm_std) == 3 and min(cfg.data.norm_std) > 0,
         'must hold 3 positive values'),
        ('model.name', cfg.model.name in available_models(),
         'must be a torchreid model (torchreid.models.show_avai_models())'),
        ('test.batch_size', cfg.test.batch_size == 1 or cfg.video.sample_method != 'all'
         or cfg.test.frame_batch_size > 0, 'must be 1 with video.sample_method "all" and '
         'test.frame_batch_size 0 (tracklets differ in length)'),
        ('test.ranks', min(cfg.test.ranks, default=1) >= 1, 'must be ranks >= 1'),
        ('test.protocol', cfg.test.protocol != 'release' or set(cfg.data.targets or
         cfg.data.sources) <= set(RELEASE_EVALUATIONS), 'release needs targets among '
         f'{list(RELEASE_EVALUATIONS)}'),
        ('test.protocol', cfg.test.protocol != 'release' or 'mars' not in cfg.data.targets or
         not (cfg.test.rerank or cfg.test.visrank), 'release on mars ranks all test tracklets: '
         'it takes neither test.rerank nor test.visrank'),
        ('test.both_directions', not cfg.test.both_directions or 'mars' not in
         cfg.data.targets, 'needs two-camera targets (PRID2011, iLIDS-VID), not mars'),
        ('test.visrank', cfg.test.evaluate or not cfg.test.visrank,
         'needs test.evaluate True (torchreid visualises ranked results in test-only mode)'),
        ('train.start_epoch', 0 <= cfg.train.start_epoch <= cfg.train.max_epoch
         or cfg.test.evaluate, 'must be in [0, train.max_epoch]'),
        ('train.stepsize', cfg.train.lr_scheduler == 'cosine' or
         (len(cfg.train.stepsize) > 0 and min(cfg.train.stepsize) >= 1),
         'must be a non-empty list of epochs >= 1'),
        ('rmsprop.alpha', 0 <= cfg.rmsprop.alpha < 1, 'must be in [0, 1)'),
        ('sgd.nesterov', not (cfg.sgd.nesterov and cfg.train.optim == 'sgd') or
         (cfg.sgd.momentum > 0 and cfg.sgd.dampening == 0),
         'needs sgd.momentum > 0 and sgd.dampening 0'),
    ] + budget_rules(cfg)


def _leaves(node: CN, prefix: str = ''):
    for name, value in node.items():
        if isinstance(value, CN):
            yield from _leaves(value, f'{prefix}{name}.')
        else:
            yield prefix + name, value


def _value(cfg: CN, key: str) -> Any:
    for part in key.split('.'):
        cfg = cfg[part]
    return cfg


def validate_config(cfg: CN, source_of: Callable[[str], str] = lambda key: 'config') -> None:
    """Refuses values no engine can run with, reading no data.

    Raises :class:`ConfigError` naming the key and ``source_of(key)``.
    """
    def fail(key: str, message: str):
        raise ConfigError(f'{source_of(key)}: {key} {message}')

    defaults = dict(_leaves(get_default_config()))
    for key, value in _leaves(cfg):
        if value is None and defaults[key] is not None:
            fail(key, f'must be a {type(defaults[key]).__name__}, got None')
        numbers = value if isinstance(value, (list, tuple)) else [value]
        if any(isinstance(v, float) and not math.isfinite(v) for v in numbers):
            fail(key, f'must be finite, got {value!r}')
    checks = dict(PLUGIN_CHECKS, **(DAL_CHECKS if cfg.loss.name == 'dal' else {}))
    for key, check in checks.items():
        name = key.rsplit('.', 1)[1]
        try:
            check(_value(cfg, key))
        except ValueError as err:
            message = str(err)
            fail(key, message[len(name) + 1:] if message.startswith(name + ' ') else message)
    for key, holds, message in _torchreid_rules(cfg):
        if not holds:
            fail(key, f'{message}, got {_value(cfg, key)!r}')


def load_config(path: str | None = None, opts: Sequence[Any] = ()) -> CN:
    """The default config, with the YAML file ``path`` and ``KEY VALUE`` ``opts`` merged,
    validated and frozen. Raises :class:`ConfigError` (or ``FileNotFoundError``) naming
    the key and whether the file or the command line set it; reads nothing else."""
    cfg = get_default_config()
    file_source = f'config file "{path}"'
    if path:
        if not osp.isfile(path):
            raise FileNotFoundError(f'config file "{path}" does not exist')
        try:
            cfg.merge_from_file(path)
        except (KeyError, ValueError, AssertionError, yaml.YAMLError) as err:
            raise ConfigError(f'{file_source}: {_unknown(err)}') from err
    opts = list(opts)
    try:
        cfg.merge_from_list(opts)
    except (KeyError, ValueError, AssertionError) as err:
        raise ConfigError(f'command line: {_unknown(err)}') from err
    from_command_line = set(opts[0::2])
    validate_config(cfg, lambda key: 'command line' if key in from_command_line
                    else file_source if path else 'default config')
    cfg.freeze()
    return cfg


def _unknown(err: Exception) -> str:
    """yacs's message, said as this module says it: key first."""
    message = err.args[0] if err.args else str(err)
    mismatch = re.match(r"Type mismatch \(<class '(\w+)'> vs\. <class '(\w+)'>\) with values "
                        r"\((.*) vs\. (.*)\) for config key: (\S+)", message, re.S)
    if mismatch:
        wanted, given, _, value, key = mismatch.groups()
        return f'{key} must be of type {wanted} (as its default), got {value} ({given})'
    return message.replace('Non-existent config key', 'unknown config key').replace(
        'Non-existent key', 'unknown config key')

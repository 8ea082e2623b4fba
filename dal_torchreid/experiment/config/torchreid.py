"""The settings torchreid interprets, and what it accepts for them.

:mod:`dal_torchreid.experiment.config` validates a config against these rules (and the
plugin's own settings against the checks beside the code that interprets them),
so a wrong value is refused, naming its key, before torchreid reads any data.
"""
from __future__ import annotations

from typing import Any

from yacs.config import CfgNode as CN

from dal_torchreid.experiment.budget import budget_rules
from dal_torchreid.metrics import RELEASE_EVALUATIONS
from dal_torchreid.models import available_models

ENGINES = ('dal', 'cc', 'softmax', 'triplet')
VIDEO_SAMPLE_METHODS = ('evenly', 'random', 'all')
LR_SCHEDULERS = ('single_step', 'multi_step', 'cosine')
TRAIN_SAMPLERS = ('RandomSampler', 'SequentialSampler', 'RandomIdentitySampler',
                  'RandomDomainSampler', 'RandomDatasetSampler')
DIST_METRICS = ('euclidean', 'cosine')
# The names torchreid's build_transforms acts on (case-insensitive); it skips any other.
TRANSFORMS = ('random_flip', 'random_crop', 'random_patch', 'color_jitter', 'random_erase')


def value_of(cfg: CN, key: str) -> Any:
    """The value of a dotted ``key`` such as ``'loss.triplet.margin'``."""
    for part in key.split('.'):
        cfg = cfg[part]
    return cfg


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


def torchreid_rules(cfg: CN) -> list[tuple[str, bool, str]]:
    """(key, holds, what it must be) for the settings torchreid interprets."""
    rules = [(key, value_of(cfg, key) in allowed, f'must be one of {list(allowed)}')
             for key, allowed in CHOICES.items()]
    rules += [(key, value_of(cfg, key) >= low, f'must be >= {low}') for key, low in AT_LEAST.items()]
    rules += [(key, value_of(cfg, key) > 0, 'must be > 0') for key in POSITIVE]
    return rules + [
        ('data.sources', len(cfg.data.sources) > 0, 'must name at least one data set'),
        ('data.save_dir', bool(cfg.data.save_dir.strip()), 'must name a folder'),
        ('data.transforms', all(isinstance(name, str) and name.lower() in TRANSFORMS
                                for name in cfg.data.transforms),
         f'must name torchreid transforms among {list(TRANSFORMS)} (torchreid skips any other)'),
        ('data.norm_mean', len(cfg.data.norm_mean) == 3, 'must hold 3 values'),
        ('data.norm_std', len(cfg.data.norm_std) == 3 and min(cfg.data.norm_std) > 0,
         'must hold 3 positive values'),
        ('model.load_weights', not (cfg.model.load_weights and cfg.model.resume),
         'must be empty when model.resume is set (the checkpoint\'s weights replace it); set '
         'one of the two'),
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

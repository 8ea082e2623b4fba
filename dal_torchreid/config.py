"""Experiment configuration: torchreid's default config, plus DAL's keys.

:func:`get_default_config` mirrors ``scripts/default_config.py`` of torchreid
(the ``model``, ``data``, ``sampler``, ``video``, ``train``, ``sgd``,
``rmsprop``, ``adam``, ``loss`` and ``test`` sections, without the image-only
keys) and adds:

- ``loss.name``: ``'dal'`` (default), ``'softmax'`` or ``'triplet'``: which
  engine trains (``VideoDALEngine`` or torchreid's supervised video engines);
- ``dal``: the DAL engine's settings (``margin``, ``eta``, ``warmup_epochs``,
  ``anchor_init``, ``sampling``, ``num_instances``, ``clip_grad_value``);
- ``rmsprop.eps``: applied to the optimizer torchreid builds (its builder has
  no epsilon; the DAL release uses 1.0);
- ``video.train_sample_method``: how torchreid's supervised engines sample a
  training clip (``''``: as ``video.sample_method``, torchreid's behaviour);
- ``test.frame_batch_size``: frames per forward pass at test (0: torchreid's path);
- ``use_gpu``: use a GPU when one is available.

For the DAL engine ``train.batch_size`` counts frames; for the supervised
engines it counts tracklets of ``video.seq_len`` frames.

:func:`load_config` merges a YAML file and ``KEY VALUE`` overrides into the
defaults, refuses unknown keys and bad values with an error naming the key
(and the file), and returns the config frozen. Converters
(:func:`videodata_kwargs`, :func:`optimizer_kwargs`, ...) turn it into the
arguments of torchreid's builders, as torchreid's scripts do.

Examples::

    from dal_torchreid.config import load_config, videodata_kwargs
    cfg = load_config('configs/dal_resnet50_prid2011.yaml',
                      ['data.root', 'reid-data', 'train.max_epoch', '10'])
    datamanager = torchreid.data.VideoDataManager(**videodata_kwargs(cfg))
"""
from __future__ import annotations

import ast
import os.path as osp
from typing import Any, Sequence

import torch
import yaml
from yacs.config import CfgNode as CN

ENGINES = ('dal', 'softmax', 'triplet')
ANCHOR_INITS = ('zeros', 'features')
SAMPLING_MODES = ('frame', 'tracklet')
VIDEO_SAMPLE_METHODS = ('evenly', 'random', 'all')
POOLING_METHODS = ('avg', 'max')
OPTIMIZERS = ('adam', 'amsgrad', 'sgd', 'rmsprop', 'radam')
LR_SCHEDULERS = ('single_step', 'multi_step', 'cosine')
TRAIN_SAMPLERS = ('RandomSampler', 'SequentialSampler', 'RandomIdentitySampler',
                  'RandomDomainSampler', 'RandomDatasetSampler')
DIST_METRICS = ('euclidean', 'cosine')


def get_default_config() -> CN:
    """torchreid's default configuration for video re-id, plus DAL's keys.

    Examples::

        cfg = get_default_config()
        cfg.merge_from_list(['dal.margin', 0.3])
    """
    cfg = CN()
    cfg.use_gpu = True  # use a GPU when one is available

    # model
    cfg.model = CN()
    cfg.model.name = 'resnet50'
    cfg.model.pretrained = True  # ImageNet weights from torchreid's model zoo
    cfg.model.load_weights = ''  # path to model weights (replaces model.pretrained)
    cfg.model.resume = ''  # path to a checkpoint to resume training from

    # data
    cfg.data = CN()
    cfg.data.type = 'video'
    cfg.data.root = 'reid-data'
    cfg.data.sources = ['prid2011']
    cfg.data.targets = ['prid2011']
    cfg.data.workers = 4  # number of data loading workers
    cfg.data.split_id = 0  # split index
    cfg.data.height = 256  # image height
    cfg.data.width = 128  # image width
    cfg.data.combineall = False  # combine train, query and gallery for training
    cfg.data.transforms = ['random_flip']  # data augmentation
    cfg.data.norm_mean = [0.485, 0.456, 0.406]  # default is imagenet mean
    cfg.data.norm_std = [0.229, 0.224, 0.225]  # default is imagenet std
    cfg.data.save_dir = 'log'  # path to save log
    cfg.data.skip_bad_frames = False  # DAL: skip unreadable training frames (one warning per file)

    # sampler
    cfg.sampler = CN()
    cfg.sampler.train_sampler = 'RandomSampler'  # supervised engines' train sampler
    cfg.sampler.num_instances = 4  # tracklets per identity for RandomIdentitySampler
    cfg.sampler.num_cams = 1  # cameras per batch (RandomDomainSampler)
    cfg.sampler.num_datasets = 1  # datasets per batch (RandomDatasetSampler)

    # video reid setting
    cfg.video = CN()
    cfg.video.seq_len = 15  # number of images to sample in a tracklet
    cfg.video.sample_method = 'evenly'  # how to sample images from a tracklet
    cfg.video.train_sample_method = ''  # supervised training clips; '' = sample_method
    cfg.video.pooling_method = 'avg'  # how to pool features over a tracklet

    # train
    cfg.train = CN()
    cfg.train.optim = 'adam'
    cfg.train.lr = 0.0003
    cfg.train.weight_decay = 5e-4
    cfg.train.max_epoch = 60
    cfg.train.start_epoch = 0
    cfg.train.batch_size = 32  # DAL: frames; softmax/triplet: tracklets
    cfg.train.fixbase_epoch = 0  # number of epochs to fix base layers
    cfg.train.open_layers = ['classifier']  # layers trained while the others are frozen
    cfg.train.staged_lr = False  # set different lr to different layers
    cfg.train.new_layers = ['classifier']  # newly added layers with default lr
    cfg.train.base_lr_mult = 0.1  # learning rate multiplier for base layers
    cfg.train.lr_scheduler = 'single_step'
    cfg.train.stepsize = [20]  # stepsize to decay learning rate
    cfg.train.gamma = 0.1  # learning rate decay multiplier
    cfg.train.print_freq = 20  # print frequency
    cfg.train.seed = 1  # random seed
    cfg.train.amp = ''  # DAL: autocast the backbone, '' (off), 'bf16' or 'fp16' (CUDA)
    cfg.train.ema = False  # DAL: evaluate an exponential moving average of the weights
    cfg.train.ema_decay = 0.9999  # its decay (release: 0.9999)

    # optimizer
    cfg.sgd = CN()
    cfg.sgd.momentum = 0.9  # momentum factor for sgd and rmsprop
    cfg.sgd.dampening = 0.  # dampening for momentum
    cfg.sgd.nesterov = False  # Nesterov momentum
    cfg.rmsprop = CN()
    cfg.rmsprop.alpha = 0.99  # smoothing constant
    cfg.rmsprop.eps = 1e-8  # epsilon (PyTorch's default; the DAL release uses 1.0)
    cfg.adam = CN()
    cfg.adam.beta1 = 0.9  # exponential decay rate for first moment
    cfg.adam.beta2 = 0.999  # exponential decay rate for second moment

    # loss
    cfg.loss = CN()
    cfg.loss.name = 'dal'  # 'dal' (unsupervised), 'softmax' or 'triplet' (identity labels)
    cfg.loss.softmax = CN()
    cfg.loss.softmax.label_smooth = True  # use label smoothing regularizer
    cfg.loss.triplet = CN()
    cfg.loss.triplet.margin = 0.3  # distance margin
    cfg.loss.triplet.weight_t = 1.  # weight to balance hard triplet loss
    cfg.loss.triplet.weight_x = 0.  # weight to balance cross entropy loss

    # deep association learning
    cfg.dal = CN()
    cfg.dal.margin = 0.5  # hinge margin m
    cfg.dal.eta = 0.5  # intra-anchor update rate
    cfg.dal.warmup_epochs = 2  # epochs before cross-camera association starts
    cfg.dal.anchor_init = 'zeros'  # 'zeros' (release) or 'features'
    cfg.dal.sampling = 'frame'  # 'frame' (release) or 'tracklet'
    cfg.dal.num_instances = 4  # frames per tracklet for 'tracklet' sampling
    cfg.dal.clip_grad_value = 2.0  # clip gradients by value; 0 disables
    cfg.dal.diagnostics = True  # score associations against identities (reporting only)

    # test
    cfg.test = CN()
    cfg.test.batch_size = 100
    cfg.test.frame_batch_size = 0  # frames per forward pass at test; 0: torchreid's path
    cfg.test.dist_metric = 'euclidean'  # distance metric, ['euclidean', 'cosine']
    cfg.test.normalize_feature = False  # normalize feature vectors before computing distance
    cfg.test.ranks = [1, 5, 10, 20]  # cmc ranks
    cfg.test.evaluate = False  # test only
    cfg.test.eval_freq = -1  # evaluation frequency (-1 means to only test after training)
    cfg.test.start_eval = 0  # start to evaluate after a specific epoch
    cfg.test.rerank = False  # use person re-ranking
    cfg.test.visrank = False  # visualize ranked results (only with test.evaluate True)
    cfg.test.visrank_topk = 10  # top-k ranks to visualize

    return cfg


# --------------------------------------------------------------------------- merging

def _parse_cli_value(text: Any) -> Any:
    """A ``KEY VALUE`` override's value as yacs reads it: a Python literal, else a string."""
    if not isinstance(text, str):
        return text
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        lowered = text.lower()
        if lowered in ('true', 'false'):
            return lowered == 'true'
        return text


def _coerce(key: str, default: Any, value: Any, source: str) -> Any:
    """``value`` converted to the type of ``default``; ValueError naming ``key`` if it can't."""
    def bad(expected: str) -> ValueError:
        return ValueError('{}: {} must be {}, got {!r}'.format(source, key, expected, value))

    if isinstance(default, bool):
        if isinstance(value, str) and value.lower() in ('true', 'false'):
            return value.lower() == 'true'
        if not isinstance(value, bool):
            raise bad('True or False')
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise bad('an integer')
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad('a number')
        return float(value)
    if isinstance(default, str):
        if not isinstance(value, str):
            raise bad('a string')
        return value
    if isinstance(default, (list, tuple)):
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            value = [value]  # a single source / stepsize given without brackets
        if not isinstance(value, (list, tuple)):
            raise bad('a list')
        if default:
            kind = default[0]
            return [_coerce('{}[{}]'.format(key, i), kind, v, source) for i, v in enumerate(value)]
        return list(value)
    raise bad('of type {}'.format(type(default).__name__))


def _merge(cfg: CN, updates: dict, source: str, prefix: str = '') -> None:
    for name, value in updates.items():
        key = prefix + str(name)
        if name not in cfg:
            raise KeyError('{}: unknown config key "{}"'.format(source, key))
        current = cfg[name]
        if isinstance(current, CN):
            if not isinstance(value, dict):
                raise ValueError('{}: "{}" is a section, got {!r}'.format(source, key, value))
            _merge(current, value, source, key + '.')
        else:
            cfg[name] = _coerce(key, current, value, source)


def merge_from_file(cfg: CN, path: str) -> None:
    """Merges the YAML file ``path`` into ``cfg`` (type-checked, unknown keys refused)."""
    if not osp.isfile(path):
        raise FileNotFoundError('config file "{}" does not exist'.format(path))
    with open(path) as f:
        try:
            updates = yaml.safe_load(f) or {}
        except yaml.YAMLError as err:
            raise ValueError('config file "{}" is not valid YAML: {}'.format(path, err)) from err
    if not isinstance(updates, dict):
        raise ValueError('config file "{}" must hold a mapping of sections'.format(path))
    _merge(cfg, updates, 'config file "{}"'.format(path))


def merge_from_list(cfg: CN, opts: Sequence[Any]) -> None:
    """Merges ``['section.key', value, ...]`` overrides into ``cfg``."""
    opts = list(opts)
    if len(opts) % 2:
        raise ValueError('overrides must be KEY VALUE pairs, got an odd number: {}'.format(opts))
    for key, text in zip(opts[0::2], opts[1::2]):
        update: dict = {}
        node = update
        parts = str(key).split('.')
        section = cfg
        for part in parts:
            if not isinstance(section, CN) or part not in section:
                raise KeyError('override: unknown config key "{}"'.format(key))
            section = section[part]
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = _parse_cli_value(text)
        _merge(cfg, update, 'override')


# --------------------------------------------------------------------------- validation

def _check(ok: bool, key: str, message: str, value: Any) -> None:
    if not ok:
        raise ValueError('{} {}, got {!r}'.format(key, message, value))


def validate_config(cfg: CN) -> None:
    """Refuses values no engine can run with, naming the key; reads no data.

    Raises ``ValueError`` (bad value) or ``KeyError`` (unknown model name).
    """
    def choice(key: str, value: Any, allowed: Sequence) -> None:
        _check(value in allowed, key, 'must be one of {}'.format(list(allowed)), value)

    choice('loss.name', cfg.loss.name, ENGINES)
    choice('data.type', cfg.data.type, ('video',))
    _check(len(cfg.data.sources) > 0, 'data.sources', 'must name at least one data set',
           cfg.data.sources)
    _check(cfg.data.height > 0 and cfg.data.width > 0, 'data.height/data.width',
           'must be positive', (cfg.data.height, cfg.data.width))
    _check(cfg.data.workers >= 0, 'data.workers', 'must be >= 0', cfg.data.workers)
    _check(len(cfg.data.norm_mean) == 3, 'data.norm_mean', 'must hold 3 values', cfg.data.norm_mean)
    _check(len(cfg.data.norm_std) == 3 and all(s > 0 for s in cfg.data.norm_std),
           'data.norm_std', 'must hold 3 positive values', cfg.data.norm_std)
    models = _available_models()
    _check(models is None or cfg.model.name in models, 'model.name',
           'must be a torchreid model (torchreid.models.show_avai_models())', cfg.model.name)

    choice('video.sample_method', cfg.video.sample_method, VIDEO_SAMPLE_METHODS)
    choice('video.train_sample_method', cfg.video.train_sample_method, ('',) + VIDEO_SAMPLE_METHODS)
    choice('video.pooling_method', cfg.video.pooling_method, POOLING_METHODS)
    _check(cfg.video.seq_len >= 1, 'video.seq_len', 'must be >= 1', cfg.video.seq_len)
    if cfg.video.sample_method == 'all' and cfg.test.frame_batch_size == 0:
        _check(cfg.test.batch_size == 1, 'test.batch_size',
               'must be 1 with video.sample_method "all" and test.frame_batch_size 0 '
               '(tracklets differ in length)', cfg.test.batch_size)
    _check(cfg.test.batch_size >= 1, 'test.batch_size', 'must be >= 1', cfg.test.batch_size)
    _check(cfg.test.frame_batch_size >= 0, 'test.frame_batch_size', 'must be >= 0 (0: torchreid\'s path)',
           cfg.test.frame_batch_size)
    choice('test.dist_metric', cfg.test.dist_metric, DIST_METRICS)
    _check(all(r >= 1 for r in cfg.test.ranks), 'test.ranks', 'must be ranks >= 1', cfg.test.ranks)
    if cfg.test.visrank:
        _check(cfg.test.evaluate, 'test.visrank', 'needs test.evaluate True (torchreid visualises '
               'ranked results in test-only mode)', cfg.test.visrank)

    choice('train.optim', cfg.train.optim, OPTIMIZERS)
    _check(cfg.train.lr > 0, 'train.lr', 'must be > 0', cfg.train.lr)
    _check(cfg.train.weight_decay >= 0, 'train.weight_decay', 'must be >= 0', cfg.train.weight_decay)
    _check(cfg.train.max_epoch >= 0, 'train.max_epoch', 'must be >= 0', cfg.train.max_epoch)
    _check(0 <= cfg.train.start_epoch <= cfg.train.max_epoch or cfg.test.evaluate,
           'train.start_epoch', 'must be in [0, train.max_epoch]', cfg.train.start_epoch)
    _check(cfg.train.print_freq >= 1, 'train.print_freq', 'must be >= 1', cfg.train.print_freq)
    _check(cfg.train.seed >= 0, 'train.seed', 'must be >= 0', cfg.train.seed)
    choice('train.lr_scheduler', cfg.train.lr_scheduler, LR_SCHEDULERS)
    if cfg.train.lr_scheduler in ('single_step', 'multi_step'):
        _check(len(cfg.train.stepsize) > 0 and all(s >= 1 for s in cfg.train.stepsize),
               'train.stepsize', 'must be a non-empty list of epochs >= 1', cfg.train.stepsize)
    _check(cfg.train.gamma > 0, 'train.gamma', 'must be > 0', cfg.train.gamma)
    _check(cfg.rmsprop.eps > 0, 'rmsprop.eps', 'must be > 0', cfg.rmsprop.eps)
    _check(0 <= cfg.rmsprop.alpha < 1, 'rmsprop.alpha', 'must be in [0, 1)', cfg.rmsprop.alpha)
    _check(cfg.sgd.momentum >= 0, 'sgd.momentum', 'must be >= 0', cfg.sgd.momentum)
    if cfg.sgd.nesterov and cfg.train.optim == 'sgd':
        _check(cfg.sgd.momentum > 0 and cfg.sgd.dampening == 0, 'sgd.nesterov',
               'needs sgd.momentum > 0 and sgd.dampening 0', cfg.sgd.nesterov)

    if cfg.loss.name == 'dal':
        _check(cfg.train.batch_size >= 2, 'train.batch_size',
               'counts frames for DAL and must be >= 2', cfg.train.batch_size)
        _check(cfg.dal.margin > 0, 'dal.margin', 'must be > 0', cfg.dal.margin)
        _check(0 < cfg.dal.eta <= 1, 'dal.eta', 'must be in (0, 1]', cfg.dal.eta)
        _check(cfg.dal.warmup_epochs >= 0, 'dal.warmup_epochs', 'must be >= 0',
               cfg.dal.warmup_epochs)
        choice('dal.anchor_init', cfg.dal.anchor_init, ANCHOR_INITS)
        choice('dal.sampling', cfg.dal.sampling, SAMPLING_MODES)
        _check(cfg.dal.num_instances >= 1, 'dal.num_instances', 'must be >= 1',
               cfg.dal.num_instances)
        _check(cfg.dal.clip_grad_value >= 0, 'dal.clip_grad_value', 'must be >= 0 (0 disables)',
               cfg.dal.clip_grad_value)
        choice('train.amp', cfg.train.amp, ('', 'bf16', 'fp16'))
        _check(0 < cfg.train.ema_decay < 1, 'train.ema_decay', 'must be in (0, 1)',
               cfg.train.ema_decay)
    else:
        _check(cfg.train.batch_size >= 1, 'train.batch_size', 'must be >= 1', cfg.train.batch_size)
        choice('sampler.train_sampler', cfg.sampler.train_sampler, TRAIN_SAMPLERS)
        if cfg.sampler.train_sampler == 'RandomIdentitySampler':
            _check(cfg.sampler.num_instances >= 1 and
                   cfg.train.batch_size >= cfg.sampler.num_instances,
                   'sampler.num_instances', 'must be in [1, train.batch_size]',
                   cfg.sampler.num_instances)
        train_method = cfg.video.train_sample_method or cfg.video.sample_method
        if train_method == 'all':
            _check(cfg.train.batch_size == 1, 'video.train_sample_method',
                   'must not be "all" when train.batch_size > 1 (set it to "evenly" or '
                   '"random" for the supervised engines)', train_method)
        if cfg.loss.name == 'triplet':
            _check(cfg.loss.triplet.margin > 0, 'loss.triplet.margin', 'must be > 0',
                   cfg.loss.triplet.margin)


def _available_models() -> Sequence[str] | None:
    """Names ``torchreid.models.build_model`` accepts (None if torchreid hides its registry)."""
    import torchreid
    factory = vars(torchreid.models).get('__model_factory')
    return None if factory is None else list(factory)


# --------------------------------------------------------------------------- loading

def load_config(path: str | None = None, opts: Sequence[Any] = ()) -> CN:
    """The default config, with the YAML file ``path`` and ``KEY VALUE`` ``opts`` merged.

    Unknown keys raise ``KeyError``; values of the wrong type or out of range
    raise ``ValueError``; both name the key (and the file). Nothing is read but
    the config file. The returned config is frozen.

    Examples::

        cfg = load_config('configs/synthetic_demo.yaml', ['dal.margin', '0.3'])
    """
    cfg = get_default_config()
    if path:
        merge_from_file(cfg, path)
    merge_from_list(cfg, opts)
    where = 'config file "{}"'.format(path) if path else 'config'
    try:
        validate_config(cfg)
    except ValueError as err:
        raise ValueError('{}: {}'.format(where, err)) from err
    cfg.freeze()
    return cfg


def config_from_command_line(config_file: str = '', root: str = '', engine: str = '',
                             opts: Sequence[Any] = ()) -> CN:
    """:func:`load_config` for the tools' ``--config-file``, ``--root``, ``--engine`` and
    ``KEY VALUE`` arguments (``--root`` sets ``data.root``, ``--engine`` ``loss.name``)."""
    opts = list(opts or [])
    if root:
        opts += ['data.root', root]
    if engine:
        opts += ['loss.name', engine]
    return load_config(config_file or None, opts)


# --------------------------------------------------------------------------- converters

def uses_gpu(cfg: CN) -> bool:
    """``cfg.use_gpu`` and a GPU is available."""
    return bool(cfg.use_gpu) and torch.cuda.is_available()


def videodata_kwargs(cfg: CN) -> dict:
    """Arguments of ``torchreid.data.VideoDataManager``."""
    return {
        'root': cfg.data.root,
        'sources': list(cfg.data.sources),
        'targets': list(cfg.data.targets) or list(cfg.data.sources),
        'height': cfg.data.height,
        'width': cfg.data.width,
        'transforms': list(cfg.data.transforms),
        'norm_mean': list(cfg.data.norm_mean),
        'norm_std': list(cfg.data.norm_std),
        'use_gpu': uses_gpu(cfg),
        'split_id': cfg.data.split_id,
        'combineall': cfg.data.combineall,
        'batch_size_train': cfg.train.batch_size,
        'batch_size_test': cfg.test.batch_size,
        'workers': cfg.data.workers,
        'num_instances': cfg.sampler.num_instances,
        'num_cams': cfg.sampler.num_cams,
        'num_datasets': cfg.sampler.num_datasets,
        'train_sampler': cfg.sampler.train_sampler,
        'seq_len': cfg.video.seq_len,
        'sample_method': cfg.video.sample_method,
    }


def optimizer_kwargs(cfg: CN) -> dict:
    """Arguments of ``torchreid.optim.build_optimizer`` (``rmsprop.eps`` is applied after)."""
    return {
        'optim': cfg.train.optim,
        'lr': cfg.train.lr,
        'weight_decay': cfg.train.weight_decay,
        'momentum': cfg.sgd.momentum,
        'sgd_dampening': cfg.sgd.dampening,
        'sgd_nesterov': cfg.sgd.nesterov,
        'rmsprop_alpha': cfg.rmsprop.alpha,
        'adam_beta1': cfg.adam.beta1,
        'adam_beta2': cfg.adam.beta2,
        'staged_lr': cfg.train.staged_lr,
        'new_layers': list(cfg.train.new_layers),
        'base_lr_mult': cfg.train.base_lr_mult,
    }


def lr_scheduler_kwargs(cfg: CN) -> dict:
    """Arguments of ``torchreid.optim.build_lr_scheduler``."""
    return {
        'lr_scheduler': cfg.train.lr_scheduler,
        'stepsize': list(cfg.train.stepsize),
        'gamma': cfg.train.gamma,
        'max_epoch': cfg.train.max_epoch,
    }


def engine_run_kwargs(cfg: CN) -> dict:
    """Arguments of ``Engine.run``."""
    return {
        'save_dir': cfg.data.save_dir,
        'max_epoch': cfg.train.max_epoch,
        'start_epoch': cfg.train.start_epoch,
        'fixbase_epoch': cfg.train.fixbase_epoch,
        'open_layers': list(cfg.train.open_layers),
        'start_eval': cfg.test.start_eval,
        'eval_freq': cfg.test.eval_freq,
        'test_only': cfg.test.evaluate,
        'print_freq': cfg.train.print_freq,
        'dist_metric': cfg.test.dist_metric,
        'normalize_feature': cfg.test.normalize_feature,
        'visrank': cfg.test.visrank,
        'visrank_topk': cfg.test.visrank_topk,
        'use_metric_cuhk03': False,
        'ranks': list(cfg.test.ranks),
        'rerank': cfg.test.rerank,
    }


def dal_engine_kwargs(cfg: CN) -> dict:
    """Keyword arguments of ``VideoDALEngine`` besides datamanager, model, optimizer, scheduler."""
    return {
        'use_gpu': uses_gpu(cfg),
        'margin': cfg.dal.margin,
        'eta': cfg.dal.eta,
        'warmup_epochs': cfg.dal.warmup_epochs,
        'anchor_init': cfg.dal.anchor_init,
        'sampling': cfg.dal.sampling,
        'batch_size': cfg.train.batch_size,
        'num_instances': cfg.dal.num_instances,
        'pooling_method': cfg.video.pooling_method,
        'clip_grad_value': cfg.dal.clip_grad_value or None,
        'seed': cfg.train.seed,
        'skip_bad_frames': cfg.data.skip_bad_frames,
        'amp': cfg.train.amp or None,
        'ema_decay': cfg.train.ema_decay if cfg.train.ema else None,
    }


def softmax_engine_kwargs(cfg: CN) -> dict:
    """Keyword arguments of torchreid's ``VideoSoftmaxEngine`` besides the first four."""
    return {
        'use_gpu': uses_gpu(cfg),
        'label_smooth': cfg.loss.softmax.label_smooth,
        'pooling_method': cfg.video.pooling_method,
    }


def triplet_engine_kwargs(cfg: CN) -> dict:
    """Keyword arguments of torchreid's ``VideoTripletEngine`` besides the first three."""
    return {
        'margin': cfg.loss.triplet.margin,
        'weight_t': cfg.loss.triplet.weight_t,
        'weight_x': cfg.loss.triplet.weight_x,
        'use_gpu': uses_gpu(cfg),
        'label_smooth': cfg.loss.softmax.label_smooth,
        'pooling_method': cfg.video.pooling_method,
    }

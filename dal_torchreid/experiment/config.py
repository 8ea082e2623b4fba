"""Experiment configuration: torchreid's video defaults plus DAL's keys, merged by yacs.

:func:`get_default_config` mirrors torchreid's ``scripts/default_config.py``
and adds ``dal.*``, ``cc.*`` (Cluster Contrast), ``loss.name`` (which engine trains),
``rmsprop.eps``, ``video.train_sample_method``, ``test.frame_batch_size``, ``train.amp`` /
``train.ema`` and ``train.channels_last``. A plugin setting's default and check live
beside the code that interprets it and are imported here; what torchreid accepts for its own
settings is in :mod:`dal_torchreid.experiment.torchreid_settings`. :func:`load_config` merges a YAML file and
``KEY VALUE`` overrides with yacs, validates and freezes; every error is a
:class:`ConfigError` naming the key and where its value came from.

Examples::

    cfg = load_config('configs/dal_resnet50_prid2011.yaml', ['data.root', 'reid-data'])
"""
from __future__ import annotations

import math
import re
import warnings
from typing import Any, Callable, Sequence

import torch
import yaml
from yacs.config import CfgNode as CN

from dal_torchreid.experiment.budget import UNSUPERVISED_ENGINES
from dal_torchreid.cluster import (
    EPS, K1, K2, METHOD, MIN_MARGIN, MIN_SAMPLES, MIN_SIMILARITY, MUTUAL_NEIGHBORS, OUTLIERS,
    check_eps, check_k1, check_k2, check_method, check_min_margin, check_min_samples,
    check_min_similarity, check_mutual_neighbors, check_outliers
)
from dal_torchreid.data.datamanager import check_sources, check_targets
from dal_torchreid.footage.dataset import register_footage_under
from dal_torchreid.footage.global_ids import EPS as ASSOCIATE_EPS
from dal_torchreid.footage.global_ids import K1 as ASSOCIATE_K1
from dal_torchreid.footage.global_ids import K2 as ASSOCIATE_K2
from dal_torchreid.footage.global_ids import MIN_SAMPLES as ASSOCIATE_MIN_SAMPLES
from dal_torchreid.footage.global_ids import TOP_K as ASSOCIATE_TOP_K
from dal_torchreid.footage.global_ids import check_top_k
from dal_torchreid.data.frame_reading import SKIP_BAD_FRAMES
from dal_torchreid.data.frames import FEATURE_FRAMES, check_feature_frames
from dal_torchreid.data.pseudo_identity_sampler import (
    CLIPS_PER_IDENTITY, STEPS_PER_EPOCH, check_clips_per_identity, check_steps_per_epoch
)
from dal_torchreid.data.tracklet_frames import (
    BATCH_SIZE, NUM_INSTANCES, SAMPLING, check_batch_size, check_num_instances, check_sampling
)
from dal_torchreid.engine.distributed import DIST_TIMEOUT, check_dist_timeout
from dal_torchreid.engine.ema import EMA_DECAY, check_ema_decay
from dal_torchreid.engine.evaluation import EVAL_FRAME_BATCH_SIZE, check_eval_frame_batch_size
from dal_torchreid.engine.memory_format import CHANNELS_LAST, check_channels_last
from dal_torchreid.engine.optimization import CLIP_GRAD_VALUE, check_amp, check_clip_grad_value
from dal_torchreid.engine.video_dal import (
    ANCHOR_INIT, WARMUP_EPOCHS, check_anchor_init, check_warmup_epochs
)
from dal_torchreid.engine.unsupervised import check_fixbase_epoch
from dal_torchreid.engine.video_cluster_contrast import (
    CLUSTERINGS_PER_EPOCH, check_clusterings_per_epoch
)
from dal_torchreid.files.errors import check_input_file
from dal_torchreid.losses import (
    CROSS_CAMERA_WEIGHT, ETA, INTRA_MUTUAL_NEIGHBORS, MARGIN, MEMORY_UPDATE, MOMENTUM, NEGATIVES, PROXIES, TEMPERATURE,
    check_cross_camera_weight, check_eta, check_intra_mutual_neighbors, check_margin, check_memory_update, check_momentum, check_negatives, check_proxies,
    check_temperature
)
from dal_torchreid.metrics import POOLING_METHOD, PROTOCOL, check_pooling_method, check_protocol
from dal_torchreid.models import ALLOW_PARTIAL_WEIGHTS, LOAD_EMA
from dal_torchreid.optim import (
    BN_MOMENTUM, WEIGHT_DECAY_SCOPE, check_bn_momentum, check_optim, check_weight_decay_scope
)
from dal_torchreid.experiment.torchreid_settings import ENGINES, torchreid_rules, value_of

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
        load_ema=LOAD_EMA,  # load_weights of a DAL checkpoint with an EMA: the EMA (False: trained)
        resume=''))  # a checkpoint to resume training from
    cfg.data = CN(dict(
        type='video', root='reid-data', sources=['prid2011'], targets=['prid2011'], workers=4,
        split_id=0, height=256, width=128, combineall=False, transforms=['random_flip'],
        norm_mean=[0.485, 0.456, 0.406], norm_std=[0.229, 0.224, 0.225], save_dir='log',
        skip_bad_frames=SKIP_BAD_FRAMES))  # skip unreadable frames, one warning per file
    # video.seq_len 16 and sampler.num_instances 2 (torchreid: 15 and 4) so that the default
    # 64-frame batch suits every engine: 4 clips of 16 frames, 2 identities x 2 tracklets for
    # the triplet engine, 1 pseudo-identity x 4 clips for Cluster Contrast
    cfg.sampler = CN(dict(
        train_sampler='',  # supervised engines; '': RandomIdentitySampler (triplet), RandomSampler
        num_instances=2, num_cams=1, num_datasets=1))
    cfg.video = CN(dict(
        seq_len=16, sample_method='evenly',
        train_sample_method='',  # the supervised engines' training clips; '': sample_method
        pooling_method=POOLING_METHOD))  # 'avg', 'max' or 'release': frames to a tracklet
    cfg.train = CN(dict(
        optim='adam', lr=0.0003, weight_decay=5e-4, max_epoch=60, start_epoch=0,
        restart=False,  # start over in a save_dir holding an unfinished run (moved aside)
        weight_decay_scope=WEIGHT_DECAY_SCOPE,  # 'all' (torchreid) or 'conv_linear' (release)
        batch_size=BATCH_SIZE,  # frames per step; supervised: batch_size // seq_len tracklets
        supervised_epochs=0,  # 0: as many as see DAL's frames (max_epoch DAL epochs)
        fixbase_epoch=0, open_layers=['classifier'], staged_lr=False,
        new_layers=['classifier'], base_lr_mult=0.1, lr_scheduler='single_step',
        stepsize=[20], gamma=0.1, print_freq=20, seed=1,
        amp='',  # DAL: '' (float32), 'bf16' or 'fp16' (CUDA) autocast of the backbone
        channels_last=CHANNELS_LAST,  # every engine: train in channels-last memory format
        ema=False, ema_decay=EMA_DECAY,  # DAL: evaluate a moving average of the weights
        dist_timeout=DIST_TIMEOUT))  # torchrun: seconds a rank waits for the others; 0: torch's
    cfg.sgd = CN(dict(momentum=0.9, dampening=0., nesterov=False))  # momentum: rmsprop's too
    cfg.rmsprop = CN(dict(alpha=0.99, eps=1e-8))  # rmsprop and rmsprop_tf (torchreid: no eps)
    cfg.adam = CN(dict(beta1=0.9, beta2=0.999))
    cfg.loss = CN(dict(
        name='dal',  # 'dal', 'cc' (no labels), 'softmax' or 'triplet' (identity labels)
        softmax=CN(dict(label_smooth=True)),
        triplet=CN(dict(margin=0.3, weight_t=1., weight_x=0.))))
    cfg.dal = CN(dict(
        margin=MARGIN, eta=ETA, warmup_epochs=WARMUP_EPOCHS, anchor_init=ANCHOR_INIT,
        # k > 0: tracklets of a camera among each other's k nearest are not each other's
        # negatives (a person seen twice in one camera); 0: any other tracklet, as the release
        intra_mutual_neighbors=INTRA_MUTUAL_NEIGHBORS,
        sampling=SAMPLING, num_instances=NUM_INSTANCES, clip_grad_value=CLIP_GRAD_VALUE,
        diagnostics=True))  # score associations against identities, for reporting only
    cfg.cc = CN(dict(  # Cluster Contrast (loss.name cc); reference values by default
        k1=K1, k2=K2,  # Jaccard neighbourhood (itself included) and query expansion
        eps=EPS, min_samples=MIN_SAMPLES,  # DBSCAN on Jaccard distances
        camera_centred=False,  # cluster features with each camera's mean removed
        cross_camera=False,  # neighbours, and DBSCAN's pairs, from other cameras only
        mutual_neighbors=MUTUAL_NEIGHBORS,  # n > 0: pairs only among each other's n nearest
        outliers=OUTLIERS,  # 'drop' (sit out the epoch) or 'own_class'
        pseudo_labels=METHOD,  # 'dbscan' (the options above) or 'assignment' (two cameras)
        assignment_min_similarity=MIN_SIMILARITY,  # 'assignment': pairs kept at least this
        assignment_min_margin=MIN_MARGIN,  # similar, and this far above either's next best
        clusterings_per_epoch=CLUSTERINGS_PER_EPOCH,  # re-cluster n times an epoch
        feature_frames=FEATURE_FRAMES,  # > 0: frames per tracklet (evenly) for clustering
        cross_camera_weight=CROSS_CAMERA_WEIGHT,  # > 0: + positives from other cameras
        temperature=TEMPERATURE, momentum=MOMENTUM,
        memory_update=MEMORY_UPDATE,  # 'all' (every sample in turn) or 'hard' (least similar)
        negatives=NEGATIVES,  # 'all' clusters, or 'camera': those seen in the sample's camera
        proxies=PROXIES,  # 'cluster' (a centroid each) or 'camera' (per camera, CAP's losses)
        clips_per_identity=CLIPS_PER_IDENTITY,  # K clips of video.seq_len frames per identity
        steps_per_epoch=STEPS_PER_EPOCH,  # 0: a DAL epoch's frames
        clip_grad_value=0.0,  # 0: no clipping (the reference's)
        diagnostics=True))  # score pseudo-labels against identities, for reporting only
    cfg.associate = CN(dict(  # dal-associate: cross-camera global ids of footage tracklets
        top_k=ASSOCIATE_TOP_K,  # matches per tracklet in matches.csv and the report
        k1=ASSOCIATE_K1, k2=ASSOCIATE_K2,  # Jaccard neighbourhoods of the clustering
        eps=ASSOCIATE_EPS, min_samples=ASSOCIATE_MIN_SAMPLES))  # DBSCAN's
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
    'train.channels_last': check_channels_last,
    'associate.top_k': check_top_k, 'associate.k1': check_k1, 'associate.k2': check_k2,
    'associate.eps': check_eps, 'associate.min_samples': check_min_samples,
}
DAL_CHECKS: dict[str, Callable[[Any], None]] = {
    'train.batch_size': check_batch_size, 'dal.margin': check_margin, 'dal.eta': check_eta,
    'dal.intra_mutual_neighbors': check_intra_mutual_neighbors,
    'dal.warmup_epochs': check_warmup_epochs, 'dal.anchor_init': check_anchor_init,
    'dal.sampling': check_sampling, 'dal.num_instances': check_num_instances,
    'dal.clip_grad_value': check_clip_grad_value, 'train.amp': check_amp,
    'train.ema_decay': check_ema_decay,
}
CC_CHECKS: dict[str, Callable[[Any], None]] = {
    'train.batch_size': check_batch_size, 'cc.k1': check_k1, 'cc.k2': check_k2,
    'cc.eps': check_eps, 'cc.min_samples': check_min_samples, 'cc.outliers': check_outliers,
    'cc.mutual_neighbors': check_mutual_neighbors, 'cc.pseudo_labels': check_method,
    'cc.assignment_min_similarity': check_min_similarity,
    'cc.assignment_min_margin': check_min_margin,
    'cc.clusterings_per_epoch': check_clusterings_per_epoch,
    'cc.feature_frames': check_feature_frames, 'cc.cross_camera_weight': check_cross_camera_weight,
    'cc.temperature': check_temperature, 'cc.momentum': check_momentum,
    'cc.memory_update': check_memory_update, 'cc.negatives': check_negatives,
    'cc.proxies': check_proxies,
    'cc.clips_per_identity': check_clips_per_identity,
    'cc.steps_per_epoch': check_steps_per_epoch, 'cc.clip_grad_value': check_clip_grad_value,
    'train.amp': check_amp, 'train.ema_decay': check_ema_decay,
}
ENGINE_CHECKS = {'dal': DAL_CHECKS, 'cc': CC_CHECKS}
# Settings only some engines read: another engine would run as if they were unset.
SUPERVISED_ENGINES = tuple(e for e in ENGINES if e not in UNSUPERVISED_ENGINES)
ENGINE_ONLY_SETTINGS: dict[str, tuple[str, ...]] = {
    'train.amp': UNSUPERVISED_ENGINES, 'train.ema': UNSUPERVISED_ENGINES,
    'train.supervised_epochs': SUPERVISED_ENGINES,
}


def _paired_checks(cfg: CN) -> dict[str, Callable[[Any], None]]:
    """The label-free engines' checks of a key that depend on another setting."""
    checks = {
        'train.amp': lambda amp: check_amp(amp, bool(cfg.use_gpu) and torch.cuda.is_available()),
        'train.fixbase_epoch': lambda epochs: check_fixbase_epoch(epochs, cfg.train.open_layers),
    }
    if cfg.loss.name == 'cc':
        checks['cc.negatives'] = lambda negatives: check_negatives(negatives, cfg.cc.proxies)
    return checks


def _leaves(node: CN, prefix: str = ''):
    for name, value in node.items():
        if isinstance(value, CN):
            yield from _leaves(value, f'{prefix}{name}.')
        else:
            yield prefix + name, value


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
    checks = dict(PLUGIN_CHECKS, **ENGINE_CHECKS.get(cfg.loss.name, {}))
    if cfg.loss.name in ENGINE_CHECKS:  # the label-free engines: amp, a frozen classifier
        checks.update(_paired_checks(cfg))
    for key, check in checks.items():
        name = key.rsplit('.', 1)[1]
        try:
            check(value_of(cfg, key))
        except ValueError as err:
            message = str(err)
            fail(key, message[len(name) + 1:] if message.startswith(name + ' ') else message)
    for key, holds, message in torchreid_rules(cfg):
        if not holds:
            fail(key, f'{message}, got {value_of(cfg, key)!r}')


def load_config(path: str | None = None, opts: Sequence[Any] = ()) -> CN:
    """The default config, with the YAML file ``path`` and ``KEY VALUE`` ``opts`` merged,
    validated and frozen. Raises :class:`ConfigError` (or ``FileNotFoundError``,
    ``IsADirectoryError``) naming the key and whether the file, the command line or the
    default config set it; reads nothing else."""
    cfg = get_default_config()
    file_source = f'config file "{path}"'
    file_keys: set[str] = set()
    if path:
        file_keys = config_file_keys(path)
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
    # a tracklet data set cut from footage is known by its folder under data.root; with
    # one among the sources, the default targets are the other sources (footage has no ids)
    footage = register_footage_under(cfg.data.root, list(cfg.data.sources) + list(cfg.data.targets))
    if footage and 'data.targets' not in from_command_line | file_keys:
        cfg.data.targets = [name for name in cfg.data.sources if name not in footage]

    def source_of(key: str) -> str:
        return ('command line' if key in from_command_line
                else file_source if key in file_keys else 'default config')
    validate_config(cfg, source_of)
    drop_ignored_settings(cfg, source_of)
    cfg.freeze()
    return cfg


def drop_ignored_settings(cfg: CN, source_of: Callable[[str], str] = lambda key: 'config'
                          ) -> None:
    """Settings the chosen engine does not read (:data:`ENGINE_ONLY_SETTINGS`), so that no
    run is recorded with a setting it ran without.

    Set on the command line, such a setting is a :class:`ConfigError` naming it; set by a
    config file written for another engine (a DAL config with ``--engine triplet``), it is
    reset to its default in ``cfg`` with a warning.
    """
    defaults = get_default_config()
    for key, engines in ENGINE_ONLY_SETTINGS.items():
        value, default = value_of(cfg, key), value_of(defaults, key)
        if cfg.loss.name in engines or value == default:
            continue
        said = (f'{key} {value!r}: only the {" and ".join(engines)} engines read it, the '
                f'{cfg.loss.name} engine would run without it')
        if source_of(key) == 'command line':
            raise ConfigError(f'command line: {said}; remove it or choose another engine')
        warnings.warn(f'{source_of(key)}: {said}; it is reset to {default!r} for this run')
        section, name = key.rsplit('.', 1)
        value_of(cfg, section)[name] = default


def config_file_keys(path: str) -> set[str]:
    """The dotted keys the YAML config file ``path`` sets, checking what yacs does not:
    that it is a UTF-8 text file holding a mapping, and that no mapping in it names a
    key twice (YAML lets the second silently replace the first). Raises
    :class:`ConfigError` naming the file (and the key and line)."""
    check_input_file(path, 'config file')
    source = f'config file "{path}"'
    try:
        with open(path, encoding='utf-8') as f:
            text = f.read()
    except UnicodeDecodeError as err:
        raise ConfigError(f'{source}: not a UTF-8 text (YAML) file') from err
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as err:
        raise ConfigError(f'{source}: {" ".join(str(err).split())}') from err
    if root is None:
        return set()
    if not isinstance(root, yaml.MappingNode):
        kind = 'a list' if isinstance(root, yaml.SequenceNode) else 'a single value'
        raise ConfigError(f'{source}: must hold a mapping of sections (model:, data:, ...), '
                          f'got {kind}')
    return _mapping_keys(root, '', source)


def _mapping_keys(node: yaml.MappingNode, prefix: str, source: str) -> set[str]:
    keys: set[str] = set()
    seen: set[str] = set()
    for key_node, value_node in node.value:
        key = prefix + str(key_node.value)
        if key in seen:
            raise ConfigError(f'{source}: key "{key}" appears twice (again on line '
                              f'{key_node.start_mark.line + 1}); YAML would silently keep '
                              'only the last')
        seen.add(key)
        if isinstance(value_node, yaml.MappingNode):
            keys |= _mapping_keys(value_node, key + '.', source)
        else:
            keys.add(key)
    return keys


def _unknown(err: Exception) -> str:
    """yacs's message, said as this module says it: key first (a YAML error, such as a tag
    the safe loader refuses to construct, in one line with its place in the file)."""
    if isinstance(err, yaml.MarkedYAMLError):
        mark = err.problem_mark
        where = f' (line {mark.line + 1}, column {mark.column + 1})' if mark else ''
        return ' '.join(' '.join(filter(None, [err.context, err.problem])).split()) + where
    if isinstance(err, yaml.YAMLError):
        return ' '.join(str(err).split())
    message = err.args[0] if err.args and isinstance(err.args[0], str) else str(err)
    mismatch = re.match(r"Type mismatch \(<class '(\w+)'> vs\. <class '(\w+)'>\) with values "
                        r"\((.*) vs\. (.*)\) for config key: (\S+)", message, re.S)
    if mismatch:
        wanted, given, _, value, key = mismatch.groups()
        return f'{key} must be of type {wanted} (as its default), got {value} ({given})'
    return message.replace('Non-existent config key', 'unknown config key').replace(
        'Non-existent key', 'unknown config key')

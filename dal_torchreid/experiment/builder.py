"""Builds torchreid objects from a config, as torchreid's ``scripts/main.py`` does.

The ``*_kwargs`` converters turn a config of :mod:`dal_torchreid.experiment.config` into
the arguments of torchreid's builders and of the engines; the ``build_*``
functions build the data manager, model, optimizer, scheduler and engine.
``loss.name`` picks the engine: ``'dal'`` trains :class:`VideoDALEngine` and
``'cc'`` :class:`VideoClusterContrastEngine` without identity labels; ``'softmax'`` and ``'triplet'`` train torchreid's
supervised video engines with identity labels, on the same data and backbone.

Examples::

    cfg = load_config('configs/synthetic_demo.yaml', ['data.root', 'reid-data'])
    datamanager = build_datamanager(cfg)
    model = build_model(cfg, num_classes=1)
    optimizer = build_optimizer(cfg, model)
    engine = build_engine(cfg, datamanager, model, optimizer, build_scheduler(cfg, optimizer))
"""
from __future__ import annotations

import traceback

import torch
from yacs.config import CfgNode

import torchreid

from dal_torchreid.experiment.budget import (
    UNSUPERVISED_ENGINES, EmptyEpochError, batch_tracklets, train_sampler
)
from dal_torchreid.experiment.config import ConfigError
from dal_torchreid.data.datamanager import DataLayoutError, build_video_datamanager
from dal_torchreid.footage.dataset import (
    check_engine_for_footage, evaluation_targets, is_footage_dataset, register_footage_under
)
from dal_torchreid.engine.diagnostics import AssociationMonitor, ClusterMonitor
from dal_torchreid.engine import (
    RecordedVideoSoftmaxEngine, RecordedVideoTripletEngine, VideoClusterContrastEngine,
    VideoDALEngine
)
from dal_torchreid.engine.distributed import world
from dal_torchreid.engine.label_free_statistics import ClusterStatisticsMonitor, CycleConsistencyMonitor
from dal_torchreid.engine.memory_format import check_channels_last_model
from dal_torchreid.files.errors import check_input_file
from dal_torchreid.models import (  # noqa: F401  (PretrainedWeightsError: raised here)
    PretrainedWeightsError, build_model as build_backbone, load_weights
)
from dal_torchreid import optim as dal_optim

class InputSizeError(ValueError):
    """Frames of ``data.height`` x ``data.width`` too small for the backbone."""


def uses_gpu(cfg: CfgNode) -> bool:
    """``cfg.use_gpu`` and a GPU is available."""
    return bool(cfg.use_gpu) and torch.cuda.is_available()


def videodata_kwargs(cfg: CfgNode) -> dict:
    """Arguments of ``torchreid.data.VideoDataManager``."""
    return {
        'root': cfg.data.root,
        'sources': list(cfg.data.sources),
        'targets': evaluation_targets(cfg.data.sources, cfg.data.targets),
        'height': cfg.data.height,
        'width': cfg.data.width,
        'transforms': list(cfg.data.transforms),
        'norm_mean': list(cfg.data.norm_mean),
        'norm_std': list(cfg.data.norm_std),
        'use_gpu': uses_gpu(cfg),
        'split_id': cfg.data.split_id,
        'combineall': cfg.data.combineall,
        'batch_size_train': (cfg.train.batch_size if cfg.loss.name in UNSUPERVISED_ENGINES
                             else batch_tracklets(cfg)),
        'batch_size_test': cfg.test.batch_size,
        'workers': cfg.data.workers,
        'num_instances': cfg.sampler.num_instances,
        'num_cams': cfg.sampler.num_cams,
        'num_datasets': cfg.sampler.num_datasets,
        'train_sampler': train_sampler(cfg),
        'seq_len': cfg.video.seq_len,
        'sample_method': cfg.video.sample_method,
    }


def optimizer_kwargs(cfg: CfgNode) -> dict:
    """Arguments of :func:`dal_torchreid.optim.build_optimizer` (torchreid's, plus the release's)."""
    return {
        'optim': cfg.train.optim,
        'lr': cfg.train.lr,
        'weight_decay': cfg.train.weight_decay,
        'momentum': cfg.sgd.momentum,
        'sgd_dampening': cfg.sgd.dampening,
        'sgd_nesterov': cfg.sgd.nesterov,
        'rmsprop_alpha': cfg.rmsprop.alpha,
        'rmsprop_eps': cfg.rmsprop.eps,
        'weight_decay_scope': cfg.train.weight_decay_scope,
        'adam_beta1': cfg.adam.beta1,
        'adam_beta2': cfg.adam.beta2,
        'staged_lr': cfg.train.staged_lr,
        'new_layers': list(cfg.train.new_layers),
        'base_lr_mult': cfg.train.base_lr_mult,
    }


def lr_scheduler_kwargs(cfg: CfgNode) -> dict:
    """Arguments of ``torchreid.optim.build_lr_scheduler``."""
    return {
        'lr_scheduler': cfg.train.lr_scheduler,
        'stepsize': list(cfg.train.stepsize),
        'gamma': cfg.train.gamma,
        'max_epoch': cfg.train.max_epoch,
    }


def engine_run_kwargs(cfg: CfgNode) -> dict:
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


def evaluation_kwargs(cfg: CfgNode) -> dict:
    """The evaluation arguments every engine of the plugin takes."""
    return {
        'eval_frame_batch_size': cfg.test.frame_batch_size,
        'protocol': cfg.test.protocol,
        'both_directions': cfg.test.both_directions,
    }


def memory_format_kwargs(cfg: CfgNode) -> dict:
    """The training memory format every engine of the plugin takes."""
    return {'channels_last': cfg.train.channels_last}


def unsupervised_engine_kwargs(cfg: CfgNode) -> dict:
    """The keyword arguments both label-free engines take (besides their method's)."""
    return {
        'use_gpu': uses_gpu(cfg),
        'batch_size': cfg.train.batch_size,
        'pooling_method': cfg.video.pooling_method,
        'seed': cfg.train.seed,
        'skip_bad_frames': cfg.data.skip_bad_frames,
        'amp': cfg.train.amp or None,
        'ema_decay': cfg.train.ema_decay if cfg.train.ema else None,
        **evaluation_kwargs(cfg),
        **memory_format_kwargs(cfg),
    }


def dal_engine_kwargs(cfg: CfgNode) -> dict:
    """Keyword arguments of ``VideoDALEngine`` besides datamanager, model, optimizer, scheduler."""
    return {
        'margin': cfg.dal.margin,
        'eta': cfg.dal.eta,
        'intra_mutual_neighbors': cfg.dal.intra_mutual_neighbors,
        'warmup_epochs': cfg.dal.warmup_epochs,
        'anchor_init': cfg.dal.anchor_init,
        'sampling': cfg.dal.sampling,
        'num_instances': cfg.dal.num_instances,
        'clip_grad_value': cfg.dal.clip_grad_value or None,
        **unsupervised_engine_kwargs(cfg),
    }


def cc_engine_kwargs(cfg: CfgNode) -> dict:
    """Keyword arguments of ``VideoClusterContrastEngine`` besides the first four."""
    return {
        'seq_len': cfg.video.seq_len,
        'clips_per_identity': cfg.cc.clips_per_identity,
        'steps_per_epoch': cfg.cc.steps_per_epoch,
        'k1': cfg.cc.k1,
        'k2': cfg.cc.k2,
        'eps': cfg.cc.eps,
        'min_samples': cfg.cc.min_samples,
        'camera_centred': cfg.cc.camera_centred,
        'cross_camera': cfg.cc.cross_camera,
        'mutual_neighbors': cfg.cc.mutual_neighbors,
        'outliers': cfg.cc.outliers,
        'pseudo_labels': cfg.cc.pseudo_labels,
        'assignment_min_similarity': cfg.cc.assignment_min_similarity,
        'assignment_min_margin': cfg.cc.assignment_min_margin,
        'clusterings_per_epoch': cfg.cc.clusterings_per_epoch,
        'feature_frames': cfg.cc.feature_frames,
        'cross_camera_weight': cfg.cc.cross_camera_weight,
        'temperature': cfg.cc.temperature,
        'momentum': cfg.cc.momentum,
        'memory_update': cfg.cc.memory_update,
        'negatives': cfg.cc.negatives,
        'proxies': cfg.cc.proxies,
        'clip_grad_value': cfg.cc.clip_grad_value or None,
        **unsupervised_engine_kwargs(cfg),
    }


def softmax_engine_kwargs(cfg: CfgNode) -> dict:
    """Keyword arguments of torchreid's ``VideoSoftmaxEngine`` besides the first four."""
    return {
        'use_gpu': uses_gpu(cfg),
        'label_smooth': cfg.loss.softmax.label_smooth,
        'pooling_method': cfg.video.pooling_method,
        **evaluation_kwargs(cfg),
        **memory_format_kwargs(cfg),
    }


def triplet_engine_kwargs(cfg: CfgNode) -> dict:
    """Keyword arguments of torchreid's ``VideoTripletEngine`` besides the first three."""
    return {
        'margin': cfg.loss.triplet.margin,
        'weight_t': cfg.loss.triplet.weight_t,
        'weight_x': cfg.loss.triplet.weight_x,
        'use_gpu': uses_gpu(cfg),
        'label_smooth': cfg.loss.softmax.label_smooth,
        'pooling_method': cfg.video.pooling_method,
        **evaluation_kwargs(cfg),
        **memory_format_kwargs(cfg),
    }


def build_datamanager(cfg: CfgNode) -> 'torchreid.data.VideoDataManager':
    """``torchreid.data.VideoDataManager`` of ``cfg``.

    For the supervised engines, ``video.train_sample_method`` (when set)
    replaces ``video.sample_method`` for the training clips only. Every loader
    reads each frame once (``data.skip_bad_frames``: skip unreadable ones). A data
    root without the expected layout raises
    :class:`~dal_torchreid.data.datamanager.DataLayoutError` describing it. A tracklet data
    set cut from footage (``dal-make-tracklets``) is registered under its name, trains only
    the label-free engines and is never evaluated (it has no identities).
    """
    register_footage_under(cfg.data.root, list(cfg.data.sources) + list(cfg.data.targets))
    check_engine_for_footage(cfg.loss.name, cfg.data.sources, UNSUPERVISED_ENGINES)
    try:
        datamanager = build_video_datamanager(skip_bad_frames=cfg.data.skip_bad_frames,
                                              **videodata_kwargs(cfg))
    except DataLayoutError as err:
        cause = err.__cause__
        if isinstance(cause, AssertionError) and traceback.extract_tb(
                cause.__traceback__)[-1].filename.endswith('sampler.py'):
            # torchreid's RandomIdentitySampler asserts enough identities for one batch
            raise EmptyEpochError(
                f'an epoch of the {cfg.loss.name} engine forms no batch: torchreid\'s '
                f'{train_sampler(cfg)} needs {batch_tracklets(cfg) // cfg.sampler.num_instances} '
                f'training identities of sampler.num_instances {cfg.sampler.num_instances} '
                f'tracklets for a batch of {batch_tracklets(cfg)} tracklets (train.batch_size '
                f'{cfg.train.batch_size}), and the training set has fewer: nothing would be '
                'trained; lower train.batch_size') from cause
        raise
    if cfg.loss.name != 'dal' and cfg.video.train_sample_method:
        datamanager.train_loader.dataset.sample_method = cfg.video.train_sample_method
    return datamanager


def build_model(cfg: CfgNode, num_classes: int) -> torch.nn.Module:
    """The torchreid backbone ``model.name``, with ``model.pretrained`` / ``model.load_weights``.

    DAL models get ``num_classes=1`` from :func:`run_experiment`: DAL never
    uses the number of identities. Raises :class:`PretrainedWeightsError`
    when ImageNet weights cannot be downloaded or torchreid does not download
    them for this backbone, saying how to proceed offline; ``FileNotFoundError``
    names a missing ``model.load_weights`` file, and
    :class:`~dal_torchreid.models.WeightsError` one that does not fit the model
    (unless ``model.allow_partial_weights``).
    """
    if cfg.model.load_weights:
        check_input_file(cfg.model.load_weights, 'model.load_weights: file')
    model = build_backbone(cfg.model.name, num_classes,
                           loss='triplet' if cfg.loss.name == 'triplet' else 'softmax',
                           pretrained=bool(cfg.model.pretrained) and not cfg.model.load_weights,
                           use_gpu=uses_gpu(cfg))
    if cfg.model.load_weights:
        load_weights(model, cfg.model.load_weights, cfg.model.allow_partial_weights,
                     ema=cfg.model.load_ema)
    if cfg.model.bn_momentum > 0:
        dal_optim.set_bn_momentum(model, cfg.model.bn_momentum)
    check_input_size(model, cfg)
    check_open_layers(model, cfg)
    return model


def check_open_layers(model: torch.nn.Module, cfg: CfgNode) -> None:
    """Raises :class:`~dal_torchreid.experiment.config.ConfigError` when ``train.fixbase_epoch > 0``
    and ``train.open_layers`` names a layer ``model`` does not have (torchreid's
    ``open_specified_layers`` fails an assertion on it when training starts)."""
    if cfg.train.fixbase_epoch <= 0:
        return
    layers = [name for name, _ in model.named_children()]
    unknown = [name for name in cfg.train.open_layers or () if name not in layers]
    if unknown:
        raise ConfigError(f'train.open_layers names {str(unknown)[1:-1]}, which '
                          f'{cfg.model.name} does not have (its layers: {", ".join(layers)}); '
                          f'train.fixbase_epoch {cfg.train.fixbase_epoch} trains only those')


def check_input_size(model: torch.nn.Module, cfg: CfgNode) -> None:
    """Raises :class:`InputSizeError` when one ``data.height`` x ``data.width`` frame does
    not pass through ``model`` (its feature maps would shrink to nothing); one frame, in
    eval mode, on the CPU, before any data is read. With ``train.channels_last``, also
    :class:`~dal_torchreid.engine.memory_format.MemoryFormatError` when it does not pass
    in that format."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, 3, cfg.data.height, cfg.data.width,
                              device=next(model.parameters()).device))
    except RuntimeError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise InputSizeError(f'data.height {cfg.data.height}, data.width {cfg.data.width}: too '
                             f'small for model.name {cfg.model.name} ({first})') from err
    finally:
        model.train(was_training)
    if cfg.train.channels_last:
        check_channels_last_model(model, cfg.data.height, cfg.data.width,
                                  f'model.name {cfg.model.name}')


def build_optimizer(cfg: CfgNode, model: torch.nn.Module) -> torch.optim.Optimizer:
    """The optimizer of ``cfg``: torchreid's, or the release's TF-style RMSProp
    (:func:`dal_torchreid.optim.build_optimizer`)."""
    return dal_optim.build_optimizer(model, **optimizer_kwargs(cfg))


def build_scheduler(cfg: CfgNode, optimizer: torch.optim.Optimizer):
    """torchreid's learning-rate scheduler of ``cfg`` (always built: ``Engine.run`` saves it)."""
    return torchreid.optim.build_lr_scheduler(optimizer, **lr_scheduler_kwargs(cfg))


def build_engine(cfg: CfgNode, datamanager, model, optimizer, scheduler):
    """The engine of ``loss.name``; ``engine.frames_seen`` counts its training frames.

    The DAL engine gets an :class:`AssociationMonitor` with ``dal.diagnostics``, the
    Cluster Contrast engine a :class:`ClusterMonitor` with ``cc.diagnostics``:
    identities from a separate read of the source data, for reporting only.
    """
    if cfg.loss.name not in UNSUPERVISED_ENGINES and world()[1] > 1:
        raise ValueError(f'loss.name {cfg.loss.name!r}: torchreid\'s supervised engines do not '
                         'run under torch.distributed; only the DAL and cc engines do')
    label_free = any(is_footage_dataset(name) for name in cfg.data.sources)
    if cfg.loss.name == 'dal':
        if label_free:  # no identities: what needs none
            monitor = CycleConsistencyMonitor.from_datamanager(datamanager)
        else:
            monitor = (AssociationMonitor.from_datamanager(datamanager) if cfg.dal.diagnostics
                       else None)
        engine = VideoDALEngine(datamanager, model, optimizer, scheduler=scheduler,
                                association_monitor=monitor, **dal_engine_kwargs(cfg))
    elif cfg.loss.name == 'cc':
        if label_free:
            monitor = ClusterStatisticsMonitor()
        else:
            monitor = ClusterMonitor.from_datamanager(datamanager) if cfg.cc.diagnostics else None
        engine = VideoClusterContrastEngine(datamanager, model, optimizer, scheduler=scheduler,
                                            cluster_monitor=monitor, **cc_engine_kwargs(cfg))
    elif cfg.loss.name == 'softmax':
        engine = RecordedVideoSoftmaxEngine(datamanager, model, optimizer, scheduler=scheduler,
                                            **softmax_engine_kwargs(cfg))
    elif cfg.loss.name == 'triplet':
        engine = RecordedVideoTripletEngine(datamanager, model, optimizer, scheduler=scheduler,
                                            **triplet_engine_kwargs(cfg))
    else:
        raise ValueError(f'loss.name must be one of dal, cc, softmax, triplet, '
                         f'got {cfg.loss.name!r}')
    return engine

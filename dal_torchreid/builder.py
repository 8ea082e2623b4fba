"""Builds an experiment from a config and runs it, as torchreid's ``scripts/main.py``.

:func:`run_experiment` is what ``tools/train.py`` calls: it seeds, builds the
data manager, model, optimizer, scheduler and engine from a config of
:mod:`dal_torchreid.config`, trains and/or evaluates with torchreid's
``Engine.run`` and writes ``<save_dir>/results.json``. The ``build_*``
functions are its steps, for scripts that need one of them.

``loss.name`` picks the engine: ``'dal'`` trains :class:`VideoDALEngine`
without identity labels; ``'softmax'`` and ``'triplet'`` train torchreid's
supervised video engines with identity labels, on the same data and backbone.

Examples::

    from dal_torchreid.config import load_config
    from dal_torchreid.builder import run_experiment
    cfg = load_config('configs/synthetic_demo.yaml', ['data.root', 'reid-data'])
    record = run_experiment(cfg)
    print(record['targets']['prid2011']['rank1'])
"""
from __future__ import annotations

import os
import os.path as osp
import sys
import time
import warnings

import torch
from yacs.config import CfgNode

import torchreid

from dal_torchreid.config import (
    dal_engine_kwargs, engine_run_kwargs, lr_scheduler_kwargs, optimizer_kwargs,
    softmax_engine_kwargs, triplet_engine_kwargs, uses_gpu, videodata_kwargs
)
from dal_torchreid.data.layouts import build_video_datamanager
from dal_torchreid.diagnostics import AssociationMonitor
from dal_torchreid.engine import (
    RecordedVideoSoftmaxEngine, RecordedVideoTripletEngine, VideoDALEngine
)
from dal_torchreid.engine.distributed import is_main_process, world
from dal_torchreid.results import (
    make_record, plot_associations, summarize_splits, write_results
)


class PretrainedWeightsError(RuntimeError):
    """ImageNet weights for ``model.pretrained`` could not be obtained."""


def build_datamanager(cfg: CfgNode) -> 'torchreid.data.VideoDataManager':
    """``torchreid.data.VideoDataManager`` of ``cfg``.

    For the supervised engines, ``video.train_sample_method`` (when set)
    replaces ``video.sample_method`` for the training clips only. A data root
    without the expected layout raises :class:`~dal_torchreid.data.layouts.DataLayoutError`
    describing it.
    """
    datamanager = build_video_datamanager(**videodata_kwargs(cfg))
    if cfg.loss.name != 'dal' and cfg.video.train_sample_method:
        datamanager.train_loader.dataset.sample_method = cfg.video.train_sample_method
    return datamanager


def _expected_weights_file(name: str) -> str | None:
    """Where torchreid looks for ``name``'s ImageNet weights, when it can be told."""
    factory = (vars(torchreid.models).get('__model_factory') or {}).get(name)
    module = sys.modules.get(getattr(factory, '__module__', ''), None)
    model_urls = getattr(module, 'model_urls', {})
    if name in model_urls and not model_urls[name].startswith('https://mega'):
        filename = osp.basename(model_urls[name].split('?')[0])
        return osp.join(torch.hub.get_dir(), 'checkpoints', filename)
    if name in getattr(module, 'pretrained_urls', {}):
        torch_home = osp.expanduser(os.getenv(
            'TORCH_HOME', osp.join(os.getenv('XDG_CACHE_HOME', '~/.cache'), 'torch')))
        return osp.join(torch_home, 'checkpoints', name + '_imagenet.pth')
    return None


def _offline_advice(name: str) -> str:
    expected = _expected_weights_file(name)
    where = ('put the weights file at "{}" (torch hub\'s checkpoint directory; set '
             '$TORCH_HOME to move it)'.format(expected) if expected else
             'put the weights file in torch hub\'s checkpoint directory ("{}", or '
             '$TORCH_HOME/checkpoints for OSNet models) under the file name torchreid '
             'expects'.format(osp.join(torch.hub.get_dir(), 'checkpoints')))
    return ('To proceed offline: {}; or pass "model.load_weights PATH" with a weights '
            'file you have (and "model.pretrained False"); or train from scratch with '
            '"model.pretrained False".'.format(where))


def build_model(cfg: CfgNode, num_classes: int) -> torch.nn.Module:
    """The torchreid backbone ``model.name``, with ``model.pretrained`` / ``model.load_weights``.

    DAL models get ``num_classes=1`` from :func:`run_experiment`: DAL never
    uses the number of identities. Raises :class:`PretrainedWeightsError`
    when ImageNet weights cannot be downloaded or torchreid does not download
    them for this backbone, saying how to proceed offline; ``FileNotFoundError``
    names a missing ``model.load_weights`` file.
    """
    name = cfg.model.name
    if cfg.model.load_weights and not osp.isfile(cfg.model.load_weights):
        raise FileNotFoundError('model.load_weights: file "{}" does not exist'
                                .format(cfg.model.load_weights))
    pretrained = bool(cfg.model.pretrained) and not cfg.model.load_weights
    loss = 'triplet' if cfg.loss.name == 'triplet' else 'softmax'
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        try:
            model = torchreid.models.build_model(
                name=name, num_classes=num_classes, loss=loss, pretrained=pretrained,
                use_gpu=uses_gpu(cfg)
            )
        except OSError as err:
            raise PretrainedWeightsError(
                'model.pretrained: could not download the ImageNet weights of "{}" ({}). {}'
                .format(name, err, _offline_advice(name))) from err
    for w in caught:
        if pretrained and 'manually downloaded' in str(w.message):
            raise PretrainedWeightsError(
                'model.pretrained: torchreid does not download the ImageNet weights of "{}" '
                '({}). Download them and pass "model.load_weights PATH", or set '
                '"model.pretrained False" to train from scratch.'.format(name, w.message))
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if cfg.model.load_weights:
        torchreid.utils.load_pretrained_weights(model, cfg.model.load_weights)
    return model


def build_optimizer(cfg: CfgNode, model: torch.nn.Module) -> torch.optim.Optimizer:
    """torchreid's optimizer of ``cfg``, with ``rmsprop.eps`` applied for RMSProp."""
    optimizer = torchreid.optim.build_optimizer(model, **optimizer_kwargs(cfg))
    if cfg.train.optim == 'rmsprop':
        for group in optimizer.param_groups:
            group['eps'] = cfg.rmsprop.eps
    return optimizer


def build_scheduler(cfg: CfgNode, optimizer: torch.optim.Optimizer):
    """torchreid's learning-rate scheduler of ``cfg`` (always built: ``Engine.run`` saves it)."""
    return torchreid.optim.build_lr_scheduler(optimizer, **lr_scheduler_kwargs(cfg))


def build_engine(cfg: CfgNode, datamanager, model, optimizer, scheduler):
    """The engine of ``loss.name``, with its test settings and a training-frame counter.

    ``engine.frames_seen`` counts the training frames processed by ``engine.run``.
    """
    if cfg.loss.name != 'dal' and world()[1] > 1:
        raise ValueError('loss.name {!r}: torchreid\'s supervised engines do not run under '
                         'torch.distributed; only the DAL engine does'.format(cfg.loss.name))
    if cfg.loss.name == 'dal':
        engine = VideoDALEngine(datamanager, model, optimizer, scheduler=scheduler,
                                **dal_engine_kwargs(cfg))
        if cfg.dal.diagnostics:
            # identities from a separate read of the source data, for reporting only
            engine.association_monitor = AssociationMonitor.from_datamanager(datamanager)
    elif cfg.loss.name == 'softmax':
        engine = RecordedVideoSoftmaxEngine(datamanager, model, optimizer, scheduler=scheduler,
                                            **softmax_engine_kwargs(cfg))
    elif cfg.loss.name == 'triplet':
        engine = RecordedVideoTripletEngine(datamanager, model, optimizer, scheduler=scheduler,
                                            **triplet_engine_kwargs(cfg))
    else:
        raise ValueError('loss.name must be one of dal, softmax, triplet, got {!r}'
                         .format(cfg.loss.name))
    engine.eval_frame_batch_size = cfg.test.frame_batch_size
    count_training_frames(engine)
    return engine


def count_training_frames(engine) -> None:
    """Makes ``engine.frames_seen`` count the frames of every training batch.

    Wraps the instance's ``forward_backward``: a batch of tracklets
    ``(B, S, C, H, W)`` counts ``B * S`` frames, a batch of frames ``B``.
    """
    forward_backward = engine.forward_backward
    engine.frames_seen = 0

    def counted(data):
        imgs = data['img']
        engine.frames_seen += imgs.shape[0] * (imgs.shape[1] if imgs.dim() == 5 else 1)
        return forward_backward(data)

    engine.forward_backward = counted


def training_frames_per_epoch(engine) -> int:
    """Frames one training epoch of ``engine`` processes (drop_last loaders).

    For torchreid's ``RandomIdentitySampler`` this is the sampler's estimate.
    """
    loader = engine.train_loader
    frames = len(loader) * loader.batch_size
    if not isinstance(engine, VideoDALEngine):
        dataset = loader.dataset
        frames *= 1 if dataset.sample_method == 'all' else dataset.seq_len
    return frames


def run_experiment(cfg: CfgNode, save_dir: str | None = None) -> dict:
    """Trains and/or evaluates as ``cfg`` says; writes and returns the results record.

    Args:
        cfg (CfgNode): a validated config (:func:`dal_torchreid.config.load_config`).
        save_dir (str, optional): overrides ``data.save_dir``.

    Returns:
        dict: the record written to ``<save_dir>/results.json`` (see
        :mod:`dal_torchreid.results`).
    """
    save_dir = save_dir or cfg.data.save_dir
    torchreid.utils.set_random_seed(cfg.train.seed)
    start = time.time()
    datamanager = build_datamanager(cfg)
    num_classes = 1 if cfg.loss.name == 'dal' else datamanager.num_train_pids
    model = build_model(cfg, num_classes)
    if uses_gpu(cfg):
        model = model.cuda()
    optimizer = build_optimizer(cfg, model)
    scheduler = build_scheduler(cfg, optimizer)
    engine = build_engine(cfg, datamanager, model, optimizer, scheduler)

    run_kwargs = engine_run_kwargs(cfg)
    run_kwargs['save_dir'] = save_dir
    if cfg.model.resume and not cfg.test.evaluate:
        if not osp.isfile(cfg.model.resume):
            raise FileNotFoundError('model.resume: checkpoint "{}" does not exist'
                                    .format(cfg.model.resume))
        if isinstance(engine, VideoDALEngine):
            run_kwargs['start_epoch'] = engine.resume(cfg.model.resume)
        else:
            run_kwargs['start_epoch'] = torchreid.utils.resume_from_checkpoint(
                cfg.model.resume, model, optimizer, scheduler)
    if not cfg.test.evaluate:
        print('=> {} training frames per epoch'.format(training_frames_per_epoch(engine)))
    engine.test_results = {}
    engine.run(**run_kwargs)
    wall_time = time.time() - start

    trained = not cfg.test.evaluate
    if not engine.test_results:
        warnings.warn('no evaluation ran (train.max_epoch {} and test.evaluate False); '
                      '{} has no targets'.format(cfg.train.max_epoch, osp.join(save_dir, 'results.json')))
    record = make_record(
        engine.test_results,
        engine=cfg.loss.name,
        backbone=cfg.model.name,
        epochs=(cfg.train.max_epoch - run_kwargs['start_epoch']) if trained else 0,
        seed=cfg.train.seed,
        wall_time_s=round(wall_time, 2),
        frames_seen=int(engine.frames_seen),
        test_only=bool(cfg.test.evaluate),
        init_weights=cfg.model.load_weights or ('imagenet' if cfg.model.pretrained else 'random'),
        config=_plain(cfg),
    )
    history = getattr(engine, 'association_history', None)
    if history:
        record['associations'] = history
    if not is_main_process():
        return record
    path = write_results(record, save_dir)
    print('Results written to "{}"'.format(path))
    if history:
        print('Association diagnostics plotted to "{}"'.format(
            plot_associations(history, osp.join(save_dir, 'associations.png'))))
    return record


def _plain(node):
    if isinstance(node, CfgNode):
        return {k: _plain(v) for k, v in node.items()}
    if isinstance(node, tuple):
        return list(node)
    return node


def run_split_protocol(cfg: CfgNode, num_splits: int = 10, save_dir: str | None = None) -> dict:
    """Trains and evaluates each of the first ``num_splits`` splits (``data.split_id``).

    The PRID2011 / iLIDS-VID protocol: one run per random 50/50 person split,
    each writing ``<save_dir>/split<i>/results.json``; then
    ``<save_dir>/results.json`` holds each metric's mean and standard deviation
    over the splits (:func:`dal_torchreid.results.summarize_splits`).
    """
    if num_splits < 1:
        raise ValueError('num_splits must be >= 1, got {}'.format(num_splits))
    save_dir = save_dir or cfg.data.save_dir
    records = []
    for split in range(num_splits):
        split_cfg = cfg.clone()
        split_cfg.defrost()
        split_cfg.data.split_id = split
        split_cfg.freeze()
        print('=> Split {} of {}'.format(split + 1, num_splits))
        records.append(run_experiment(split_cfg, osp.join(save_dir, 'split{}'.format(split))))
    record = {
        'engine': cfg.loss.name, 'backbone': cfg.model.name, 'seed': cfg.train.seed,
        'num_splits': num_splits,
        'wall_time_s': round(sum(r['wall_time_s'] for r in records), 2),
        'targets': summarize_splits(records),
    }
    if is_main_process():
        print('Split summary written to "{}"'.format(write_results(record, save_dir)))
    return record

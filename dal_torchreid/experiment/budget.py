"""One training budget for every engine, so DAL and the supervised baselines compare fairly.

``train.batch_size`` counts frames per step for every engine: the supervised
engines train ``batch_size // video.seq_len`` tracklets of ``video.seq_len``
frames, Cluster Contrast ``batch_size // (video.seq_len * cc.clips_per_identity)``
pseudo-identities of that many clips, as many steps an epoch as DAL (unless
``cc.steps_per_epoch`` says). ``train.max_epoch`` counts DAL epochs: a supervised
engine trains as many of its own epochs as see the same number of frames (its learning-rate
steps scaled alike), unless ``train.supervised_epochs`` says how many. The triplet engine samples with
torchreid's ``RandomIdentitySampler`` unless ``sampler.train_sampler`` names
another. An epoch that forms no batch is refused before training starts.

Examples::

    cfg = load_config('configs/synthetic_demo.yaml', ['loss.name', 'triplet'])
    datamanager = build_datamanager(cfg)
    cfg = with_supervised_budget(cfg, datamanager)  # train.max_epoch: the triplet engine's
"""
from __future__ import annotations

from yacs.config import CfgNode

from dal_torchreid.data.tracklet_frames import (
    EmptyEpochError, TrackletFrameDataset, TrackletFrameSampler
)


UNSUPERVISED_ENGINES = ('dal', 'cc')  # engines that train without identity labels


class BudgetError(ValueError):
    """DAL's frame budget that no whole number of a supervised engine's epochs comes near."""


def train_sampler(cfg: CfgNode) -> str:
    """``sampler.train_sampler``, or the engine's own: ``RandomIdentitySampler`` for the
    triplet engine (its loss needs several tracklets per identity), else ``RandomSampler``."""
    if cfg.sampler.train_sampler:
        return cfg.sampler.train_sampler
    return 'RandomIdentitySampler' if cfg.loss.name == 'triplet' else 'RandomSampler'


def batch_tracklets(cfg: CfgNode) -> int:
    """Tracklets per supervised batch: ``train.batch_size`` frames in clips of ``video.seq_len``."""
    return cfg.train.batch_size // cfg.video.seq_len


def budget_rules(cfg: CfgNode) -> list[tuple[str, bool, str]]:
    """(key, holds, what it must be) of the supervised engines' batches, for
    :func:`dal_torchreid.experiment.config.validate_config`."""
    if cfg.loss.name == 'dal':
        return []
    if cfg.loss.name == 'cc':
        clip_frames = cfg.video.seq_len * cfg.cc.clips_per_identity
        return [('train.batch_size', cfg.train.batch_size % clip_frames == 0 and
                 cfg.train.batch_size >= clip_frames, 'must be a multiple of video.seq_len x '
                 f'cc.clips_per_identity = {clip_frames} frames for the Cluster Contrast engine')]
    tracklets = batch_tracklets(cfg)
    identity_sampler = train_sampler(cfg) == 'RandomIdentitySampler'
    instances = cfg.sampler.num_instances
    clip = cfg.video.train_sample_method or cfg.video.sample_method
    return [
        ('train.batch_size', tracklets >= 1, 'must hold at least one tracklet of video.seq_len '
         f'{cfg.video.seq_len} frames for the supervised engines'),
        ('sampler.num_instances', not identity_sampler or 1 <= instances <= tracklets,
         f'must be in [1, {tracklets}] (tracklets per batch: train.batch_size / video.seq_len)'),
        ('train.batch_size', cfg.loss.name != 'triplet' or not identity_sampler or
         tracklets >= 2 * instances, 'must hold two identities of sampler.num_instances '
         'tracklets for the triplet engine (its loss needs negatives): at least '
         f'{2 * instances * cfg.video.seq_len} frames'),
        ('video.train_sample_method', clip != 'all' or tracklets == 1, 'must not be "all" with '
         'several tracklets per batch (set it to "evenly" or "random" for the supervised engines)'),
    ]


def dal_frames_per_epoch(cfg: CfgNode, datamanager) -> int:
    """Frames one DAL epoch trains on ``datamanager``'s training set (whole batches only)."""
    sampler = TrackletFrameSampler(TrackletFrameDataset.from_datamanager(datamanager),
                                   cfg.dal.sampling, cfg.dal.num_instances)
    return len(sampler) // cfg.train.batch_size * cfg.train.batch_size


def loader_frames(loader) -> int:
    """Frames one pass over a training ``loader`` yields in this process: DAL's batches
    of frames, or torchreid's batches of ``seq_len``-frame clips (a whole tracklet,
    with ``sample_method='all'``, counts once).

    For torchreid's ``RandomIdentitySampler`` this is the sampler's estimate; with
    ``sample_method='all'``, whole tracklets of their mean length.
    """
    per_batch = loader.batch_size
    if per_batch is None:  # a batch sampler: Cluster Contrast's clips
        per_batch = loader.batch_sampler.batch_size
    frames = len(loader) * per_batch
    dataset = loader.dataset
    if hasattr(dataset, 'seq_len'):  # torchreid's VideoDataset: batches of clips
        if dataset.sample_method != 'all':
            return frames * dataset.seq_len
        # whole tracklets: each counts its frames (exact when an epoch draws each once)
        lengths = [len(item[0]) for item in dataset.data]
        return round(frames * sum(lengths) / len(lengths)) if lengths else 0
    return frames


def frames_per_epoch(engine) -> int:
    """Frames one training epoch of ``engine`` processes, over all processes."""
    return loader_frames(engine.train_loader) * getattr(engine, 'world_size', 1)


def check_epoch_trains(engine, cfg: CfgNode) -> None:
    """Raises :class:`EmptyEpochError` when ``engine``'s training epoch forms no batch."""
    if len(engine.train_loader) > 0:
        return
    tracklets = len(engine.datamanager.train_loader.dataset.train)
    per_batch = (f'{cfg.train.batch_size} frames' if cfg.loss.name in UNSUPERVISED_ENGINES else
                 f'{batch_tracklets(cfg)} tracklets of {cfg.video.seq_len} frames '
                 f'(train.batch_size {cfg.train.batch_size})')
    sampler = {'dal': 'TrackletFrameSampler', 'cc': 'PseudoIdentityClipSampler'}.get(
        cfg.loss.name) or train_sampler(cfg)
    raise EmptyEpochError(
        f'an epoch of the {cfg.loss.name} engine forms no batch of {per_batch} with '
        f'{sampler} over {tracklets} training tracklets: nothing would be trained; lower '
        'train.batch_size (or video.seq_len, sampler.num_instances)')


def with_supervised_budget(cfg: CfgNode, datamanager) -> CfgNode:
    """``cfg`` with ``train.max_epoch`` set to the supervised engine's epochs.

    ``train.supervised_epochs`` when set; otherwise as many epochs of
    ``batch_tracklets(cfg)`` tracklets per batch as cover DAL's training frames
    (``train.max_epoch`` DAL epochs), counting the frames each epoch really trains
    (whole tracklets with ``sample_method='all'``), with ``train.stepsize`` scaled
    alike so the learning rate changes after the same number of frames. Raises
    :class:`BudgetError` when that number is 0 (DAL's budget is under half an epoch,
    or 0 where a DAL epoch forms no batch). A DAL or Cluster Contrast config is
    returned as is.
    """
    if cfg.loss.name in UNSUPERVISED_ENGINES:
        return cfg
    epochs = cfg.train.supervised_epochs
    if epochs == 0 and cfg.train.max_epoch > 0:
        per_epoch = loader_frames(datamanager.train_loader)
        dal_epoch = dal_frames_per_epoch(cfg, datamanager)
        budget = dal_epoch * cfg.train.max_epoch
        epochs = round(budget / per_epoch) if per_epoch else cfg.train.max_epoch
        if epochs == 0:
            raise BudgetError(
                f'DAL\'s frame budget is {budget} frames (train.max_epoch {cfg.train.max_epoch} '
                f'DAL epochs of {dal_epoch} frames in whole batches of train.batch_size '
                f'{cfg.train.batch_size}), less than half of one {cfg.loss.name} epoch '
                f'({per_epoch} frames): no whole number of its epochs trains that budget; '
                'raise train.max_epoch (or lower train.batch_size), or set '
                'train.supervised_epochs')
    cfg = cfg.clone()
    cfg.defrost()
    if cfg.train.supervised_epochs == 0 and cfg.train.max_epoch > 0:
        # the learning-rate steps fall at the same fraction of the frames as DAL's
        scale = epochs / cfg.train.max_epoch
        cfg.train.stepsize = [max(1, round(step * scale)) for step in cfg.train.stepsize]
    cfg.train.max_epoch = epochs
    cfg.freeze()
    return cfg

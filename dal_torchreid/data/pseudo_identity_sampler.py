"""Batches of pseudo-identities for Cluster Contrast: P identities x K clips x S frames.

Batches are drawn from the label-free :class:`~dal_torchreid.data.TrackletFrameDataset`
by the clustering's pseudo-labels (never identities). Each step takes ``P``
pseudo-identities, ``K`` clips each, a clip being ``S`` (``video.seq_len``)
frames of one tracklet drawn at random and kept in order, so a step holds
``P * K * S = train.batch_size`` frames, the budget rule of the supervised
engines. As the reference's ``RandomMultipleGallerySampler``, an identity's
first tracklet is drawn at random and its other clips come from tracklets of
other cameras where it has them, else from its other tracklets, else from the
same tracklet (different frames).
"""
from __future__ import annotations

from typing import Iterator

import numpy as np
from torch.utils.data import Sampler

from dal_torchreid.data.tracklet_frames import TrackletFrameDataset, epoch_generator

CLIPS_PER_IDENTITY = 4  # K
STEPS_PER_EPOCH = 0  # 0: as many steps as a DAL epoch over the same frames


def check_clips_per_identity(clips_per_identity: int) -> None:
    if clips_per_identity < 1:
        raise ValueError(f'clips_per_identity must be >= 1, got {clips_per_identity}')


def check_steps_per_epoch(steps_per_epoch: int) -> None:
    if steps_per_epoch < 0:
        raise ValueError(f'steps_per_epoch must be >= 0 (0: a DAL epoch\'s frames), '
                         f'got {steps_per_epoch}')


def identities_per_step(batch_size: int, seq_len: int, clips_per_identity: int) -> int:
    """``P = batch_size / (K * S)``; a ``ValueError`` unless it is a whole number >= 1."""
    clip_frames = seq_len * clips_per_identity
    if batch_size < clip_frames or batch_size % clip_frames:
        raise ValueError(f'batch_size ({batch_size} frames) must be a multiple of '
                         f'video.seq_len x clips_per_identity = {seq_len} x {clips_per_identity}')
    return batch_size // clip_frames


class PseudoIdentityClipSampler(Sampler[list]):
    r"""Yields each step's frame indices (a batch sampler), ``P x K`` clips of ``S`` frames.

    Args:
        dataset (TrackletFrameDataset): the label-free training frames.
        batch_size (int): frames per step and process (``P * K * S``).
        seq_len (int): frames per clip ``S``.
        clips_per_identity (int): clips per pseudo-identity ``K``.
        steps_per_epoch (int): steps per epoch; 0: ``len(dataset) // (batch_size *
            num_replicas)``, the steps of a DAL epoch over the same frames.
        seed (int, optional): epoch ``e`` draws with ``seed + e``; None: from torch's
            global generator.
        num_replicas, rank (int): processes sharing each global batch (in rank
            order), and this process's rank.

    :meth:`set_labels` gives the epoch's pseudo-labels (one per tracklet, ``-1``:
    left out). A batch's clips are in identity order, ``K`` consecutive clips per
    identity, frames of a clip consecutive.

    Examples::

        sampler = PseudoIdentityClipSampler(dataset, batch_size=64, seq_len=4,
                                            clips_per_identity=4, seed=0)
        sampler.set_labels(pseudo_labels)
        loader = DataLoader(dataset, batch_sampler=sampler)
    """

    def __init__(self, dataset: TrackletFrameDataset, batch_size: int, seq_len: int,
                 clips_per_identity: int = CLIPS_PER_IDENTITY,
                 steps_per_epoch: int = STEPS_PER_EPOCH, seed: int | None = None,
                 num_replicas: int = 1, rank: int = 0) -> None:
        check_clips_per_identity(clips_per_identity)
        check_steps_per_epoch(steps_per_epoch)
        self.identities = identities_per_step(batch_size, seq_len, clips_per_identity)
        self.batch_size, self.seq_len = int(batch_size), int(seq_len)
        self.clips = int(clips_per_identity)
        self.steps = int(steps_per_epoch) or len(dataset) // (batch_size * num_replicas)
        self.seed, self.epoch = seed, 0
        self.num_replicas, self.rank = num_replicas, rank
        self.cameras = np.asarray(dataset.tracklet_camera)
        self._frames = [np.flatnonzero(dataset.frame_tracklet == t)
                        for t in range(dataset.num_tracklets)]
        self.labels = np.full(dataset.num_tracklets, -1, dtype=np.int64)

    def set_labels(self, labels) -> None:
        """The pseudo-labels of the coming epoch, one per tracklet (``-1``: left out)."""
        labels = np.asarray(labels, dtype=np.int64)
        if labels.shape != self.labels.shape:
            raise ValueError(f'labels must hold one value per training tracklet '
                             f'({len(self.labels)}), got shape {labels.shape}')
        self.labels = labels

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def _clip_tracklets(self, rng, members: np.ndarray) -> list[int]:
        """K tracklets of one identity: one at random, the rest from other cameras first."""
        first = int(rng.choice(members))
        rest = members[members != first]
        cross = rest[self.cameras[rest] != self.cameras[first]]
        pool = cross if len(cross) else rest
        if len(pool) == 0 or self.clips == 1:
            return [first] * self.clips
        more = rng.choice(pool, size=self.clips - 1, replace=len(pool) < self.clips - 1)
        return [first] + [int(t) for t in more]

    def _clip(self, rng, t: int) -> list[int]:
        frames = self._frames[t]
        picks = rng.choice(len(frames), size=self.seq_len, replace=len(frames) < self.seq_len)
        return frames[np.sort(picks)].tolist()

    def __iter__(self) -> Iterator[list]:
        rng = epoch_generator(self.seed, self.epoch)
        self.epoch += 1
        classes = np.unique(self.labels[self.labels >= 0])
        if len(classes) == 0:
            raise RuntimeError('no training tracklet has a pseudo-label this epoch (every one is '
                               'an outlier): nothing to train on; raise cc.eps, lower '
                               'cc.min_samples or set cc.outliers "own_class"')
        members = {c: np.flatnonzero(self.labels == c) for c in classes}
        order: list = []
        per_step = self.identities * self.num_replicas
        for _ in range(self.steps):
            while len(order) < per_step:
                order.extend(rng.permutation(classes).tolist())
            step, order = order[:per_step], order[per_step:]
            mine = range(self.rank * self.identities, (self.rank + 1) * self.identities)
            batch = []
            for i, c in enumerate(step):  # every rank draws every clip: the streams agree
                clips = [self._clip(rng, t) for t in self._clip_tracklets(rng, members[c])]
                if i in mine:
                    batch.extend(f for clip in clips for f in clip)
            yield batch

    def __len__(self) -> int:
        return self.steps

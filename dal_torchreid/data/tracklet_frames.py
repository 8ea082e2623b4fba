"""Label-free training frames for DAL: (frame, camera, tracklet-within-camera).

DAL never sees identity labels. :class:`TrackletFrameDataset` is built from the
training tracklets of a torchreid ``VideoDataManager`` and keeps only each
tracklet's image paths and camera; the person id is dropped when the dataset is
built, so nothing downstream can read it. Each tracklet becomes its own class
within its camera: label ``(c, k)``.
"""
from __future__ import annotations

from typing import Callable, Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler

from dal_torchreid.data.frames import AllFramesDataset

SAMPLING_MODES = ('frame', 'tracklet')
SAMPLING = 'frame'  # the release: uniform over frames
BATCH_SIZE = 64  # frames per step, the release's
NUM_INSTANCES = 4  # frames per tracklet in 'tracklet' sampling


def check_sampling(sampling: str) -> None:
    if sampling not in SAMPLING_MODES:
        raise ValueError(f'sampling must be one of {list(SAMPLING_MODES)}, got {sampling!r}')


def check_batch_size(batch_size: int) -> None:
    if batch_size < 2:
        raise ValueError(f'batch_size counts frames and must be >= 2, got {batch_size}')


def check_num_instances(num_instances: int) -> None:
    if num_instances < 1:
        raise ValueError(f'num_instances must be >= 1, got {num_instances}')


class EmptyEpochError(ValueError):
    """A training epoch that would form no batch: nothing would be trained."""


def epoch_generator(seed: int | None, epoch: int) -> np.random.Generator:
    """A sampler's random generator for ``epoch``: seeded with ``seed + epoch``, or drawn
    from torch's global generator when ``seed`` is None (so torch's seed governs it)."""
    if seed is None:
        return np.random.default_rng(int(torch.randint(0, 2 ** 62, ()).item()))
    return np.random.default_rng(seed + epoch)


class TrackletFrameDataset(AllFramesDataset):
    r"""Single training frames with their camera and per-camera tracklet index.

    Args:
        tracklets (sequence): ``(img_paths, camid)`` pairs, one per training tracklet.
        transform (callable, optional): applied to each PIL image (torchreid's
            training transforms when built with :meth:`from_datamanager`).
        skip_bad_frames (bool, optional): False (default): an unreadable frame
            stops the run with an error naming the file; True: it is replaced by
            the next readable frame of its tracklet, with one warning per file.

    ``dataset[i]`` is a dict with ``img``, ``camid`` (camera index, ``0 .. C-1``),
    ``tracklet`` (index within the camera, ``0 .. N_c-1``) and ``impath``.
    ``tracklets_per_camera`` gives ``N_c``; ``frame_tracklet`` maps each frame to
    its global tracklet index (the order of the source data).

    Examples::

        import torchreid, dal_torchreid
        datamanager = torchreid.data.VideoDataManager(root='reid-data', sources='prid2011')
        dataset = torchreid.data.TrackletFrameDataset.from_datamanager(datamanager)
        print(dataset.tracklets_per_camera)  # e.g. [89, 89]
    """

    def __init__(self, tracklets: Sequence[tuple[Sequence[str], int]],
                 transform: Callable | None = None, skip_bad_frames: bool = False) -> None:
        if len(tracklets) == 0:
            raise ValueError('TrackletFrameDataset needs at least one training tracklet')
        super().__init__([paths for paths, _ in tracklets], transform, skip_bad_frames,
                         name='training tracklet')
        cameras = sorted({int(camid) for _, camid in tracklets})
        cam_index = {camid: c for c, camid in enumerate(cameras)}
        self.source_camids = cameras
        self.tracklets_per_camera = [0] * len(cameras)
        self.tracklet_camera: list[int] = []
        self.tracklet_label: list[int] = []
        for _, camid in tracklets:
            c = cam_index[int(camid)]
            self.tracklet_camera.append(c)
            self.tracklet_label.append(self.tracklets_per_camera[c])
            self.tracklets_per_camera[c] += 1

    @classmethod
    def from_datamanager(cls, datamanager, transform: Callable | None = None,
                         skip_bad_frames: bool = False) -> 'TrackletFrameDataset':
        """Builds the dataset from a ``VideoDataManager``'s training set, dropping pids.

        Several sources combine as torchreid combines them (camera ids offset per
        source), so each source's cameras stay separate cameras.
        """
        trainset = datamanager.train_loader.dataset
        tracklets = [(item[0], item[2]) for item in trainset.train]
        transform = datamanager.transform_tr if transform is None else transform
        return cls(tracklets, transform=transform, skip_bad_frames=skip_bad_frames)

    @property
    def num_cameras(self) -> int:
        return len(self.tracklets_per_camera)

    def __getitem__(self, index: int) -> dict:
        t = int(self.frame_tracklet[index])
        return {'img': self.read(index), 'camid': self.tracklet_camera[t],
                'tracklet': self.tracklet_label[t], 'impath': self.img_paths[index]}


class TrackletFrameSampler(Sampler[int]):
    r"""Orders training frames for DAL.

    Args:
        dataset (TrackletFrameDataset): the frames to sample.
        sampling (str): ``'frame'``: a random permutation of all training frames,
            one epoch being one pass over them (the release); ``'tracklet'``:
            every tracklet once per epoch, ``num_instances`` random frames each
            (with replacement when it has fewer), tracklets in random order.
        num_instances (int): frames per tracklet in ``'tracklet'`` mode.
        seed (int, optional): makes the order reproducible; epoch ``e`` uses
            ``seed + e``. Without it the order follows torch's global generator.
        num_replicas (int, optional): processes sharing the epoch (distributed
            training). Each global batch of ``num_replicas * batch_size`` frames
            is split in rank order, so the ranks together see what one process
            with the global batch would; incomplete global batches are dropped.
        rank (int, optional): this process's rank.
        batch_size (int, optional): frames per batch per process; needed when
            ``num_replicas > 1``.

    Examples::

        dataset = TrackletFrameDataset.from_datamanager(datamanager)
        sampler = TrackletFrameSampler(dataset, 'frame', seed=0)
        loader = DataLoader(dataset, sampler=sampler, batch_size=64, drop_last=True)
        sampler.set_epoch(epoch)  # before each epoch: a reproducible new order
    """

    def __init__(self, dataset: TrackletFrameDataset, sampling: str = SAMPLING,
                 num_instances: int = NUM_INSTANCES, seed: int | None = None,
                 num_replicas: int = 1, rank: int = 0, batch_size: int | None = None) -> None:
        check_sampling(sampling)
        check_num_instances(num_instances)
        if num_replicas > 1 and not batch_size:
            raise ValueError(f'batch_size is needed to shard batches over {num_replicas} replicas')
        self.sampling = sampling
        self.num_instances = int(num_instances)
        self.seed = seed
        self.epoch = 0
        self.num_replicas, self.rank, self.batch_size = num_replicas, rank, batch_size
        self._tracklet_frames = [np.flatnonzero(dataset.frame_tracklet == t)
                                 for t in range(dataset.num_tracklets)]
        self._num_frames = len(dataset)

    def set_epoch(self, epoch: int) -> None:
        """Chooses the epoch whose order a seeded sampler yields next."""
        self.epoch = int(epoch)

    def _global_order(self) -> list[int]:
        rng = epoch_generator(self.seed, self.epoch)
        self.epoch += 1
        if self.sampling == 'frame':
            return rng.permutation(self._num_frames).tolist()
        order = []
        for t in rng.permutation(len(self._tracklet_frames)):
            frames = self._tracklet_frames[t]
            replace = len(frames) < self.num_instances
            order.extend(rng.choice(frames, size=self.num_instances, replace=replace).tolist())
        return order

    def _global_length(self) -> int:
        if self.sampling == 'frame':
            return self._num_frames
        return len(self._tracklet_frames) * self.num_instances

    def __iter__(self) -> Iterator[int]:
        order = self._global_order()
        if self.num_replicas == 1:
            return iter(order)
        b, g = self.batch_size, self.batch_size * self.num_replicas
        mine = []
        for start in range(0, len(order) - g + 1, g):
            mine.extend(order[start + self.rank * b:start + (self.rank + 1) * b])
        return iter(mine)

    def __len__(self) -> int:
        if self.num_replicas == 1:
            return self._global_length()
        g = self.batch_size * self.num_replicas
        return self._global_length() // g * self.batch_size


def build_tracklet_frame_loader(datamanager, batch_size: int = BATCH_SIZE,
                                sampling: str = SAMPLING, num_instances: int = NUM_INSTANCES,
                                seed: int | None = None,
                                workers: int | None = None, skip_bad_frames: bool = False,
                                num_replicas: int = 1, rank: int = 0) -> DataLoader:
    """A label-free training loader over a ``VideoDataManager``'s training set.

    ``batch_size`` counts frames per process. Uses the data manager's training
    transforms and, unless ``workers`` is given, its worker and pin-memory settings.
    """
    check_batch_size(batch_size)
    dataset = TrackletFrameDataset.from_datamanager(datamanager, skip_bad_frames=skip_bad_frames)
    sampler = TrackletFrameSampler(dataset, sampling, num_instances, seed,
                                   num_replicas=num_replicas, rank=rank, batch_size=batch_size)
    if len(sampler) < batch_size:
        raise EmptyEpochError(f'an epoch of the dal engine forms no batch of {batch_size} frames '
                              f'(x {num_replicas} processes): batch_size exceeds the '
                              f'{sampler._global_length()} training frames an epoch samples; '
                              'lower train.batch_size')
    base = datamanager.train_loader
    return DataLoader(
        dataset, sampler=sampler, batch_size=batch_size,
        num_workers=base.num_workers if workers is None else workers,
        pin_memory=base.pin_memory, drop_last=True,
    )

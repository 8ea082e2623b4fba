"""Tracklet features from all frames: one extractor for evaluation and anchor initialisation.

Every frame of every tracklet goes through the model in eval mode, in batches
of frames that cut across tracklet boundaries, and frame features are pooled
per tracklet as they arrive (:mod:`dal_torchreid.metrics.pooling`). The result
equals the per-tracklet features of torchreid's ``sample_method='all'``,
``batch_size_test=1`` path, computed with far fewer model calls.
"""
from __future__ import annotations

import time

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch.utils.data import DataLoader

from dal_torchreid.data.frames import AllFramesDataset
from dal_torchreid.metrics.pooling import check_pooling_method, finalize_pooled, pool_by_tracklet

@torch.no_grad()
def extract_tracklet_features(model: nn.Module, frames: AllFramesDataset, batch_size: int,
                              pooling_method: str = 'avg', normalize_frames: bool = False,
                              use_gpu: bool = False, num_workers: int = 0,
                              pin_memory: bool = False) -> tuple[Tensor, float]:
    """Features of every tracklet of ``frames``, (num_tracklets, D) on the CPU, and the
    seconds spent in the model.

    Args:
        model (nn.Module): called in eval mode (its mode is restored after).
        frames (AllFramesDataset): the tracklets' frames, with their transform.
        batch_size (int): frames per model call.
        pooling_method (str): ``'avg'``, ``'max'`` or ``'release'`` (normalise each
            frame, take the element-wise max, normalise) over each tracklet's frames.
        normalize_frames (bool): L2-normalise each frame feature before pooling.
    """
    check_pooling_method(pooling_method)
    if len(frames) == 0:
        raise ValueError(f'no {frames.name}s to extract features from')
    loader = DataLoader(frames, batch_size=int(batch_size), shuffle=False,
                        num_workers=num_workers, pin_memory=pin_memory)
    pooled, elapsed = None, 0.0
    was_training = model.training
    model.eval()
    try:
        for imgs, tracklet in loader:
            if use_gpu:
                imgs, tracklet = imgs.cuda(), tracklet.cuda()
            start = time.time()
            feats = model(imgs).float()
            if normalize_frames:
                feats = F.normalize(feats, dim=1)
            pooled = pool_by_tracklet(feats, tracklet, frames.num_tracklets, pooling_method, pooled)
            elapsed += time.time() - start
    finally:
        model.train(was_training)
    counts = torch.bincount(torch.from_numpy(frames.frame_tracklet), minlength=frames.num_tracklets)
    return finalize_pooled(pooled.cpu(), counts, pooling_method), elapsed


def anchor_features(model: nn.Module, train_loader: DataLoader, transform,
                    use_gpu: bool = False) -> list[Tensor]:
    """Each training tracklet's mean L2-normalised frame feature, one (N_c, D) tensor per
    camera in label order: DAL's ``'features'`` anchor initialisation.

    ``train_loader`` is the DAL training loader (its
    :class:`~dal_torchreid.data.TrackletFrameDataset`, batch size and workers);
    ``transform`` replaces its training transform (the test transform, so the
    anchors do not depend on augmentation).
    """
    trainset = train_loader.dataset
    frames = AllFramesDataset(trainset.tracklet_paths, transform, trainset.reader.skip_bad_frames,
                              name='training tracklet')
    means, _ = extract_tracklet_features(model, frames, train_loader.batch_size, 'avg',
                                         normalize_frames=True, use_gpu=use_gpu,
                                         num_workers=train_loader.num_workers)
    # tracklets are labelled per camera in order of appearance, so a camera's
    # tracklets in source order are its anchors in label order
    cameras = torch.tensor(trainset.tracklet_camera)
    return [means[cameras == c] for c in range(trainset.num_cameras)]

"""Tracklet features from all frames: one extractor for evaluation and anchor initialisation.

Every frame of every tracklet goes through the model in eval mode, in batches
of frames that cut across tracklet boundaries, and frame features are pooled
per tracklet as they arrive (:mod:`dal_torchreid.metrics.pooling`). The result
equals the per-tracklet features of torchreid's ``sample_method='all'``,
``batch_size_test=1`` path, computed with far fewer model calls.

The usual test transform (resize, ``ToTensor``, ``Normalize``) is split
(:func:`split_transform`): each frame is only decoded, resized and kept as
uint8, and the float conversion and normalisation run once per batch (on the
GPU when there is one). On a busy CPU the six small tensor operations per
frame of ``ToTensor`` and ``Normalize`` cost far more than their share of one
conversion of the whole batch: each is split over torch's threads, which wait
for one another on every 75k-element operation. The values are the same, bit
for bit.

On the CPU the model sees at most :data:`CPU_FRAMES_PER_CALL` frames per call,
whatever the batch size, in channels-last memory format: a small call's
activations stay in the processor's caches, and oneDNN's convolutions run
faster on channels-last inputs (ResNet-50 at 224x112 on a 2-core CPU, 2
threads: 35.3, 35.3 and 39.1 ms per frame in contiguous calls of 8, 16 and 32
frames; 33.2, 29.6 and 29.4 ms in channels-last ones;
:mod:`dal_torchreid.benchmarks.call_format`). The features then differ from
torchreid's path in the last bits (about 5e-7 of their largest value) rather
than not at all. On the GPU a call takes the whole batch, as it comes.
"""
from __future__ import annotations

import copy
import time
from typing import Callable

import torch
from PIL import Image
from torch import Tensor, nn
from torch.nn import functional as F
from torch.utils.data import DataLoader
from torchvision import transforms as T
from torchvision.transforms import functional as TF

from dal_torchreid.data.frames import AllFramesDataset
from dal_torchreid.metrics.pooling import check_pooling_method, finalize_pooled, pool_by_tracklet

CPU_FRAMES_PER_CALL = 16  # frames per model call on the CPU, where larger calls are slower
UINT8_MODES = ('RGB', 'L')  # PIL modes that ToTensor reads as uint8 and divides by 255


def frame_to_uint8(img):
    """A PIL image as the (C, H, W) tensor ``ToTensor`` builds before dividing by 255:
    uint8 for the modes of :data:`UINT8_MODES`, ``ToTensor``'s own result otherwise."""
    if isinstance(img, Image.Image) and img.mode in UINT8_MODES:
        return TF.pil_to_tensor(img)
    return TF.to_tensor(img)


class BatchToFloat:
    """The tail of a frame transform, ``ToTensor`` then ``Normalize`` steps, applied to a
    stacked batch ``(B, C, H, W)``: uint8 is converted to the default float type and
    divided by 255, then each normalisation subtracts its mean and divides by its std.
    The same element-wise operations as the per-frame transforms, so the same values.

    Args:
        normalizations (sequence): ``torchvision.transforms.Normalize`` instances, in order.

    Examples::

        image_part, batch_part = split_transform(queryset.transform)
        imgs = batch_part(torch.stack([image_part(img) for img in pil_images]))
    """

    def __init__(self, normalizations=()) -> None:
        dtype = torch.get_default_dtype()
        self.dtype = dtype
        self.normalizations = []
        for n in normalizations:
            mean = torch.as_tensor(n.mean, dtype=dtype).view(-1, 1, 1)
            std = torch.as_tensor(n.std, dtype=dtype).view(-1, 1, 1)
            if (std == 0).any():
                raise ValueError(f'normalizations: the std of {n} is zero, frames cannot '
                                 'be normalised')
            self.normalizations.append((mean, std))
        self._on = {}  # device -> (255, [(mean, std), ...]) there

    def _constants(self, device: torch.device):
        if device not in self._on:
            # 255 as a tensor on the device: CUDA divides by a host scalar through its
            # reciprocal, which can differ from ToTensor's division by one ulp
            self._on[device] = (torch.tensor(255, dtype=self.dtype, device=device),
                                [(m.to(device), s.to(device)) for m, s in self.normalizations])
        return self._on[device]

    def __call__(self, imgs: Tensor) -> Tensor:
        scale, normalizations = self._constants(imgs.device)
        if imgs.dtype == torch.uint8:
            imgs = imgs.to(self.dtype).div_(scale)
        for mean, std in normalizations:
            imgs = imgs.sub_(mean).div_(std)
        return imgs

    def __repr__(self) -> str:
        return f'{type(self).__name__}(normalizations={len(self.normalizations)})'


def split_transform(transform: Callable | None) -> tuple[Callable | None, BatchToFloat | None]:
    """Splits a frame transform into a per-frame part and a per-batch part.

    A ``torchvision.transforms.Compose`` of image transforms, then ``ToTensor``,
    then only ``Normalize`` steps becomes ``(image transforms + frame_to_uint8,
    BatchToFloat(normalizations))``: applying the second to a stack of the first's
    results gives the stack of the whole transform's results. Any other
    transform is returned whole, with ``None`` for the batch part.

    Examples::

        image_part, batch_part = split_transform(datamanager.transform_te)
    """
    if not isinstance(transform, T.Compose):
        return transform, None
    steps = list(transform.transforms)
    last = [i for i, t in enumerate(steps) if isinstance(t, T.ToTensor)]
    if len(last) != 1 or not all(isinstance(t, T.Normalize) for t in steps[last[0] + 1:]):
        return transform, None
    k = last[0]
    return T.Compose(steps[:k] + [frame_to_uint8]), BatchToFloat(steps[k + 1:])


@torch.no_grad()
def extract_tracklet_features(model: nn.Module, frames: AllFramesDataset, batch_size: int,
                              pooling_method: str = 'avg', normalize_frames: bool = False,
                              use_gpu: bool = False, num_workers: int = 0,
                              pin_memory: bool = False,
                              frames_per_call: int | None = None,
                              channels_last: bool | None = None) -> tuple[Tensor, float]:
    """Features of every tracklet of ``frames``, (num_tracklets, D) on the CPU, and the
    seconds spent in the model.

    Args:
        model (nn.Module): called in eval mode (its mode is restored after).
        frames (AllFramesDataset): the tracklets' frames, with their transform.
        batch_size (int): frames per loader batch, and per model call on the GPU.
        pooling_method (str): ``'avg'``, ``'max'`` or ``'release'`` (normalise each
            frame, take the element-wise max, normalise) over each tracklet's frames.
        normalize_frames (bool): L2-normalise each frame feature before pooling.
        frames_per_call (int, optional): frames per model call; None (default):
            ``batch_size`` on the GPU, at most :data:`CPU_FRAMES_PER_CALL` on the CPU.
        channels_last (bool, optional): pass 4-D frame batches to the model in
            channels-last memory format; None (default): on the CPU only.

    Frames are read by ``num_workers`` loader workers (0: in this process); a
    transform ending in ``ToTensor`` and ``Normalize`` finishes on each batch
    (:func:`split_transform`), on the GPU with ``use_gpu``.
    """
    check_pooling_method(pooling_method)
    if len(frames) == 0:
        raise ValueError(f'no {frames.name}s to extract features from')
    if frames_per_call is None:
        frames_per_call = batch_size if use_gpu else min(batch_size, CPU_FRAMES_PER_CALL)
    if frames_per_call < 1:
        raise ValueError(f'frames_per_call must be >= 1, got {frames_per_call}')
    if channels_last is None:
        channels_last = not use_gpu
    image_part, batch_part = split_transform(frames.transform)
    if batch_part is not None:
        frames = copy.copy(frames)  # the caller's data set keeps its transform
        frames.transform = image_part
    loader = DataLoader(frames, batch_size=int(batch_size), shuffle=False,
                        num_workers=num_workers, pin_memory=pin_memory)
    pooled, elapsed = None, 0.0
    was_training = model.training
    model.eval()
    try:
        for imgs, tracklet in loader:
            if use_gpu:
                imgs, tracklet = imgs.cuda(), tracklet.cuda()
            if batch_part is not None:
                imgs = batch_part(imgs)
            if channels_last and imgs.dim() == 4:
                imgs = imgs.contiguous(memory_format=torch.channels_last)
            start = time.time()
            feats = torch.cat([model(part) for part in imgs.split(int(frames_per_call))]).float()
            if normalize_frames:
                feats = F.normalize(feats, dim=1)
            pooled = pool_by_tracklet(feats, tracklet, frames.num_tracklets, pooling_method, pooled)
            elapsed += time.time() - start
    finally:
        model.train(was_training)
    counts = torch.bincount(torch.from_numpy(frames.frame_tracklet), minlength=frames.num_tracklets)
    return finalize_pooled(pooled.cpu(), counts, pooling_method), elapsed


def anchor_features(model: nn.Module, train_loader: DataLoader, transform,
                    use_gpu: bool = False, channels_last: bool | None = None) -> list[Tensor]:
    """Each training tracklet's mean L2-normalised frame feature, one (N_c, D) tensor per
    camera in label order: DAL's ``'features'`` anchor initialisation.

    ``train_loader`` is the DAL training loader (its
    :class:`~dal_torchreid.data.TrackletFrameDataset`, batch size and workers);
    ``transform`` replaces its training transform (the test transform, so the
    anchors do not depend on augmentation); ``channels_last`` is
    :func:`extract_tracklet_features`'.
    """
    trainset = train_loader.dataset
    frames = AllFramesDataset(trainset.tracklet_paths, transform, trainset.reader.skip_bad_frames,
                              name='training tracklet')
    means, _ = extract_tracklet_features(model, frames, train_loader.batch_size, 'avg',
                                         normalize_frames=True, use_gpu=use_gpu,
                                         num_workers=train_loader.num_workers,
                                         channels_last=channels_last)
    # tracklets are labelled per camera in order of appearance, so a camera's
    # tracklets in source order are its anchors in label order
    cameras = torch.tensor(trainset.tracklet_camera)
    return [means[cameras == c] for c in range(trainset.num_cameras)]

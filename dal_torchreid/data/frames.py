"""Every frame of a set of tracklets, as one flat, indexable data set.

Training (DAL's label-free frames), anchor initialisation and the all-frame
evaluation all need the same thing: the frames of many tracklets in one list,
each knowing its tracklet and its position in it. :class:`AllFramesDataset`
builds that index once; :class:`~dal_torchreid.data.TrackletFrameDataset`
extends it with cameras and per-camera labels.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
from torch.utils.data import Dataset

from dal_torchreid.data.frame_reading import FrameReader

FEATURE_FRAMES = 0  # frames per tracklet for the clustering features; 0: all


def check_feature_frames(feature_frames: int) -> None:
    if feature_frames < 0:
        raise ValueError(f'feature_frames must be >= 0 (0: every frame), got {feature_frames}')


def evenly_spaced(paths: Sequence[str], cap: int) -> list[str]:
    """At most ``cap`` of a tracklet's frames, spread evenly from its first to its last
    (all of them when ``cap`` is 0 or the tracklet is no longer).

    Examples::

        evenly_spaced(['f0', 'f1', 'f2', 'f3', 'f4'], 3)  # ['f0', 'f2', 'f4']
    """
    check_feature_frames(cap)
    if cap == 0 or len(paths) <= cap:
        return list(paths)
    return [paths[i] for i in np.linspace(0, len(paths) - 1, cap).round().astype(np.int64)]


class AllFramesDataset(Dataset):
    r"""Every frame of a list of tracklets, one item per frame, in tracklet order.

    Args:
        tracklet_paths (sequence): the image paths of each tracklet.
        transform (callable, optional): applied to each PIL image.
        skip_bad_frames (bool, optional): False (default): an unreadable frame is
            an error naming the file; True: the next readable frame of the same
            tracklet is used instead, with one warning per file.
        name (str, optional): what the tracklets are, for error messages.

    ``dataset[i]`` is ``(img, t)``: frame ``i`` and the index ``t`` of its
    tracklet. ``frame_tracklet`` and ``frame_position`` map every frame to its
    tracklet and its position there; ``tracklet_paths`` keeps the paths.

    Examples::

        queryset = datamanager.test_loader['prid2011']['query'].dataset
        frames = AllFramesDataset([item[0] for item in queryset.data], queryset.transform)
        img, t = frames[0]
    """

    def __init__(self, tracklet_paths: Sequence[Sequence[str]],
                 transform: Callable | None = None, skip_bad_frames: bool = False,
                 name: str = 'tracklet') -> None:
        paths, frame_tracklet, frame_position = [], [], []
        for t, img_paths in enumerate(tracklet_paths):
            if len(img_paths) == 0:
                raise ValueError(f'{name} {t} has no frames')
            paths.extend(img_paths)
            frame_tracklet.extend([t] * len(img_paths))
            frame_position.extend(range(len(img_paths)))
        self.tracklet_paths = [tuple(p) for p in tracklet_paths]
        self.img_paths = paths
        self.frame_tracklet = np.asarray(frame_tracklet, dtype=np.int64)
        self.frame_position = np.asarray(frame_position, dtype=np.int64)
        self.transform = transform
        self.reader = FrameReader(skip_bad_frames)
        self.name = name

    @property
    def num_tracklets(self) -> int:
        return len(self.tracklet_paths)

    def __len__(self) -> int:
        return len(self.img_paths)

    def read(self, index: int):
        """Frame ``index`` as a transformed image (read once, under the bad-frame policy)."""
        t = int(self.frame_tracklet[index])
        img = self.reader.read(self.tracklet_paths[t], int(self.frame_position[index]),
                               tracklet=f'{self.name} {t}')
        return img if self.transform is None else self.transform(img)

    def __getitem__(self, index: int) -> tuple:
        return self.read(index), int(self.frame_tracklet[index])

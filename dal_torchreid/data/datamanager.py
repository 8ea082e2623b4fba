"""torchreid's video data manager, with frames read once and data errors that show the layout.

:func:`build_video_datamanager` builds ``torchreid.data.VideoDataManager`` and
then has every loader read its frames through
:class:`~dal_torchreid.data.frame_reading.FrameReader`: torchreid's
``VideoDataset`` reads through ``read_image``, which retries an undecodable
file forever, so one corrupt frame would hang the supervised engines' training
and torchreid's own test path. Data set names are checked against torchreid's
registry before anything is read; a missing data set folder is refused before
torchreid tries to download it, and torchreid's other data errors get the
layout that was expected (and, for an empty tracklet folder, its name).
"""
from __future__ import annotations

import glob
import os.path as osp
import traceback
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader

import torchreid

from dal_torchreid.data.frame_reading import SKIP_BAD_FRAMES, FrameReader
from dal_torchreid.data.mars_query import query_index_problem
from dal_torchreid.data.splits import LAYOUTS as SPLIT_LAYOUTS
from dal_torchreid.data.splits import SplitFileError, check_split, dataset_splits

EXPECTED_LAYOUTS = {
    'prid2011': (
        'prid2011', '\n'.join([
            '  ROOT/prid2011/prid_2011/multi_shot/cam_a/person_0001/0001.png ...',
            '  ROOT/prid2011/prid_2011/multi_shot/cam_b/person_0001/0001.png ...',
            '  ROOT/prid2011/splits_prid2011.json   (`dal-prepare-splits --dataset prid2011` writes it)',
        ])),
    'ilidsvid': (
        'ilids-vid', '\n'.join([
            '  ROOT/ilids-vid/i-LIDS-VID/sequences/cam1/person001/cam1_person001_00001.png ...',
            '  ROOT/ilids-vid/i-LIDS-VID/sequences/cam2/person001/...',
            '  ROOT/ilids-vid/train-test people splits/train_test_splits_ilidsvid.mat',
        ])),
    'mars': (
        'mars', '\n'.join([
            '  ROOT/mars/bbox_train/0001/0001C1T0001F001.jpg ...',
            '  ROOT/mars/bbox_test/0001/...',
            '  ROOT/mars/info/train_name.txt, test_name.txt, tracks_train_info.mat,',
            '                 tracks_test_info.mat, query_IDX.mat',
        ])),
}
# The .mat files torchreid's loaders read, under the data root.
MAT_FILES = {
    'mars': tuple(osp.join('mars', 'info', f) for f in
                  ('tracks_train_info.mat', 'tracks_test_info.mat', 'query_IDX.mat')),
    'ilidsvid': (osp.join('ilids-vid', 'train-test people splits', 'train_test_splits_ilidsvid.mat'),),
}
# Tracklet folders torchreid lists with a glob, and the frames it looks for in each.
TRACKLET_FOLDERS = {
    'prid2011': ('prid2011/prid_2011/multi_shot/cam_*/person_*', '*.png'),
    'ilidsvid': ('ilids-vid/i-LIDS-VID/sequences/cam*/person*', '*.png'),
}


class DataLayoutError(RuntimeError):
    """A data root that does not hold the layout torchreid's loader reads."""


def registered_video_datasets() -> list[str]:
    """The data set names ``torchreid.data.VideoDataManager`` accepts: torchreid's video
    data sets and those added with ``torchreid.data.register_video_dataset``.

    torchreid lists them only in the error of an unknown name; this reads the registry
    that error is made from (and that ``register_video_dataset`` extends).
    """
    return list(vars(torchreid.data.datasets)['__video_datasets'])


def check_sources(sources: Sequence[str]) -> None:
    _check_dataset_names('sources', sources)


def check_targets(targets: Sequence[str]) -> None:
    _check_dataset_names('targets', targets)


def _check_dataset_names(name: str, values: Sequence[str]) -> None:
    values = [values] if isinstance(values, str) else list(values)
    twice = sorted({v for v in values if values.count(v) > 1})
    if twice:
        raise ValueError(f'{name} names {", ".join(repr(v) for v in twice)} twice')
    unknown = unknown_datasets(values)
    if unknown:
        raise ValueError(unknown_datasets_message(name, unknown))


def unknown_datasets(values: Sequence[str]) -> list[str]:
    """The names among ``values`` that torchreid's registry does not hold."""
    known = registered_video_datasets()
    return [v for v in ([values] if isinstance(values, str) else values) if v not in known]


def unknown_datasets_message(name: str, unknown: Sequence[str]) -> str:
    """``name must be among torchreid's video data sets [...], got ...``."""
    return (f'{name} must be among torchreid\'s video data sets {registered_video_datasets()}, '
            f'got {list(unknown) if len(unknown) > 1 else repr(unknown[0])}')


def available_splits(root: str, name: str) -> tuple[int, str] | None:
    """``(number of person splits, where that number comes from)`` of data set ``name``
    under ``root``; None when it is not known before torchreid reads the data set."""
    if name == 'mars':
        return 1, 'mars has 1 split'
    found = dataset_splits(root, name) if name in SPLIT_LAYOUTS else None
    if found is None:
        return None
    return len(found[0]), f'"{found[1]}" holds {len(found[0])} splits'


def check_split_id(root: str, names: Sequence[str], split_id: int) -> None:
    """Raises :class:`~dal_torchreid.data.splits.SplitFileError` unless ``split_id`` is a
    usable split of every data set of ``names`` (:func:`~dal_torchreid.data.splits.check_split`)."""
    for name in names:
        if name in SPLIT_LAYOUTS:
            check_split(root, name, split_id)
        elif name == 'mars' and split_id != 0:
            raise SplitFileError(f'data.split_id {split_id}: mars has 1 split, so it must be 0')


def describe_layout(name: str, root: str) -> str:
    """The expected files of data set ``name`` under ``root``."""
    folder, files = EXPECTED_LAYOUTS[name]
    return (f'torchreid\'s "{name}" loader expects, under data.root "{root}":\n'
            f'{files.replace("ROOT", root)}\n(`python tools/make_synthetic_data.py --layout '
            f'{name} --root {root}` writes a synthetic one)')


def empty_tracklet_folders(name: str, root: str) -> list[str]:
    """Tracklet folders of data set ``name`` under ``root`` that hold no frame torchreid reads."""
    if name not in TRACKLET_FOLDERS:
        return []
    folders, frames = TRACKLET_FOLDERS[name]
    return [d for d in sorted(glob.glob(osp.join(root, folders)))
            if osp.isdir(d) and not glob.glob(osp.join(d, frames))]


def clip_indices(num_frames: int, seq_len: int, sample_method: str) -> np.ndarray:
    """The frames of a ``num_frames`` tracklet that torchreid's ``VideoDataset`` samples:
    ``'random'`` (``seq_len`` sorted, with replacement when too few; numpy's global
    generator), ``'evenly'`` (``seq_len`` evenly spaced, the last repeated when too few)
    or ``'all'``."""
    if sample_method == 'random':
        indices = np.random.choice(np.arange(num_frames), size=seq_len,
                                   replace=num_frames < seq_len)
        return np.sort(indices)
    if sample_method == 'evenly':
        if num_frames >= seq_len:
            num_frames -= num_frames % seq_len
            return np.arange(0, num_frames, num_frames / seq_len)
        pads = np.full(seq_len - num_frames, num_frames - 1)
        return np.concatenate([np.arange(num_frames), pads])
    if sample_method == 'all':
        return np.arange(num_frames)
    raise ValueError(f'sample_method must be one of random, evenly, all, got {sample_method!r}')


class FrameReadingVideoDataset(torchreid.data.VideoDataset):
    """A torchreid video data set that reads each frame once, under a bad-frame policy.

    It takes over a data set torchreid built (its tracklets, transform, mode,
    ``seq_len`` and ``sample_method``) and returns the same items, sampled as
    torchreid samples them, but reads frames with :class:`FrameReader`: an
    unreadable frame is a :class:`~dal_torchreid.data.frame_reading.BadFrameError`
    naming the file (or, with ``skip_bad_frames``, replaced by the next readable
    frame of its tracklet), never an endless retry.

    Args:
        dataset (VideoDataset): a video data set built by torchreid.
        skip_bad_frames (bool, optional): skip unreadable frames with one warning
            per file instead of stopping with an error naming it.

    Examples::

        queryset = FrameReadingVideoDataset(datamanager.test_loader['prid2011']['query'].dataset)
        item = queryset[0]  # {'img': (seq_len, C, H, W), 'pid', 'camid', 'dsetid'}
    """

    def __init__(self, dataset: torchreid.data.VideoDataset,
                 skip_bad_frames: bool = SKIP_BAD_FRAMES) -> None:
        # the built data set's state as it is: its lists are not read or summarised again
        self.__dict__.update(vars(dataset))
        self.reader = FrameReader(skip_bad_frames)

    @property
    def skip_bad_frames(self) -> bool:
        return self.reader.skip_bad_frames

    def __getitem__(self, index: int) -> dict:
        img_paths, pid, camid, dsetid = self.data[index]
        frames = [self.transform(self.reader.read(img_paths, int(i),
                                                  tracklet=f'{self.mode} tracklet {index}'))
                  for i in clip_indices(len(img_paths), self.seq_len, self.sample_method)]
        return {'img': torch.stack(frames), 'pid': pid, 'camid': camid, 'dsetid': dsetid}


def read_frames_once(datamanager: torchreid.data.VideoDataManager,
                     skip_bad_frames: bool = SKIP_BAD_FRAMES) -> None:
    """Rebuilds every loader of ``datamanager`` (same sampler, batch size, workers) over
    a :class:`FrameReadingVideoDataset` of its data set."""
    def reload(loader: DataLoader) -> DataLoader:
        return DataLoader(FrameReadingVideoDataset(loader.dataset, skip_bad_frames),
                          sampler=loader.sampler, batch_size=loader.batch_size, shuffle=False,
                          num_workers=loader.num_workers, pin_memory=loader.pin_memory,
                          drop_last=loader.drop_last)

    datamanager.train_loader = reload(datamanager.train_loader)
    for loaders in datamanager.test_loader.values():
        for split in loaders:
            loaders[split] = reload(loaders[split])


def build_video_datamanager(skip_bad_frames: bool = SKIP_BAD_FRAMES,
                            **kwargs) -> torchreid.data.VideoDataManager:
    """``torchreid.data.VideoDataManager(**kwargs)`` whose loaders read each frame once
    (:func:`read_frames_once`) and whose data errors show the expected layout.

    Raises ``ValueError`` for a data set name torchreid does not know and
    :class:`DataLayoutError` for a data root without the expected layout, before
    torchreid reads (or downloads) anything.
    """
    root = osp.abspath(osp.expanduser(kwargs.get('root', '')))
    names = kwargs.get('sources') or []
    names = [names] if isinstance(names, str) else list(names)
    targets = kwargs.get('targets') or []
    names += [targets] if isinstance(targets, str) else list(targets)
    names = list(dict.fromkeys(names))
    _check_dataset_names('sources/targets', names)
    known = [n for n in names if n in EXPECTED_LAYOUTS]
    for name in known:
        if not osp.isdir(osp.join(root, EXPECTED_LAYOUTS[name][0])):
            raise DataLayoutError(f'no {name} data set: folder '
                                  f'"{osp.join(root, EXPECTED_LAYOUTS[name][0])}" does not '
                                  f'exist.\n{describe_layout(name, root)}')
    check_split_id(root, known, kwargs.get('split_id', 0))
    if 'mars' in known and (problem := query_index_problem(root)):
        raise DataLayoutError(problem)
    try:
        datamanager = torchreid.data.VideoDataManager(**kwargs)
    except Exception as err:  # scipy's readers raise several kinds for a damaged .mat file
        if not known:
            raise
        if isinstance(err, IsADirectoryError):
            raise DataLayoutError(f'"{err.filename}" is a directory where the '
                                  f'{"/".join(known)} data set needs a file') from err
        unreadable = _unreadable_mat_file(known, root)
        if unreadable:
            raise DataLayoutError(unreadable) from err
        if not isinstance(err, (RuntimeError, AssertionError, KeyError, FileNotFoundError)):
            raise
        layouts = '\n'.join(describe_layout(name, root) for name in known)
        raise DataLayoutError(f'{_what_failed(err, known, root)}\n{layouts}') from err
    read_frames_once(datamanager, skip_bad_frames)
    return datamanager


def _unreadable_mat_file(names: Sequence[str], root: str) -> str | None:
    """The first ``.mat`` file of data sets ``names`` that scipy cannot read, described
    (torchreid's loaders read them without naming the file); None if all can be read."""
    from scipy.io import loadmat

    for name in names:
        for relative in MAT_FILES.get(name, ()):
            path = osp.join(root, relative)
            if not osp.isfile(path):
                continue
            try:
                loadmat(path)
            except Exception as err:  # scipy raises several kinds for a damaged file
                first = str(err).strip().splitlines()[0] if str(err).strip() else ''
                return f'{name} file "{path}" cannot be read: {type(err).__name__}: {first}'
    return None


def _what_failed(err: Exception, names: Sequence[str], root: str) -> str:
    """torchreid's message, or for its bare assertions the empty tracklet folders (or the
    check that failed)."""
    if str(err):
        return str(err)
    empty = [d for name in names for d in empty_tracklet_folders(name, root)]
    if empty:
        more = f' (and {len(empty) - 3} more)' if len(empty) > 3 else ''
        listed = ', '.join(f'"{d}"' for d in empty[:3])
        return f'tracklet folder {listed}{more} holds no frames'
    where = traceback.extract_tb(err.__traceback__)[-1]
    return (f'torchreid\'s loader failed its check "{where.line}" '
            f'({osp.basename(where.filename)}:{where.lineno}, {type(err).__name__})')

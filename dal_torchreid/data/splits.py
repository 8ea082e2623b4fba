"""PRID2011 person splits: the 178-person protocol, written as torchreid reads it.

torchreid's ``PRID2011`` dataset reads its train/test people from
``splits_prid2011.json`` in the dataset folder but does not ship that file.
The evaluation protocol (DAL and the video re-id papers it compares with) keeps
the people seen by BOTH cameras with at least 21 frames in each camera (178 on
the real data) and draws 10 random 50/50 person splits of them.
"""
from __future__ import annotations

import glob
import json
import os
import os.path as osp
from typing import Sequence

import numpy as np

SPLITS_FILENAME = 'splits_prid2011.json'
CAMERA_DIRS = ('cam_a', 'cam_b')


def _camera_dir(prid_dir: str, camera: str) -> str:
    return osp.join(prid_dir, 'prid_2011', 'multi_shot', camera)


def count_prid2011_frames(prid_dir: str) -> dict[str, dict[str, int]]:
    """``{camera: {person dirname: number of .png frames}}`` of a PRID2011 folder.

    ``prid_dir`` is torchreid's PRID2011 dataset folder (``<root>/prid2011``),
    holding ``prid_2011/multi_shot/cam_a/person_XXXX/*.png`` and ``cam_b``.
    Raises ``FileNotFoundError`` naming the missing camera folder.
    """
    counts = {}
    for camera in CAMERA_DIRS:
        cam_dir = _camera_dir(prid_dir, camera)
        if not osp.isdir(cam_dir):
            raise FileNotFoundError(
                'PRID2011 camera folder "{}" does not exist; expected the layout '
                '<prid-dir>/prid_2011/multi_shot/{{cam_a,cam_b}}/person_XXXX/*.png'.format(cam_dir))
        counts[camera] = {
            name: len(glob.glob(osp.join(cam_dir, name, '*.png')))
            for name in sorted(os.listdir(cam_dir)) if osp.isdir(osp.join(cam_dir, name))
        }
    return counts


def qualifying_people(prid_dir: str, min_frames: int = 21) -> list[str]:
    """Sorted person dirnames with at least ``min_frames`` frames in both cameras."""
    if min_frames < 1:
        raise ValueError('min_frames must be >= 1, got {}'.format(min_frames))
    counts = count_prid2011_frames(prid_dir)
    cam_a, cam_b = (counts[c] for c in CAMERA_DIRS)
    return sorted(name for name in cam_a
                  if cam_a[name] >= min_frames and cam_b.get(name, 0) >= min_frames)


def make_person_splits(people: Sequence[str], num_splits: int = 10,
                       seed: int = 0) -> list[dict[str, list[str]]]:
    """``num_splits`` random 50/50 splits of ``people`` as ``{'train', 'test'}`` lists.

    With an odd number of people the train side gets the extra one. Each list
    is sorted; the same ``people`` and ``seed`` always give the same splits.
    """
    people = sorted(people)
    if len(people) < 2:
        raise ValueError('a train/test split needs at least 2 people, got {}'.format(len(people)))
    if num_splits < 1:
        raise ValueError('num_splits must be >= 1, got {}'.format(num_splits))
    rng = np.random.default_rng(seed)
    num_train = (len(people) + 1) // 2
    splits = []
    for _ in range(num_splits):
        order = rng.permutation(len(people))
        splits.append({'train': sorted(people[i] for i in order[:num_train]),
                       'test': sorted(people[i] for i in order[num_train:])})
    return splits


def write_prid2011_splits(prid_dir: str, seed: int = 0, num_splits: int = 10,
                          min_frames: int = 21, overwrite: bool = False) -> str:
    """Writes ``prid_dir/splits_prid2011.json`` for torchreid's PRID2011; returns its path.

    Keeps the people of :func:`qualifying_people` and splits them with
    :func:`make_person_splits`. Refuses to replace an existing file unless
    ``overwrite``.

    Examples::

        from dal_torchreid.data.splits import write_prid2011_splits
        write_prid2011_splits('reid-data/prid2011', seed=0)
        datamanager = torchreid.data.VideoDataManager(
            root='reid-data', sources='prid2011', split_id=0)
    """
    path = osp.join(prid_dir, SPLITS_FILENAME)
    if osp.exists(path) and not overwrite:
        raise FileExistsError('"{}" already exists; pass overwrite=True (--overwrite) '
                              'to replace it'.format(path))
    people = qualifying_people(prid_dir, min_frames)
    if len(people) < 2:
        raise ValueError(
            'only {} people in "{}" have >= {} frames in both cam_a and cam_b; '
            'a split needs at least 2'.format(len(people), prid_dir, min_frames))
    splits = make_person_splits(people, num_splits=num_splits, seed=seed)
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(splits, f, indent=2)
    os.replace(tmp, path)
    return path

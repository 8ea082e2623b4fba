"""Writers of the PRID2011, iLIDS-VID and MARS folder layouts, and the entry point.

Every random draw comes from a numpy Generator seeded with (seed, what, which),
e.g. (seed, TRACKLET, person, camera, k), so a file's content does not depend
on the order or number of the other things generated.
"""
from __future__ import annotations

import dataclasses
import json
import os
import os.path as osp
import shutil
import tempfile

import numpy as np

from dal_torchreid.data.synthetic.cameras import sample_camera
from dal_torchreid.data.synthetic.settings import SyntheticConfig, check_config_for_layout
from dal_torchreid.data.synthetic.files import write_image, write_json, write_mat, write_text
from dal_torchreid.data.synthetic.people import Person, sample_person
from dal_torchreid.data.synthetic.render import render_junk, render_tracklet

DATASET_DIRS = {'prid2011': 'prid2011', 'ilidsvid': 'ilids-vid', 'mars': 'mars'}
"""Folder each layout is written to under the root, as torchreid's classes expect."""

INFO_FILE = 'synthetic.json'
"""Written into each dataset folder: the layout, config and counts."""

NUM_SPLITS = 10
# Stream tags of the seeded generators.
_PERSON, _CAMERA, _TRACKLET, _SPLIT, _DISTRACTOR, _JUNK, _QUERY = range(1, 8)


class _World:
    """The people and cameras of one config, drawn lazily from per-item seeds."""

    def __init__(self, config: SyntheticConfig):
        self.config = config
        self.cameras = [
            sample_camera(self.rng(_CAMERA, c), config.height, config.width, config.camera_shift)
            for c in range(config.cameras)
        ]
        self.frames_written = 0

    def rng(self, *key: int) -> np.random.Generator:
        return np.random.default_rng([self.config.seed, *key])

    def person(self, index: int) -> Person:
        return sample_person(self.rng(_PERSON, index))

    def num_frames(self, rng: np.random.Generator) -> int:
        return int(rng.integers(self.config.min_frames, self.config.max_frames + 1))

    def tracklet(self, index: int, camera: int, k: int = 0) -> np.ndarray:
        """Frames of identity ``index`` in ``camera``, its ``k``-th tracklet there."""
        rng = self.rng(_TRACKLET, index, camera, k)
        return render_tracklet(self.person(index), self.cameras[camera], rng,
                               self.num_frames(rng), self.config.occlusion)

    def write(self, folder: str, names: list[str], frames: np.ndarray) -> None:
        os.makedirs(folder, exist_ok=True)
        for name, frame in zip(names, frames):
            write_image(osp.join(folder, name), frame)
        self.frames_written += len(frames)


def _half_split(rng: np.random.Generator, n: int) -> tuple[list[int], list[int]]:
    """Seeded 50/50 split of range(n): (test, train), train gets the odd one."""
    order = rng.permutation(n)
    return sorted(order[:n // 2].tolist()), sorted(order[n // 2:].tolist())


def write_prid2011(folder: str, config: SyntheticConfig) -> dict:
    """Write ``prid_2011/multi_shot/cam_{a,b}/person_XXXX/XXXX.png`` and ``splits_prid2011.json``."""
    world = _World(config)
    dirnames = [f'person_{i + 1:04d}' for i in range(config.ids)]
    for i, dirname in enumerate(dirnames):
        for camera, cam_dir in enumerate(('cam_a', 'cam_b')):
            frames = world.tracklet(i, camera)
            names = [f'{t + 1:04d}.png' for t in range(len(frames))]
            world.write(osp.join(folder, 'prid_2011', 'multi_shot', cam_dir, dirname), names, frames)
    splits = []
    for s in range(NUM_SPLITS):
        test, train = _half_split(world.rng(_SPLIT, s), config.ids)
        splits.append({'train': [dirnames[i] for i in train], 'test': [dirnames[i] for i in test]})
    write_json(osp.join(folder, 'splits_prid2011.json'), splits)
    return _two_camera_counts(config, world)


def write_ilidsvid(folder: str, config: SyntheticConfig) -> dict:
    """Write ``i-LIDS-VID/sequences/cam{1,2}/personXXX/*.png`` and the split ``.mat``.

    The ``.mat`` holds ``ls_set``: 10 rows of 1-based person indices, first half
    test, second half train (Wang et al.). torchreid only accepts it with 300
    people, so for any other number ``splits.json`` is written too, derived from
    the same rows exactly as torchreid's ``prepare_split`` would.
    """
    world = _World(config)
    width = max(3, len(str(config.ids)))
    dirnames = [f'person{i + 1:0{width}d}' for i in range(config.ids)]
    for i, dirname in enumerate(dirnames):
        for camera in range(2):
            cam = f'cam{camera + 1}'
            frames = world.tracklet(i, camera)
            names = [f'{cam}_{dirname}_{t + 1:05d}.png' for t in range(len(frames))]
            world.write(osp.join(folder, 'i-LIDS-VID', 'sequences', cam, dirname), names, frames)
    ls_set = np.zeros((NUM_SPLITS, config.ids))
    for s in range(NUM_SPLITS):
        test, train = _half_split(world.rng(_SPLIT, s), config.ids)
        ls_set[s] = np.array(test + train) + 1
    split_dir = osp.join(folder, 'train-test people splits')
    os.mkdir(split_dir)
    write_mat(osp.join(split_dir, 'train_test_splits_ilidsvid.mat'), {'ls_set': ls_set})
    if config.ids != 300:
        half = config.ids // 2
        splits = [{
            'train': [dirnames[int(i) - 1] for i in sorted(row[half:])],
            'test': [dirnames[int(i) - 1] for i in sorted(row[:half])],
        } for row in ls_set]
        write_json(osp.join(folder, 'splits.json'), splits)
    return _two_camera_counts(config, world)


def _two_camera_counts(config: SyntheticConfig, world: _World) -> dict:
    test = config.ids // 2
    return {'train_ids': config.ids - test, 'test_ids': test,
            'train_tracklets': 2 * (config.ids - test), 'query_tracklets': test,
            'gallery_tracklets': test, 'frames': world.frames_written}


def _mars_name(pid: int, camera: int, k: int, t: int) -> str:
    return f'{_mars_folder(pid)}C{camera + 1}T{k + 1:04d}F{t + 1:03d}.jpg'


def _mars_folder(pid: int) -> str:
    return '00-1' if pid == -1 else f'{pid:04d}'


def write_mars(folder: str, config: SyntheticConfig) -> dict:
    """Write ``bbox_train``/``bbox_test`` with MARS names and the ``info`` tables.

    Identity pids are 1..ids (split 50/50), distractors pid 0 (folder ``0000``,
    kept in the gallery) and junk pid -1 (folder ``00-1``, dropped by torchreid).
    Every identity has ``tracklets_per_camera`` tracklets in every camera. Each
    test identity gives one query per camera; with one tracklet per camera one
    camera is held out, so every query has a gallery match in another camera.
    Track tables hold (start, end, pid, camid), 1-based rows into the name lists.
    """
    world = _World(config)
    test_index, train_index = _half_split(world.rng(_SPLIT, 0), config.ids)
    cams, per_cam = config.cameras, config.tracklets_per_camera

    def identities(indices):
        return [(i + 1, c, k, lambda i=i, c=c, k=k: world.tracklet(i, c, k))
                for i in indices for c in range(cams) for k in range(per_cam)]

    def extras(pid, tag, count):
        """Distractor (pid 0) or junk (pid -1) tracklets, each in a seeded camera."""
        tracks, seen = [], [0] * cams
        for j in range(count):
            camera = int(world.rng(tag, j, 0).integers(cams))
            tracks.append((pid, camera, seen[camera], lambda j=j, c=camera: _extra(world, tag, j, c)))
            seen[camera] += 1
        return tracks

    def write_split(home: str, tracks: list) -> tuple[list[str], np.ndarray]:
        """Render ``tracks`` of (pid, camera, k, render) into ``home``; return names and table."""
        names, table = [], []
        for pid, camera, k, render in sorted(tracks, key=lambda tr: (_mars_folder(tr[0]), tr[1], tr[2])):
            frames = render()
            frame_names = [_mars_name(pid, camera, k, t) for t in range(len(frames))]
            world.write(osp.join(folder, home, _mars_folder(pid)), frame_names, frames)
            table.append((len(names) + 1, len(names) + len(frames), pid, camera + 1))
            names += frame_names
        return names, np.array(table, dtype=np.int32)

    train_tracks = identities(train_index)
    test_tracks = (identities(test_index) + extras(0, _DISTRACTOR, config.distractors)
                   + extras(-1, _JUNK, config.junk))
    train_names, track_train = write_split('bbox_train', train_tracks)
    test_names, track_test = write_split('bbox_test', test_tracks)

    rows = {}
    for row, (pid, camid) in enumerate(track_test[:, 2:].tolist()):
        rows.setdefault((pid, camid - 1), []).append(row)
    query = []
    for i in test_index:
        rng = world.rng(_QUERY, i)
        held_out = int(rng.integers(cams)) if per_cam == 1 else -1
        query += [rows[(i + 1, c)][int(rng.integers(per_cam))] for c in range(cams) if c != held_out]
    query_idx = np.array(sorted(query), dtype=np.int32)[None, :] + 1

    info = osp.join(folder, 'info')
    os.mkdir(info)
    write_text(osp.join(info, 'train_name.txt'), ''.join(n + '\n' for n in train_names))
    write_text(osp.join(info, 'test_name.txt'), ''.join(n + '\n' for n in test_names))
    write_mat(osp.join(info, 'tracks_train_info.mat'), {'track_train_info': track_train})
    write_mat(osp.join(info, 'tracks_test_info.mat'), {'track_test_info': track_test})
    write_mat(osp.join(info, 'query_IDX.mat'), {'query_IDX': query_idx})
    return {'train_ids': len(train_index), 'test_ids': len(test_index),
            'train_tracklets': len(train_tracks), 'query_tracklets': len(query),
            'gallery_tracklets': len(test_tracks) - len(query) - config.junk,
            'distractor_tracklets': config.distractors, 'junk_tracklets': config.junk,
            'frames': world.frames_written}


def _extra(world: _World, tag: int, j: int, camera: int) -> np.ndarray:
    """Frames of distractor or junk tracklet ``j``: a stranger walking, or a false detection."""
    rng = world.rng(tag, j, 1)
    person = sample_person(world.rng(tag, j, 2))
    num_frames = world.num_frames(rng)
    if tag == _DISTRACTOR:
        return render_tracklet(person, world.cameras[camera], rng, num_frames, world.config.occlusion)
    return render_junk(world.cameras[camera], rng, num_frames, person if j % 2 == 0 else None)


WRITERS = {'prid2011': write_prid2011, 'ilidsvid': write_ilidsvid, 'mars': write_mars}


def check_synthetic_folder(folder: str, advice: str) -> None:
    """Raises ``FileExistsError`` (ending with ``advice``) unless ``folder`` is a data set
    folder this generator wrote (it holds :data:`INFO_FILE`): the only kind a tool may
    replace or reuse as its own, never a real data set."""
    if not osp.isfile(osp.join(folder, INFO_FILE)):
        raise FileExistsError(f'"{folder}" exists but is not a synthetic set (no {INFO_FILE}); '
                              f'{advice}')


def make_synthetic_dataset(layout: str, root: str, config: SyntheticConfig | None = None,
                           overwrite: bool = False) -> str:
    """Write a synthetic data set in ``layout`` under ``root``; return its folder.

    The folder is ``root/prid2011``, ``root/ilids-vid`` or ``root/mars``, so
    ``torchreid.data.VideoDataManager(root=root, sources=layout)`` loads it.
    An existing folder is only replaced with ``overwrite=True``; the new set is
    built beside it first, so a failure leaves the old one intact. The folder
    also gets ``synthetic.json`` with the layout, config and counts.

    Args:
        layout (str): 'prid2011', 'ilidsvid' or 'mars'.
        root (str): data root, as passed to torchreid.
        config (SyntheticConfig, optional): defaults to ``SyntheticConfig.for_layout(layout)``.
        overwrite (bool, optional): replace an existing data set folder.

    Examples::

        root = '/tmp/reid-data'
        make_synthetic_dataset('prid2011', root, SyntheticConfig(ids=20))
        datamanager = torchreid.data.VideoDataManager(root=root, sources='prid2011')
    """
    if config is None:
        config = SyntheticConfig.for_layout(layout)
    check_config_for_layout(config, layout)
    root_path = osp.abspath(osp.expanduser(root))
    target = osp.join(root_path, DATASET_DIRS[layout])
    if osp.exists(target) and not overwrite:
        raise FileExistsError(
            f'{target} already exists; pass overwrite=True (--overwrite) to replace it'
        )
    if osp.lexists(target):
        check_synthetic_folder(target, 'overwrite (--overwrite) replaces only a set the '
                                       'generator wrote: move it away or choose another root')
    os.makedirs(root_path, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f'.{osp.basename(target)}.partial-', dir=root_path)
    try:
        counts = WRITERS[layout](staging, config)
        info = {'layout': layout, 'config': dataclasses.asdict(config), 'counts': counts}
        write_text(osp.join(staging, INFO_FILE), json.dumps(info, indent=2))
        os.chmod(staging, 0o755)  # mkdtemp makes it private
        if osp.exists(target):
            shutil.rmtree(target)
        os.rename(staging, target)
    finally:
        if osp.exists(staging):
            shutil.rmtree(staging)
    return target
